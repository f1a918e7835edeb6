"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: API priority and fairness throttling (the
waits the server asks for, on writes and reads, and beyond the bounds)."""

from __future__ import annotations

import pytest

from bot.adapters.kube import KubeClient, KubeError
from bot.services import remediation
from tests.integration.kube_actions.support import (
    EMAIL,
    NS,
    FakeTime,
    Progress,
)


class Waits:
    """Injected as the client's ``sleep``: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits(kube: KubeClient) -> Waits:
    recorder = Waits()
    kube.sleep = recorder
    return recorder


async def test_a_throttled_scale_waits_as_asked_then_goes_through(emulator, kube, playbook, waits):
    # API priority and fairness sheds the write twice, asking for 3 s, then takes it.
    emulator.throttle_next("patch", "deployments/scale", times=2, retry_after=3)
    emulator.clear_requests()
    result = await remediation.execute_scale(
        kube,
        playbook,
        {"deployment": EMAIL, "replicas": 4},
        Progress(),
        polling=FakeTime().polling(),
    )
    assert result["replicas"] == 4 and result["ready"] == 4
    assert waits.seconds == [3, 3]  # Retry-After, not the 0.01 s backoff of 5xx retries
    patches = [r.code for r in emulator.requests if r.verb == "patch"]
    assert patches == [429, 429, 200]


async def test_throttling_on_reads_is_waited_out_too(emulator, kube, waits):
    emulator.throttle_next("get", "deployments", times=3)
    status = await kube.deployment_status(NS, EMAIL)
    assert status.ready == 2
    assert waits.seconds == [1, 1, 1]


@pytest.mark.parametrize(
    ("times", "retry_after", "message"),
    [
        (
            1,
            3600,
            "The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it to "
            "wait 3600 s, more than the 60 s the bot waits for one call. Try again in a few "
            "minutes.",
        ),
        (
            3,
            25,
            "The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it to "
            "wait 25 s after 50 s of waiting, more than the 60 s the bot waits for one call. "
            "Try again in a few minutes.",
        ),
        (
            50,
            0,
            "The Kubernetes API is throttling the bot: it answered 429 Too Many Requests 11 "
            "times in a row (API priority and fairness sheds load this way). Try again in a "
            "few minutes.",
        ),
    ],
)
async def test_throttling_beyond_the_bounds_is_said_plainly(
    emulator, kube, playbook, waits, times, retry_after, message
):
    emulator.throttle_next("patch", "deployments/scale", times=times, retry_after=retry_after)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 4}, Progress()
        )
    assert str(failed.value) == message
    assert failed.value.status == 429
    assert sum(waits.seconds) <= 60
    assert emulator.get_deployment(NS, EMAIL)["spec"]["replicas"] == 2
