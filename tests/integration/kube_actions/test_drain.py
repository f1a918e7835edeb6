"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: the drain Job (followed to success, failure,
still running at the limit, adopted after a lost answer, someone else's Job)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.kube import KubeError
from bot.domain.actions import plan_drain
from bot.services import remediation
from bot.services.remediation import ActionFailed
from tests.integration.kube_actions.support import (
    NS,
    FakeTime,
    Progress,
)

# ---- drain ----------------------------------------------------------------------


def _drain_params(playbook, suffix: str = "20261128-093000-abcd") -> dict[str, Any]:
    return plan_drain(playbook, suffix).params


async def test_drain_job_is_followed_to_success(emulator, kube, playbook):
    params = _drain_params(playbook)
    fake = FakeTime(lambda n: emulator.complete_job(NS, params["job"]) if n == 2 else None)
    progress = Progress()
    result = await remediation.execute_drain(
        kube, playbook, params, progress, polling=fake.polling()
    )
    assert result == {"job": params["job"], "succeeded": 1, "failed": 0}
    job = f"Job `{params['job']}`"
    assert progress.lines == [
        f":rotating_light: {job} created",
        f":rotating_light: {job}: running (active 1, succeeded 0, failed 0)",
        f":rotating_light: {job}: succeeded (active 0, succeeded 1, failed 0)",
    ]


async def test_failed_drain_job_is_reported(emulator, kube, playbook):
    params = _drain_params(playbook)
    fake = FakeTime(lambda n: emulator.fail_job(NS, params["job"]))
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_drain(kube, playbook, params, Progress(), polling=fake.polling())
    assert str(failed.value).startswith(f"Job `{params['job']}` failed: ")


async def test_drain_job_still_running_at_the_limit_is_reported(emulator, kube, playbook):
    params = _drain_params(playbook)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_drain(
            kube, playbook, params, Progress(), polling=FakeTime().polling(timeout=30)
        )
    assert str(failed.value) == (
        f"Job `{params['job']}`: running (active 1, succeeded 0, failed 0) — "
        "still running after 30s"
    )


async def test_drain_adopts_its_own_job_when_the_create_answer_was_lost(emulator, kube, playbook):
    # The first create reached the API server but its answer never came back; the
    # retry meets 409 AlreadyExists for the bot's own Job and follows that one.
    params = _drain_params(playbook)
    await kube.create_job(NS, params["manifest"])
    fake = FakeTime(lambda n: emulator.complete_job(NS, params["job"]))
    result = await remediation.execute_drain(
        kube, playbook, params, Progress(), polling=fake.polling()
    )
    assert result["succeeded"] == 1
    assert [j["metadata"]["name"] for j in emulator.list_objects("jobs", NS)] == [params["job"]]


async def test_drain_never_touches_someone_elses_job_of_the_same_name(emulator, kube, playbook):
    params = _drain_params(playbook)
    foreign = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": params["job"], "labels": {"team": "data"}},
        "spec": params["manifest"]["spec"],
    }
    await kube.create_job(NS, foreign)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_drain(kube, playbook, params, Progress())
    assert str(failed.value) == (
        f"A Job named `{params['job']}` already exists in `phishnet` and was not created by "
        "this bot; it was left alone."
    )


async def test_each_drain_is_its_own_job(emulator, kube, playbook):
    for suffix in ("20261128-093000-aaaa", "20261128-093000-bbbb"):
        params = _drain_params(playbook, suffix)
        fake = FakeTime(lambda n, name=params["job"]: emulator.complete_job(NS, name))
        await remediation.execute_drain(kube, playbook, params, Progress(), polling=fake.polling())
    names = sorted(j["metadata"]["name"] for j in emulator.list_objects("jobs", NS))
    assert names == [
        "emergency-queue-drain-20261128-093000-aaaa",
        "emergency-queue-drain-20261128-093000-bbbb",
    ]
