"""Rollback planning: exactly the previous values, refused (with the reason) when the
object changed since the action, or a previous value is out of the playbook's bounds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from bot.domain.models import ActionRequest, ActionState
from bot.domain.playbook import ActionKind
from bot.domain.rollback import (
    Change,
    ObjectNow,
    RollbackRefused,
    Target,
    changed_since,
    plan_rollback,
    rollback_target,
)

AT = datetime(2026, 11, 28, 9, 20, tzinfo=UTC)
EMAIL = "phishnet-worker-email"
SCALED = Change(Target.DEPLOYMENT, "phishnet", EMAIL, {"replicas": 2}, {"replicas": 6}, "41", 3)


def original(kind: ActionKind = ActionKind.SCALE, **params: object) -> ActionRequest:
    return ActionRequest(
        id=uuid.UUID("00000000-0000-0000-0000-00000000000a"),
        incident_id=1,
        kind=kind,
        params={"deployment": EMAIL, **params},
        summary="Scale `phishnet-worker-email` from 2 to 6 replicas",
        requested_by="U0SREONCALL",
        requested_at=AT,
        expires_at=AT,
        state=ActionState.SUCCEEDED,
        finished_at=AT,
    )


def test_only_status_writes_since_the_scale_do_not_count_as_a_change():
    # The controllers rewrote the status (new resourceVersion), the spec is as we left it.
    assert changed_since(SCALED, ObjectNow("57", 3, {"replicas": 6})) is None


def test_someone_scaling_it_since_is_named():
    reason = changed_since(SCALED, ObjectNow("60", 4, {"replicas": 8}))
    assert reason == (
        "deployment `phishnet-worker-email` was changed since: replicas is now 8 (the action "
        "had set 6)"
    )


def test_another_spec_change_since_is_named():
    reason = changed_since(SCALED, ObjectNow("60", 4, {"replicas": 6}))
    assert reason == (
        "deployment `phishnet-worker-email`'s spec was changed since (generation 3 → 4: a "
        "restart, a new image or another edit)"
    )


def test_a_configmap_must_keep_the_very_resource_version():
    tuned = Change(
        Target.CONFIGMAP,
        "phishnet",
        "phishnet-config",
        {"WORKER_CONCURRENCY": "4"},
        {"WORKER_CONCURRENCY": "8"},
        "70",
    )
    assert changed_since(tuned, ObjectNow("70", None, {"WORKER_CONCURRENCY": "8"})) is None
    reason = changed_since(tuned, ObjectNow("75", None, {"WORKER_CONCURRENCY": "8"}))
    assert reason == (
        "ConfigMap `phishnet-config` was changed since (resourceVersion 70 → 75): someone "
        "edited it after the action"
    )


def test_the_plan_restores_exactly_the_previous_replicas(playbook):
    plan = plan_rollback(playbook, original(), SCALED, ObjectNow("57", 3, {"replicas": 6}))
    assert plan.kind is ActionKind.SCALE  # the scale's approval policy applies
    assert plan.summary == "Roll back `phishnet-worker-email` from 6 to 2 replicas"
    assert plan.params["replicas"] == 2
    assert plan.params["once"] == "rollback:00000000-0000-0000-0000-00000000000a"
    assert rollback_target(plan.kind, plan.params) == SCALED
    assert "checked again when it runs" in plan.details[0]


def test_the_plan_is_refused_with_the_reason_after_an_outside_change(playbook):
    with pytest.raises(RollbackRefused) as refused:
        plan_rollback(playbook, original(), SCALED, ObjectNow("60", 4, {"replicas": 8}))
    assert str(refused.value) == (
        "Nothing was rolled back: deployment `phishnet-worker-email` was changed since: "
        "replicas is now 8 (the action had set 6). The bot does not undo a change it did not "
        "make; change it by hand (`/backlog scale` or `/backlog tune`) if you still want to."
    )


def test_hpa_bounds_and_configmap_values_are_restored_as_they_were(playbook):
    hpa = Change(
        Target.HPA,
        "phishnet",
        "email-hpa",
        {"min_replicas": 2, "max_replicas": 10},
        {"min_replicas": 6, "max_replicas": 10},
        "80",
        2,
    )
    plan = plan_rollback(playbook, original(hpa="email-hpa"), hpa, ObjectNow("80", 2, {}))
    assert plan.summary == (
        "Roll back HPA `email-hpa` to minReplicas 2, maxReplicas 10 (from 6, 10)"
    )
    tuned = Change(
        Target.CONFIGMAP,
        "phishnet",
        "phishnet-config",
        {"WORKER_CONCURRENCY": "4", "WORKER_BATCH_SIZE": None},
        {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "100"},
        "70",
    )
    plan = plan_rollback(playbook, original(ActionKind.TUNE), tuned, ObjectNow("70", None, {}))
    assert plan.kind is ActionKind.TUNE
    assert plan.summary == (
        "Roll back ConfigMap `phishnet-config` (WORKER_BATCH_SIZE: 100 → (unset), "
        "WORKER_CONCURRENCY: 8 → 4), then restart `phishnet-worker-email`, "
        "`phishnet-worker-analysis`"
    )
    assert plan.params["deployments"] == ["phishnet-worker-email", "phishnet-worker-analysis"]


def test_a_previous_value_outside_the_bounds_is_not_restored(playbook):
    zero = Change(Target.DEPLOYMENT, "phishnet", EMAIL, {"replicas": 0}, {"replicas": 6}, "41", 3)
    with pytest.raises(RollbackRefused) as refused:
        plan_rollback(playbook, original(), zero, ObjectNow("41", 3, {"replicas": 6}))
    assert "the previous 0 replicas is outside the playbook's bounds" in str(refused.value)


def test_an_unfinished_action_cannot_be_rolled_back(playbook):
    running = ActionRequest(**{**vars(original()), "state": ActionState.EXECUTING})
    with pytest.raises(RollbackRefused, match="only a finished action can be rolled back"):
        plan_rollback(playbook, running, SCALED, ObjectNow("41", 3, {"replicas": 6}))
