from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.domain.escalation import (
    LATE_AFTER,
    Measurements,
    Page,
    PageCause,
    breach_depth,
    plan_escalation,
    unmeasured,
)
from bot.domain.measures import FiringAlert, JobAgeReading, VendorObservation
from bot.domain.models import ActionRequest, ActionState, Incident, IncidentState, QueueSample
from bot.domain.playbook import ActionKind, Severity, parse_playbook

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
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


# ------------------------------------------------------------------ measured triggers

ACKED = replace(INCIDENT, acknowledged_at=at(1), state=IncidentState.ACKNOWLEDGED)


def _with_trigger(playbook, **fields):
    """PhishNet's playbook with only this one trigger (tier 2, so L1's timer stays out of
    it), and the email queue's job age read from its oldest job."""
    data = yaml.safe_load(PLAYBOOK.read_text())
    data["escalation"]["triggers"] = [{"tier": 2, "description": "Runbook condition", **fields}]
    data["queues"][0]["job_age"] = {"source": "list_head", "field": "enqueued_at"}
    return parse_playbook(yaml.safe_dump(data))


def test_sla_delay_fires_on_the_latest_fresh_reading(playbook):
    book = _with_trigger(playbook, kind="sla_delay", max_delay="30m")
    young = JobAgeReading("email_processing_queue", at(20), timedelta(minutes=29))
    old = JobAgeReading("email_processing_queue", at(21), timedelta(minutes=31))
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(21), measured=Measurements(ages=[young])
    )
    assert levels(plan) == [] and plan.next_check is None  # re-checked at each sample
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(21), measured=Measurements(ages=[young, old])
    )
    assert levels(plan) == [2]
    assert plan.due[0].reason == (
        "Runbook condition: the oldest job waiting in `email_processing_queue` has waited 31m "
        "(SLA 30m), read at 09:21:00 UTC"
    )
    assert (plan.due[0].cause, plan.due[0].due_at) == (PageCause.TRIGGER, at(21))
    broken = JobAgeReading("email_processing_queue", at(22), None, "Redis did not answer.")
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(22), measured=Measurements(ages=[old, broken])
    )
    assert levels(plan) == []  # blind now: an older reading does not stand in


def test_time_to_breach_reads_the_depth_trend(playbook):
    book = _with_trigger(
        playbook,
        kind="time_to_breach",
        queue="email_processing_queue",
        max_delay="30m",
        breach_within="10m",
    )
    assert breach_depth(book.escalation.triggers[0], book) == (
        30_000,
        "what 20 workers at 50/min clear in 30m",
    )
    steep = [QueueSample(at(m), {"email_processing_queue": 10_000 + 2_000 * m}) for m in range(4)]
    plan = plan_escalation(ACKED, book.escalation, {}, [], steep, at(3), playbook=book)
    assert levels(plan) == [2]
    assert "holds 16,000 jobs and grows 2,000/min: it reaches 30,000" in plan.due[0].reason
    assert "in ~7m, under the 10m limit" in plan.due[0].reason
    slower = [QueueSample(at(m), {"email_processing_queue": 10_000 + 500 * m}) for m in range(4)]
    assert (
        levels(plan_escalation(ACKED, book.escalation, {}, [], slower, at(3), playbook=book)) == []
    )
    short = [*steep[:2], QueueSample(at(1.5), {"email_processing_queue": 13_000})]
    assert (
        levels(plan_escalation(ACKED, book.escalation, {}, [], short, at(3), playbook=book)) == []
    )


def test_every_call_to_a_vendor_failing_for_the_window(playbook):
    vendor = {"name": "VirusTotal", "deployment": "phishnet-worker-analysis", "calls": "vt",
              "failures": "429"}  # fmt: skip
    book = _with_trigger(
        playbook, kind="external_api_unavailable", vendors=[vendor], **{"for": "5m"}
    )

    def seen(minute: int, calls: int = 8, failures: int = 8) -> VendorObservation:
        return VendorObservation("VirusTotal", at(minute), calls, failures)

    run = [seen(m) for m in range(0, 5)]
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(4), measured=Measurements(vendors=run)
    )
    assert levels(plan) == [] and plan.next_check == at(5)
    run.append(seen(5))
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(5), measured=Measurements(vendors=run)
    )
    assert plan.due[0].reason == (
        "Runbook condition: every call to VirusTotal has failed since 09:00 UTC (5m; 8 of 8 in "
        "the latest look at `phishnet-worker-analysis`'s logs)"
    )
    one_answered = [*run[:3], seen(3, failures=7), *run[4:]]
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(5), measured=Measurements(vendors=one_answered)
    )
    assert levels(plan) == [] and plan.next_check == at(9)
    blind = [*run[:5], VendorObservation("VirusTotal", at(5), 0, 0, "logs unreadable")]
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(5), measured=Measurements(vendors=blind)
    )
    assert levels(plan) == [] and plan.next_check is None


def test_a_named_alertmanager_alert_fires_any_trigger(playbook):
    book = _with_trigger(playbook, kind="external_api_unavailable", alerts=["VirusTotalDown"])
    firing = FiringAlert("VirusTotalDown", at(-10), at(-9))
    plan = plan_escalation(
        ACKED, book.escalation, {}, [], [], at(0), measured=Measurements(alerts=[firing])
    )
    assert plan.due[0].reason == (
        "Runbook condition: Alertmanager reports `VirusTotalDown` firing since 08:50 UTC"
    )


def test_a_page_is_late_only_well_past_its_due_time(playbook):
    tier = playbook.escalation.tiers[0]
    page = Page(tier, "why", PageCause.TIMER, at(30))
    assert page.late_by(at(30) + LATE_AFTER) is None
    assert page.late_by(at(45)) == timedelta(minutes=15)
    assert Page(tier, "asked").late_by(at(500)) is None


def test_what_the_phishnet_playbook_cannot_measure_is_said(playbook):
    notes = dict(unmeasured(playbook))
    assert notes["sla_delay"] == (
        "“Critical business emails are delayed beyond SLA (>30 minutes)” is not measured: the "
        "playbook gives `email_processing_queue` no `job_age` to read the oldest job's enqueue "
        "time from; it fires only by `/backlog escalate`."
    )
    assert "external_api_unavailable" not in notes  # it watches VirusTotal and AbuseIPDB
