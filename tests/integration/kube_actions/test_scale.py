"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: scaling (server errors retried, then the new
pods followed until Ready, never Ready, or past the progress deadline)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.kube import KubeError
from bot.services import remediation
from bot.services.remediation import ActionFailed
from tests.integration.kube_actions.support import (
    EMAIL,
    NS,
    FakeTime,
    Progress,
)

# ---- scale and HPA ----------------------------------------------------------------


async def test_scale_server_errors_are_retried_then_reported(emulator, kube, playbook):
    params = {"deployment": EMAIL, "replicas": 5}
    emulator.fail_next("patch", "deployments/scale", 503)
    polling = FakeTime().polling()
    assert await remediation.execute_scale(kube, playbook, params, Progress(), polling=polling) == {
        "deployment": EMAIL,
        "replicas_before": 2,
        "replicas": 5,
        "ready": 5,
    }
    emulator.fail_next("patch", "deployments/scale", 500, times=3)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(kube, playbook, {**params, "replicas": 7}, Progress())
    assert str(failed.value).startswith("The Kubernetes API failed (500")
    assert "after retries" in str(failed.value)
    assert emulator.get_deployment(NS, EMAIL)["spec"]["replicas"] == 5


async def test_scale_is_followed_until_the_new_pods_are_ready(emulator, kube, playbook):
    progress = Progress()
    result = await remediation.execute_scale(
        kube, playbook, {"deployment": EMAIL, "replicas": 4}, progress, polling=FakeTime().polling()
    )
    assert result == {"deployment": EMAIL, "replicas_before": 2, "replicas": 4, "ready": 4}
    assert progress.lines == [
        f":arrows_counterclockwise: `{EMAIL}` scaled from 2 to 4 replicas; waiting for its pods "
        "to be Ready",
        f":arrows_counterclockwise: `{EMAIL}` runs 4 replicas, all ready (4/4 ready)",
    ]


async def test_scale_waits_for_pods_that_become_ready_later(emulator, kube, playbook):
    emulator.hold_pods(NS, EMAIL, "ImagePullBackOff")
    fake = FakeTime(lambda n: emulator.release_pods(NS, EMAIL) if n == 3 else None)
    progress = Progress()
    result = await remediation.execute_scale(
        kube, playbook, {"deployment": EMAIL, "replicas": 5}, progress, polling=fake.polling()
    )
    assert result["ready"] == 5 and fake.sleeps == 3
    assert progress.lines[1:] == [
        f":arrows_counterclockwise: `{EMAIL}` scaling to 5: 2/5 ready",
        f":arrows_counterclockwise: `{EMAIL}` runs 5 replicas, all ready (5/5 ready)",
    ]


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("Unschedulable", "Pending, not scheduled: 0/3 nodes are available: 3 Insufficient cpu."),
        ("CrashLoopBackOff", "CrashLoopBackOff (5 restarts, last exit: Error)"),
        ("ImagePullBackOff", 'ImagePullBackOff: Back-off pulling image "registry.example.com/'),
        ("OOMKilled", "CrashLoopBackOff (3 restarts, last exit: OOMKilled)"),
    ],
)
async def test_a_scale_whose_pods_never_become_ready_fails_naming_them(
    emulator, kube, playbook, reason, why
):
    emulator.hold_pods(NS, EMAIL, reason)
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 4}, Progress(), polling=fake.polling()
        )
    message = str(failed.value)
    assert message.startswith(
        f"`{EMAIL}` scaled from 2 to 4 replicas, but only 2 of 4 pods are Ready after 60s — "
        "pods not Ready: `"
    )
    held = sorted(p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL) if _unready(p))
    assert len(held) == 2
    assert f"pods not Ready: `{held[0]}`, `{held[1]}`: {why}" in message
    assert fake.now == 60  # the polling timeout, on the injected clock


def _unready(pod: dict[str, Any]) -> bool:
    return not any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


async def test_a_scale_past_its_progress_deadline_fails_at_once(emulator, kube, playbook):
    emulator.hold_pods(
        NS,
        EMAIL,
        "Unschedulable",
        message="0/5 nodes are available: 5 node(s) had untolerated taint {dedicated: batch}.",
        deadline_exceeded=True,
    )
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 3}, Progress(), polling=fake.polling()
        )
    message = str(failed.value)
    assert message.startswith(
        f"`{EMAIL}` scaled from 2 to 3 replicas, but `{EMAIL}` is stuck scaling to 3: progress "
        "deadline exceeded (2/3 ready): ReplicaSet"
    )
    assert "Pending, not scheduled: 0/5 nodes are available: 5 node(s) had untolerated" in message
    assert fake.sleeps == 0
