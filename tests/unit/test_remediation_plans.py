from __future__ import annotations

import pytest

from bot.domain import commands as cmd
from bot.domain.actions import (
    ActionRefused,
    DeploymentPaused,
    plan_drain,
    plan_restart,
    plan_scale_via_hpa,
    plan_tune,
    refuse_paused,
)
from bot.domain.workloads import HpaStatus


def test_tune_plan_shows_old_and_new_and_restarts_the_readers(playbook):
    plan = plan_tune(
        playbook,
        cmd.Tune("phishnet-worker-email", (("WORKER_CONCURRENCY", "8"), ("WORKER_TIMEOUT", "300"))),
        {"WORKER_CONCURRENCY": "4"},
    )
    assert plan.params["changes"] == {"WORKER_CONCURRENCY": "8", "WORKER_TIMEOUT": "300"}
    assert plan.details == ("`WORKER_CONCURRENCY`: 4 → 8", "`WORKER_TIMEOUT`: (unset) → 300")
    assert plan.params["deployments"] == ["phishnet-worker-email", "phishnet-worker-analysis"]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ((("WORKER_TIMEOUT", "5"),), "outside the playbook's bounds (30 to 3600)"),
        ((("PATH", "/tmp"),), "not a tunable worker setting"),
        ((("WORKER_BATCH_SIZE", "-1"),), "must be a whole number"),
    ],
)
def test_tune_refusals(playbook, settings, reason):
    with pytest.raises(ActionRefused) as refused:
        plan_tune(playbook, cmd.Tune("phishnet-worker-email", settings), {})
    assert reason in str(refused.value)


def test_drain_job_from_the_playbook_template(playbook):
    plan = plan_drain(playbook, "20261128-090000-abcd")
    manifest = plan.params["manifest"]
    assert manifest["metadata"]["name"] == "emergency-queue-drain-20261128-090000-abcd"
    assert manifest["metadata"]["namespace"] == "phishnet"
    assert manifest["spec"]["backoffLimit"] == 3
    pod = manifest["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["env"] == [
        {"name": "EMERGENCY_MODE", "value": "true"},
        {"name": "SKIP_DETAILED_ANALYSIS", "value": "true"},
    ]
    long = plan_drain(playbook, "x" * 80).params["job"]
    assert len(long) <= 63


def test_restart_only_playbook_deployments(playbook):
    assert plan_restart(playbook, cmd.Restart("phishnet-worker-analysis")).params == {
        "namespace": "phishnet",
        "deployments": ["phishnet-worker-analysis"],
    }
    with pytest.raises(ActionRefused, match="not a worker deployment"):
        plan_restart(playbook, cmd.Restart("postgres"))


def test_hpa_plan_raises_max_when_needed(playbook):
    hpa = HpaStatus("h", "phishnet-worker-email", 2, 5, 2, 2)
    plan = plan_scale_via_hpa(playbook, cmd.Scale("phishnet-worker-email", 8), hpa)
    assert (plan.params["min_replicas"], plan.params["max_replicas"]) == (8, 8)
    assert "maxReplicas 5 → 8" in plan.summary


def test_each_drain_gets_its_own_job_name(playbook):
    names = {plan_drain(playbook, suffix).params["job"] for suffix in ("a1", "a2")}
    assert names == {"emergency-queue-drain-a1", "emergency-queue-drain-a2"}
    plan = plan_drain(playbook, "a1")
    assert plan.summary == (
        "Emergency queue drain: run Job `emergency-queue-drain-a1` (phishnet/worker:latest)"
    )
    labels = plan.params["manifest"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "backlog-bot"  # how a retry knows its own


def test_tune_summary_names_the_configmap_and_every_restart(playbook):
    plan = plan_tune(
        playbook, cmd.Tune("phishnet-worker-analysis", (("WORKER_BATCH_SIZE", "50"),)), {}
    )
    assert plan.summary == (
        "Set WORKER_BATCH_SIZE=50 in ConfigMap `phishnet-config`, then restart "
        "`phishnet-worker-email`, `phishnet-worker-analysis`"
    )


def test_hpa_plan_explains_why_the_hpa_not_the_deployment(playbook):
    hpa = HpaStatus("email-hpa", "phishnet-worker-email", 2, 10, 3, 3)
    plan = plan_scale_via_hpa(playbook, cmd.Scale("phishnet-worker-email", 6), hpa)
    assert plan.summary == (
        "Raise HPA `email-hpa` minReplicas 2 → 6 so `phishnet-worker-email` runs at least "
        "6 replicas"
    )
    assert "it would undo a manual scale" in plan.details[0]


def test_a_restart_of_a_paused_deployment_is_refused_as_kubectl_refuses_it(playbook):
    plan = plan_restart(playbook, cmd.Restart("phishnet-worker-email"))
    refuse_paused(plan, [])  # nothing paused: the plan stands
    with pytest.raises(DeploymentPaused) as refused:
        refuse_paused(plan, ["phishnet-worker-email"])
    assert isinstance(refused.value, ActionRefused)
    assert str(refused.value) == (
        "`phishnet-worker-email` is paused, and a paused deployment cannot be restarted "
        '(kubectl: "can\'t restart paused deployment (run rollout resume first)"). Resume it '
        "first with `kubectl rollout resume deployment/phishnet-worker-email -n phishnet`, then "
        "ask again."
    )


def test_a_tune_whose_readers_are_paused_is_refused_saying_why_it_restarts(playbook):
    plan = plan_tune(
        playbook, cmd.Tune("phishnet-worker-email", (("WORKER_CONCURRENCY", "8"),)), {}
    )
    with pytest.raises(DeploymentPaused) as refused:
        refuse_paused(plan, ["phishnet-worker-email", "phishnet-worker-analysis"])
    assert str(refused.value) == (
        "The new settings take effect only when `phishnet-worker-email` and "
        "`phishnet-worker-analysis` restart, but `phishnet-worker-email` and "
        "`phishnet-worker-analysis` are paused, and a paused deployment cannot be restarted "
        '(kubectl: "can\'t restart paused deployment (run rollout resume first)"). Resume them '
        "first with `kubectl rollout resume deployment/phishnet-worker-email -n phishnet`, "
        "`kubectl rollout resume deployment/phishnet-worker-analysis -n phishnet`, then ask "
        "again."
    )


def test_plans_that_restart_nothing_are_never_refused_as_paused(playbook):
    refuse_paused(plan_drain(playbook, "20261128-090000-abcd"), ["phishnet-worker-email"])
