"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: paused deployments (not restarted, paused
while followed, tune and plans refused) and a missing permission named."""

from __future__ import annotations

import pytest

from bot.adapters.kube import KubeError
from bot.adapters.kube.follow import Polling
from bot.emulators.kube_api import PolicyRule
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

# ---- paused deployments ------------------------------------------------------------


async def test_a_paused_deployment_is_not_restarted(emulator, kube, playbook):
    emulator.set_paused(NS, EMAIL)
    emulator.clear_requests()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT
        )
    assert str(failed.value) == (
        f"`{EMAIL}` is paused, and a paused deployment cannot be restarted (kubectl: "
        '"can\'t restart paused deployment (run rollout resume first)"). Resume it first with '
        f"`kubectl rollout resume deployment/{EMAIL} -n phishnet`, then ask again."
    )
    assert [r.verb for r in emulator.requests] == ["get"]  # read, never patched
    template = emulator.get_deployment(NS, EMAIL)["spec"]["template"]["metadata"]
    assert RESTARTED_AT not in (template.get("annotations") or {})


async def test_a_rollout_paused_while_followed_is_reported(emulator, kube, playbook):
    # Someone pauses it while its new pods crash-loop: nothing more rolls out, and
    # the bot says so instead of waiting out its timeout.
    emulator.hold_pods(NS, EMAIL, "CrashLoopBackOff")
    fake = FakeTime()

    async def pause_then_wait(seconds: float) -> None:
        emulator.set_paused(NS, EMAIL)
        await fake.sleep(seconds)

    polling = Polling(5, 60, sleep=pause_then_wait, monotonic=fake.monotonic)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT, polling=polling
        )
    assert str(failed.value).startswith(
        f"`{EMAIL}` is paused: nothing rolls out until it is resumed"
    )
    assert fake.sleeps == 1


async def test_tune_refuses_before_changing_the_configmap_when_a_reader_is_paused(
    emulator, kube, playbook
):
    emulator.set_paused(NS, ANALYSIS)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_tune(
            kube, playbook, {"changes": {"WORKER_CONCURRENCY": "8"}}, Progress(), now=AT
        )
    assert str(failed.value).startswith(
        f"Nothing was changed. The new settings take effect only when `{EMAIL}` and "
        f"`{ANALYSIS}` restart, but `{ANALYSIS}` is paused, and a paused deployment cannot be "
        "restarted"
    )
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data["WORKER_CONCURRENCY"] == "4"


@pytest.mark.parametrize(
    ("text", "paused", "message"),
    [
        ("restart phishnet-worker-email", [EMAIL], f"`{EMAIL}` is paused, and a paused"),
        (
            "tune phishnet-worker-email WORKER_CONCURRENCY=8",
            [EMAIL, ANALYSIS],
            f"The new settings take effect only when `{EMAIL}` and `{ANALYSIS}` restart, but "
            f"`{EMAIL}` and `{ANALYSIS}` are paused, and a paused deployment cannot be "
            "restarted",
        ),
    ],
)
async def test_plans_that_restart_a_paused_deployment_are_refused(
    emulator, kube, playbook, text, paused, message
):
    from bot.domain import commands
    from bot.domain.actions import DeploymentPaused, plan_restart, plan_tune

    command = commands.parse(text)
    plan = (
        plan_restart(playbook, command)
        if isinstance(command, commands.Restart)
        else plan_tune(playbook, command, {"WORKER_CONCURRENCY": "4"})
    )
    await remediation.refuse_paused_restarts(kube, plan)  # nothing paused yet: passes
    for name in paused:
        emulator.set_paused(NS, name)
    with pytest.raises(DeploymentPaused) as refused:
        await remediation.refuse_paused_restarts(kube, plan)
    assert str(refused.value).startswith(message)
    assert refused.value.deployments == tuple(paused)


async def test_a_missing_permission_is_named_with_verb_resource_and_namespace(
    emulator, kube, playbook
):
    emulator.rbac_rules = [
        PolicyRule(api_groups=("apps",), resources=("deployments/scale",), verbs=("get",))
    ]
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 6}, Progress()
        )
    message = str(failed.value)
    assert failed.value.status == 403
    assert message.startswith("The bot lacks a Kubernetes permission")
    assert 'cannot patch resource "deployments/scale" in API group "apps"' in message
    assert 'in the namespace "phishnet"' in message
