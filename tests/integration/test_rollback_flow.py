"""Roll back, through the same approval flow: exactly the previous replicas, ConfigMap
values or HPA bounds, and refused with the reason when someone changed the object
since (the Kubernetes emulator changed through the real client in between)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.kube import KubeClient
from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from bot.domain.models import ActionState
from bot.emulators.slack_api import StoredMessage
from tests.integration.scripted import in_thread, request_id_of

NS, EMAIL = "phishnet", "phishnet-worker-email"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def someone(sandbox: Sandbox):
    """Another person with kubectl: a client of their own on the same cluster."""
    client = KubeClient.from_config(sandbox.work_dir / "kubeconfig")
    yield client
    client.close()


async def approve(sandbox: Sandbox, approval: StoredMessage, who: str = "bob") -> str:
    return (await sandbox.click(who, approval, ActionId.APPROVE.value)).text


async def scaled(sandbox: Sandbox, replicas: int = 6) -> StoredMessage:
    """Scales the email workers (approved by bob); returns the effect check's message."""
    await sandbox.command("alice", f"scale {EMAIL} {replicas}")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert await approve(sandbox, approval) == "Approved; the action succeeded."
    effect = in_thread(sandbox, approval, "Effect check")
    assert effect is not None and "[Roll back]" in effect.rendered
    return effect


async def replicas(sandbox: Sandbox) -> int:
    return (await sandbox.runtime.kube.deployment_status(NS, EMAIL)).desired


async def test_roll_back_restores_the_previous_replicas_after_approval(sandbox):
    effect = await scaled(sandbox)
    asked = await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    assert asked.text == f"Approval requested: Roll back `{EMAIL}` from 6 to 2 replicas."
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert f"Roll back `{EMAIL}` from 6 to 2 replicas" in approval.rendered
    assert f"Undoes “Scale `{EMAIL}` from 2 to 6 replicas" in approval.rendered
    assert await replicas(sandbox) == 6  # nothing before approval

    assert await approve(sandbox, approval) == "Approved; the action succeeded."
    assert await replicas(sandbox) == 2
    done = await sandbox.runtime.store.get_action_request(request_id_of(approval))
    assert done.result["restored"] == {"replicas": 2}
    assert done.result["replaced"] == {"replicas": 6}
    # The rollback is itself checked, and offers no rollback of its own.
    check = in_thread(sandbox, approval, "Effect check")
    assert check is not None and "[Roll back]" not in check.rendered

    again = await sandbox.click("carol", effect, ActionId.ROLL_BACK.value)
    assert again.text == (
        ":no_entry: A rollback of that action was done already; see its request above."
    )


async def test_only_those_who_may_scale_may_ask_to_roll_a_scale_back(sandbox):
    effect = await scaled(sandbox)
    refused = await sandbox.click("dave", effect, ActionId.ROLL_BACK.value)
    assert refused.text.startswith(":no_entry: Only members of ")
    assert "may run `/backlog scale`" in refused.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None


async def test_roll_back_is_refused_after_someone_scaled_it_since(sandbox, someone):
    effect = await scaled(sandbox)
    await someone.scale(NS, EMAIL, 8)  # kubectl scale --replicas=8
    refused = await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    assert refused.text == (
        f":no_entry: Nothing was rolled back: deployment `{EMAIL}` was changed since: replicas "
        "is now 8 (the action had set 6). The bot does not undo a change it did not make; "
        "change it by hand (`/backlog scale` or `/backlog tune`) if you still want to."
    )
    assert sandbox.find_message(ActionId.APPROVE.value) is None  # no request was made
    assert await replicas(sandbox) == 8


async def test_a_change_after_the_request_is_caught_when_the_rollback_runs(sandbox, someone):
    effect = await scaled(sandbox)
    await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await someone.rollout_restart(NS, EMAIL, sandbox.runtime.clock())  # a new pod template
    assert await approve(sandbox, approval) == "Approved; the action failed."
    outcome = in_thread(sandbox, approval, "failed")
    assert (
        f"Nothing was rolled back: deployment `{EMAIL}`'s spec was changed since (generation"
        in outcome.rendered
    )
    assert await replicas(sandbox) == 6


async def test_a_change_between_the_check_and_the_write_is_not_overwritten(sandbox):
    effect = await scaled(sandbox)
    await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    approval = sandbox.find_message(ActionId.APPROVE.value)
    # Someone writes between the bot's read and its write: the API answers 409.
    sandbox.kube.fail_next(
        "patch", "deployments/scale", 409, message="the object has been modified"
    )
    assert await approve(sandbox, approval) == "Approved; the action failed."
    assert in_thread(
        sandbox,
        approval,
        f"Nothing was rolled back: deployment `{EMAIL}` was changed by someone else while the "
        "rollback ran (409 Conflict)",
    )
    assert await replicas(sandbox) == 6
    request = await sandbox.runtime.store.get_action_request(request_id_of(approval))
    assert request.state is ActionState.FAILED
    # A failed rollback may be asked again.
    again = await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    assert again.text.startswith("Approval requested: Roll back")


async def test_a_tune_is_rolled_back_to_exactly_the_previous_values(sandbox, clock):
    kube = sandbox.kube
    kube.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"})
    await sandbox.command("alice", f"tune {EMAIL} WORKER_CONCURRENCY=8 WORKER_BATCH_SIZE=100")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert await approve(sandbox, approval) == "Approved; the action succeeded."
    effect = in_thread(sandbox, approval, "Effect check")
    before_rollback = kube.get_deployment(NS, EMAIL)["metadata"]["generation"]
    clock.advance(timedelta(minutes=5))  # the restart stamps the time (kubectl's restartedAt)

    asked = await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    assert asked.text == (
        "Approval requested: Roll back ConfigMap `phishnet-config` (WORKER_BATCH_SIZE: 100 → "
        "(unset), WORKER_CONCURRENCY: 8 → 4), then restart `phishnet-worker-email`, "
        "`phishnet-worker-analysis`."
    )
    rollback = sandbox.find_message(ActionId.APPROVE.value)
    assert await approve(sandbox, rollback) == "Approved; the action succeeded."
    data = kube.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"}  # the unset key is gone
    # The workers read the ConfigMap when they start: they were restarted.
    assert kube.get_deployment(NS, EMAIL)["metadata"]["generation"] > before_rollback


async def test_hpa_bounds_are_rolled_back(sandbox):
    kube = sandbox.kube
    kube.enforce_hpa = True
    kube.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)
    effect = await scaled(sandbox)
    hpa = kube.get_object("horizontalpodautoscalers", NS, "email-hpa")
    assert hpa["spec"]["minReplicas"] == 6
    asked = await sandbox.click("alice", effect, ActionId.ROLL_BACK.value)
    assert asked.text == (
        "Approval requested: Roll back HPA `email-hpa` to minReplicas 2, maxReplicas 10 "
        "(from 6, 10)."
    )
    rollback = sandbox.find_message(ActionId.APPROVE.value)
    assert await approve(sandbox, rollback) == "Approved; the action succeeded."
    hpa = kube.get_object("horizontalpodautoscalers", NS, "email-hpa")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
