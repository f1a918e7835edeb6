"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: restarts (the rollout followed, timed out, stuck,
the deployment missing or not named by the playbook)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from bot.adapters.kube import KubeError
from bot.services import remediation
from bot.services.remediation import ActionFailed
from tests.integration.kube_actions.support import (
    ANALYSIS,
    AT,
    EMAIL,
    NS,
    RESTARTED_AT,
    FakeTime,
    Progress,
)

# ---- restart --------------------------------------------------------------------


async def test_restart_stamps_the_template_like_kubectl_and_follows_the_rollout(
    emulator, kube, playbook
):
    before = {p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL)}
    progress = Progress()
    result = await remediation.execute_restart(
        kube, playbook, {"deployments": [EMAIL]}, progress, now=AT, polling=FakeTime().polling()
    )
    template = emulator.get_deployment(NS, EMAIL)["spec"]["template"]["metadata"]
    assert template["annotations"][RESTARTED_AT] == "2026-11-28T09:30:00Z"
    assert result == {
        "deployments": [EMAIL],
        "rollouts": {EMAIL: f"`{EMAIL}` rollout complete (2/2 updated, 2 ready)"},
    }
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` rollout complete (2/2 updated, 2 ready)"
    )
    after = {p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL)}
    assert after and not after & before


async def test_a_rollout_that_never_finishes_times_out_without_waiting(emulator, kube, playbook):
    emulator.auto_reconcile = False  # nothing replaces the pods: it stays in progress
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT, polling=fake.polling()
        )
    assert str(failed.value) == (
        f"`{EMAIL}` rolling out: waiting for the controller to observe the change — "
        "still not done after 60s"
    )
    assert fake.now == 60 and fake.sleeps == 12


async def test_a_stuck_rollout_is_reported(emulator, kube, playbook):
    emulator.stall_rollout(NS, EMAIL)
    progress = Progress()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, progress, now=AT, polling=FakeTime().polling()
        )
    assert f"`{EMAIL}` rollout is stuck: progress deadline exceeded" in str(failed.value)
    assert "stuck" in progress.lines[-1]


async def test_restart_of_a_deployment_missing_from_the_cluster(configuration, kube, playbook):
    # The cluster lost the deployment after the playbook was written. (The emulator
    # serves from its own thread, so a blocking call is fine here.)
    with k8s.ApiClient(configuration) as api:
        apps: Any = k8s.AppsV1Api(api)
        apps.delete_namespaced_deployment(ANALYSIS, NS)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [ANALYSIS]}, Progress(), now=AT
        )
    assert failed.value.status == 404
    assert str(failed.value).startswith("Not found in Kubernetes")
    assert ANALYSIS in str(failed.value)


async def test_restart_refuses_a_deployment_the_playbook_does_not_name(kube, playbook):
    with pytest.raises(ActionFailed, match="`postgres` is no longer a deployment of the playbook"):
        await remediation.execute_restart(kube, playbook, {"deployments": ["postgres"]}, Progress())
