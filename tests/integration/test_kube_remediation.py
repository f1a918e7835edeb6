"""Restart, tune, drain and HPA-aware scale through approvals, against the Kubernetes
API emulator via the real client — success and failure paths."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes.client import ApiClient, AppsV1Api, Configuration
from kubernetes.config import load_kube_config

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from bot.emulators.slack.render import render_text

NS = "phishnet"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _configuration(path) -> Configuration:
    configuration = Configuration()
    load_kube_config(config_file=str(path), client_configuration=configuration)
    return configuration


@pytest.fixture(autouse=True)
def fast_polls(sandbox: Sandbox) -> None:
    # Rollouts and jobs are followed by polling the API; no need to wait 2 s here.
    sandbox.runtime.actions.executors.poll_seconds = 0.02


async def request_and_approve(sandbox: Sandbox, text: str, approver: str = "bob") -> str:
    answer = await sandbox.command("alice", text)
    assert answer.text.startswith("Approval requested"), answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    return (await sandbox.click(approver, approval, ActionId.APPROVE.value)).text


def thread_text(sandbox: Sandbox) -> str:
    """Every version of every message in the request's thread, as people saw them
    (progress edits coalesce: only the versions Slack received are there)."""
    request = last_request_message(sandbox)
    messages = sandbox.slack.thread(request.channel, request.ts)
    return "\n".join(render_text(v.blocks, v.text) for m in messages for v in m.versions)


def last_request_message(sandbox: Sandbox):
    return [m for m in sandbox.channel_messages() if "Requested by" in m.rendered][-1]


async def test_rolling_restart_like_kubectl(sandbox):
    before = {p["metadata"]["name"] for p in sandbox.kube.pods_of(NS, "phishnet-worker-email")}
    result = await request_and_approve(sandbox, "restart phishnet-worker-email")
    assert result == "Approved; the action succeeded."
    deployment = sandbox.kube.get_deployment(NS, "phishnet-worker-email")
    stamp = deployment["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp == "2026-11-28T09:00:00Z"  # the bot's clock
    after = {p["metadata"]["name"] for p in sandbox.kube.pods_of(NS, "phishnet-worker-email")}
    assert after and not (after & before)  # every pod replaced
    message = last_request_message(sandbox)
    thread = "\n".join(
        v.text for m in sandbox.slack.thread(message.channel, message.ts) for v in m.versions
    )
    assert "`phishnet-worker-email` rollout complete (2/2 updated, 2 ready)" in thread


async def test_stuck_rollout_is_reported(sandbox):
    sandbox.kube.stall_rollout(NS, "phishnet-worker-email")
    result = await request_and_approve(sandbox, "restart phishnet-worker-email")
    assert result == "Approved; the action failed."
    message = last_request_message(sandbox)
    thread = [m.text for m in sandbox.slack.thread(message.channel, message.ts)]
    assert any(
        t.startswith(":x:") and "rollout is stuck: progress deadline exceeded" in t for t in thread
    ), thread


async def test_restart_refuses_unknown_deployments(sandbox):
    answer = await sandbox.command("alice", "restart redis")
    assert "`redis` is not a worker deployment of this playbook" in answer.text


async def test_tune_shows_old_and_new_then_restarts_readers(sandbox):
    sandbox.kube.add_configmap(
        NS, "phishnet-config", {"WORKER_CONCURRENCY": "4", "WORKER_BATCH_SIZE": "20", "LOG": "x"}
    )
    answer = await sandbox.command(
        "alice", "tune phishnet-worker-email WORKER_CONCURRENCY=8 WORKER_BATCH_SIZE=50"
    )
    assert "Set WORKER_CONCURRENCY=8, WORKER_BATCH_SIZE=50 in ConfigMap `phishnet-config`" in (
        answer.text
    )
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "`WORKER_CONCURRENCY`: 4 → 8" in approval.rendered
    assert "`WORKER_BATCH_SIZE`: 20 → 50" in approval.rendered
    sandbox.kube.fail_next("patch", "configmaps", 409)  # someone else edited it meanwhile
    done = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert done.text == "Approved; the action succeeded."
    data = sandbox.kube.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50", "LOG": "x"}
    for name in ("phishnet-worker-email", "phishnet-worker-analysis"):
        template = sandbox.kube.get_deployment(NS, name)["spec"]["template"]["metadata"]
        assert RESTARTED_AT in template["annotations"], name


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("WORKER_CONCURRENCY=64", "outside the playbook's bounds (1 to 32)"),
        ("DEBUG=1", "`DEBUG` is not a tunable worker setting"),
        ("WORKER_TIMEOUT=soon", "must be a whole number"),
        ("WORKER_CONCURRENCY=4", "already in place"),
    ],
)
async def test_tune_refusals(sandbox, settings, message):
    sandbox.kube.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4"})
    answer = await sandbox.command("alice", f"tune phishnet-worker-email {settings}")
    assert message in answer.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None


async def test_emergency_drain_needs_two_approvers_other_than_the_requester(sandbox):
    sandbox.kube.job_duration = 0.05
    answer = await sandbox.command("bob", "drain")
    assert "Emergency queue drain: run Job `emergency-queue-drain-20261128-090000-" in answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "EMERGENCY_MODE=true, SKIP_DETAILED_ANALYSIS=true" in approval.rendered
    own = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert "someone other than the requester" in own.text
    not_allowed = await sandbox.click("alice", approval, ActionId.APPROVE.value)
    assert "Only members of senior_devops, engineering_lead, cto" in not_allowed.text
    first = await sandbox.click("carol", approval, ActionId.APPROVE.value)
    assert first.text == "Approval recorded (1 of 2 approvals)."
    assert sandbox.kube.list_objects("jobs", NS) == []  # nothing runs on one approval
    # a second, different approver from the policy's roles completes it
    second = await sandbox.click("erin", approval, ActionId.APPROVE.value)
    assert second.text == "Approved; the action succeeded."
    [job] = sandbox.kube.list_objects("jobs", NS)
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "phishnet/worker:latest"
    assert container["command"] == ["python", "-m", "app.workers.emergency_processor"]
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "EMERGENCY_MODE": "true",
        "SKIP_DETAILED_ANALYSIS": "true",
    }
    assert spec["backoffLimit"] == 3
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("succeeded (active 0, succeeded 1" in t for t in thread), thread


async def test_failed_drain_job_is_reported(sandbox):
    sandbox.kube.job_duration = 0.05
    sandbox.kube.fail_jobs = True
    await sandbox.command("alice", "drain")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    result = await sandbox.click("carol", approval, ActionId.APPROVE.value)
    assert result.text == "Approved; the action failed."
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("failed: Job `emergency-queue-drain-" in t for t in thread), thread


async def test_scale_raises_the_hpa_instead_when_one_manages_the_deployment(sandbox):
    sandbox.kube.enforce_hpa = True  # the HPA controller acts on its new bounds
    sandbox.kube.add_hpa(NS, "email-hpa", "phishnet-worker-email", 2, 10, 2, 2)
    answer = await sandbox.command("alice", "scale phishnet-worker-email 6")
    assert "Raise HPA `email-hpa` minReplicas 2 → 6" in answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "it would undo a manual scale" in approval.rendered
    result = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert result.text == "Approved; the action succeeded."
    hpa = sandbox.kube.get_object("hpa", NS, "email-hpa")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (6, 10)
    assert "`phishnet-worker-email` runs 6 replicas, all ready (6/6 ready)" in thread_text(sandbox)


async def test_an_approved_scale_waits_out_api_throttling(sandbox):
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    sandbox.runtime.kube.sleep = sleep  # the wait is the client's, injected: no real sleep
    sandbox.kube.throttle_next("patch", "deployments/scale", times=2, retry_after=2)
    result = await request_and_approve(sandbox, "scale phishnet-worker-email 5")
    assert result == "Approved; the action succeeded."
    assert waits == [2, 2]
    assert sandbox.kube.get_deployment(NS, "phishnet-worker-email")["spec"]["replicas"] == 5
    assert "`phishnet-worker-email` runs 5 replicas, all ready (5/5 ready)" in thread_text(sandbox)


async def test_throttling_beyond_what_the_bot_waits_is_said_in_the_thread(sandbox):
    sandbox.kube.throttle_next("patch", "deployments/scale", retry_after=600)
    result = await request_and_approve(sandbox, "scale phishnet-worker-email 5")
    assert result == "Approved; the action failed."
    thread = thread_text(sandbox)
    assert (
        ":x: Scale `phishnet-worker-email` from 2 to 5 replicas (namespace `phishnet`) — failed: "
        "The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it to wait "
        "600 s, more than the 60 s the bot waits for one call. Try again in a few minutes."
    ) in thread
    assert sandbox.kube.get_deployment(NS, "phishnet-worker-email")["spec"]["replicas"] == 2


async def test_a_scale_whose_pods_never_become_ready_fails_with_their_reasons(sandbox):
    sandbox.kube.hold_pods(NS, "phishnet-worker-email", "Unschedulable", deadline_exceeded=True)
    result = await request_and_approve(sandbox, "scale phishnet-worker-email 4")
    assert result == "Approved; the action failed."
    thread = thread_text(sandbox)
    assert (
        "— failed: `phishnet-worker-email` scaled from 2 to 4 replicas, but "
        "`phishnet-worker-email` is stuck scaling to 4: progress deadline exceeded (2/4 ready)"
    ) in thread
    assert ": Pending, not scheduled: 0/3 nodes are available: 3 Insufficient cpu." in thread
    held = [
        p["metadata"]["name"]
        for p in sandbox.kube.pods_of(NS, "phishnet-worker-email")
        if p["status"]["phase"] == "Pending"
    ]
    assert len(held) == 2 and all(f"`{name}`" in thread for name in held)


async def test_a_paused_deployment_is_refused_before_anyone_approves(sandbox):
    sandbox.kube.set_paused(NS, "phishnet-worker-email")
    answer = await sandbox.command("alice", "restart phishnet-worker-email")
    assert answer.text == (
        ":no_entry: `phishnet-worker-email` is paused, and a paused deployment cannot be "
        'restarted (kubectl: "can\'t restart paused deployment (run rollout resume first)"). '
        "Resume it first with `kubectl rollout resume deployment/phishnet-worker-email -n "
        "phishnet`, then ask again."
    )
    assert sandbox.find_message(ActionId.APPROVE.value) is None  # nothing to approve
    sandbox.kube.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4"})
    tune = await sandbox.command("alice", "tune phishnet-worker-email WORKER_CONCURRENCY=8")
    assert tune.text.startswith(
        ":no_entry: The new settings take effect only when `phishnet-worker-email` and "
        "`phishnet-worker-analysis` restart, but `phishnet-worker-email` is paused"
    )
    assert sandbox.find_message(ActionId.APPROVE.value) is None


async def test_a_deployment_paused_after_approval_is_refused_at_execution(sandbox):
    answer = await sandbox.command("alice", "restart phishnet-worker-email")
    assert answer.text.startswith("Approval requested")
    sandbox.kube.set_paused(NS, "phishnet-worker-email")  # paused while waiting for approval
    approval = sandbox.find_message(ActionId.APPROVE.value)
    result = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert result.text == "Approved; the action failed."
    assert "failed: `phishnet-worker-email` is paused, and a paused deployment cannot be" in (
        thread_text(sandbox)
    )
    template = sandbox.kube.get_deployment(NS, "phishnet-worker-email")["spec"]["template"]
    assert RESTARTED_AT not in (template["metadata"].get("annotations") or {})


async def test_server_errors_are_retried_then_reported(sandbox):
    sandbox.kube.fail_next("patch", "deployments/scale", 503)
    ok = await request_and_approve(sandbox, "scale phishnet-worker-email 5")
    assert ok == "Approved; the action succeeded."
    assert sandbox.kube.get_deployment(NS, "phishnet-worker-email")["spec"]["replicas"] == 5
    sandbox.kube.fail_next("patch", "deployments/scale", 500, times=3)
    failed = await request_and_approve(sandbox, "scale phishnet-worker-email 7")
    assert failed == "Approved; the action failed."
    message = last_request_message(sandbox)
    thread = [m.text for m in sandbox.slack.thread(message.channel, message.ts)]
    assert any("The Kubernetes API failed (500" in t and "after retries" in t for t in thread)
    assert sandbox.kube.get_deployment(NS, "phishnet-worker-email")["spec"]["replicas"] == 5


async def test_missing_permission_is_named(sandbox):
    from bot.emulators.kube_api import PolicyRule

    sandbox.kube.rbac_rules = [
        PolicyRule(api_groups=("apps",), resources=("deployments",), verbs=("get", "list")),
        PolicyRule(
            api_groups=("autoscaling",), resources=("horizontalpodautoscalers",), verbs=("list",)
        ),
    ]
    failed = await request_and_approve(sandbox, "scale phishnet-worker-email 6")
    assert failed == "Approved; the action failed."
    message = last_request_message(sandbox)
    thread = [m.text for m in sandbox.slack.thread(message.channel, message.ts)]
    assert any(
        "The bot lacks a Kubernetes permission" in t
        and 'cannot get resource "deployments/scale"' in t
        for t in thread
    ), thread


async def test_slow_api_is_retried_then_reported_as_not_answering(sandbox):
    sandbox.runtime.kube.request_timeout = (1.0, 0.3)
    sandbox.kube.delay_next("patch", "deployments/scale", 1.0)  # one slow answer: retried
    ok = await request_and_approve(sandbox, "scale phishnet-worker-email 5")
    assert ok == "Approved; the action succeeded."
    sandbox.kube.delay_next("patch", "deployments/scale", 1.0, times=3)  # never in time
    failed = await request_and_approve(sandbox, "scale phishnet-worker-email 7")
    assert failed == "Approved; the action failed."
    message = last_request_message(sandbox)
    thread = [m.text for m in sandbox.slack.thread(message.channel, message.ts)]
    assert any("The Kubernetes API did not answer: ReadTimeoutError" in t for t in thread), thread


async def test_restart_of_a_deployment_missing_from_the_cluster(sandbox):
    # The cluster lost the deployment after the playbook was written: the request
    # itself reads it (is it paused?) and says so; nothing is put up for approval.
    kubeconfig = sandbox.work_dir / "kubeconfig"
    with ApiClient(_configuration(kubeconfig)) as api:
        # The emulator serves on this event loop: a blocking call must run in a thread.
        await asyncio.to_thread(
            AppsV1Api(api).delete_namespaced_deployment, "phishnet-worker-analysis", NS
        )
    answer = await sandbox.command("alice", "restart phishnet-worker-analysis")
    assert answer.text == (
        ':warning: Not found in Kubernetes: deployments.apps "phishnet-worker-analysis" not '
        "found. Nothing was changed."
    )
    assert sandbox.find_message(ActionId.APPROVE.value) is None


async def test_job_conflict_is_reported_not_retried(sandbox):
    sandbox.kube.fail_next("create", "jobs", 409)
    await sandbox.command("alice", "drain")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    failed = await sandbox.click("carol", approval, ActionId.APPROVE.value)
    assert failed.text == "Approved; the action failed."
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("Kubernetes refused a conflicting change" in t for t in thread), thread
    assert sandbox.kube.list_objects("jobs", NS) == []
