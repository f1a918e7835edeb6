from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.escalation import plan_escalation
from bot.domain.models import ActionRequest, ActionState, Incident, IncidentState, QueueSample
from bot.domain.playbook import ActionKind, Severity

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
INCIDENT = Incident(
    id=1,
    playbook="p",
    title="t",
    severity=Severity.WARNING,
    state=IncidentState.OPEN,
    rule="EmailQueueBacklog",
    queue="email_processing_queue",
    detected_at=T0,
    peak_depth=1500,
    peak_queue="email_processing_queue",
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def levels(plan) -> list[int]:
    return [page.tier.level for page in plan.due]


def test_tiers_fall_due_on_their_timers_until_acknowledged(playbook):
    esc = playbook.escalation
    plan = plan_escalation(INCIDENT, esc, {}, [], [], at(29))
    assert levels(plan) == [] and plan.next_check == at(30)
    plan = plan_escalation(INCIDENT, esc, {}, [], [], at(30))
    assert levels(plan) == [1]
    assert "nobody acknowledged within 30m" in plan.due[0].reason
    plan = plan_escalation(INCIDENT, esc, {1: at(30)}, [], [], at(61))
    assert levels(plan) == [2] and plan.next_check == at(120)
    acked = replace(INCIDENT, state=IncidentState.ACKNOWLEDGED, acknowledged_at=at(40))
    assert levels(plan_escalation(acked, esc, {1: at(30)}, [], [], at(200))) == []


def test_a_resolved_incident_pages_nobody(playbook):
    resolved = replace(INCIDENT, state=IncidentState.RESOLVED, resolved_at=at(5))
    plan = plan_escalation(resolved, playbook.escalation, {}, [], [], at(500))
    assert plan.due == () and plan.next_check is None


def test_backlog_over_5000_for_two_hours_pages_even_when_acknowledged(playbook):
    acked = replace(INCIDENT, acknowledged_at=at(1), state=IncidentState.ACKNOWLEDGED)
    samples = [QueueSample(at(m), {"email_processing_queue": 6000}) for m in range(0, 125, 5)]
    plan = plan_escalation(acked, playbook.escalation, {}, [], samples[:20], at(95))
    assert levels(plan) == [] and plan.next_check == at(120)
    plan = plan_escalation(acked, playbook.escalation, {}, [], samples, at(120))
    assert levels(plan) == [1]
    assert plan.due[0].reason == (
        "Queue backlog exceeds 5,000 items for more than 2 hours: `email_processing_queue` "
        "holds 6,000 jobs, and the largest queue has been above 5,000 since 09:00 UTC (2h 00m)"
    )
    dip = [*samples[:10], QueueSample(at(50), {"email_processing_queue": 4000}), *samples[11:]]
    assert levels(plan_escalation(acked, playbook.escalation, {}, [], dip, at(120))) == []


def test_scaling_that_did_not_resolve_within_an_hour(playbook):
    acked = replace(INCIDENT, acknowledged_at=at(1), state=IncidentState.ACKNOWLEDGED)
    scale = ActionRequest(
        id=uuid.uuid4(),
        incident_id=1,
        kind=ActionKind.SCALE,
        params={},
        summary="Scale",
        requested_by="U1",
        requested_at=at(5),
        expires_at=at(35),
        state=ActionState.SUCCEEDED,
        finished_at=at(10),
    )
    plan = plan_escalation(acked, playbook.escalation, {}, [scale], [], at(69))
    assert levels(plan) == [] and plan.next_check == at(70)
    plan = plan_escalation(acked, playbook.escalation, {}, [scale], [], at(70))
    assert plan.due[0].reason == (
        "Worker scaling doesn't resolve the issue within 1 hour: scale succeeded at 09:10 UTC, "
        "1h 00m ago, and incident #1 is still open"
    )
