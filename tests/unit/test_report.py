from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bot.domain.models import (
    ActionRequest,
    ActionState,
    Approval,
    EventKind,
    Incident,
    IncidentState,
    TimelineEntry,
)
from bot.domain.playbook import ActionKind, Severity
from bot.domain.report import build_report, classify_note, format_duration

T0 = datetime(2026, 11, 28, 9, 10, tzinfo=UTC)


def incident(**kw) -> Incident:
    base = dict(
        id=7,
        playbook="p",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.RESOLVED,
        rule="EmailQueueBacklog",
        queue="email_processing_queue",
        detected_at=T0,
        peak_depth=4321,
        peak_queue="email_processing_queue",
        peak_at=T0 + timedelta(minutes=4),
        mitigation_started_at=T0 + timedelta(minutes=3),
        resolved_at=T0 + timedelta(minutes=47, seconds=30),
        root_cause="Volume spike",
    )
    base.update(kw)
    return Incident(**base)


def test_report_has_the_runbook_sections_with_figures(playbook):
    action = ActionRequest(
        id=uuid.uuid4(),
        incident_id=7,
        kind=ActionKind.SCALE,
        params={},
        summary="Scale `phishnet-worker-email` from 2 to 6 replicas",
        requested_by="UALICE",
        requested_at=T0 + timedelta(minutes=2),
        expires_at=T0 + timedelta(minutes=32),
        state=ActionState.SUCCEEDED,
        approvals=(Approval("UBOB", T0 + timedelta(minutes=3)),),
        finished_at=T0 + timedelta(minutes=3),
    )
    timeline = [
        TimelineEntry(7, T0, EventKind.DETECTED, None, "EmailQueueBacklog firing"),
        TimelineEntry(7, T0, EventKind.LESSON, "UALICE", "alert earlier"),
        TimelineEntry(7, T0, EventKind.PREVENTION, "UALICE", "raise HPA min"),
    ]
    text = build_report(incident(), timeline, [action], playbook.report, now=T0)
    assert text.startswith("## Queue Backlog Incident Report")
    assert "**Duration**: 47m" in text
    assert "**Peak Queue Size**: 4,321 (`email_processing_queue`" in text
    assert "**Root Cause**: Volume spike" in text
    assert "- Detection: 2026-11-28 09:10:00 UTC" in text
    assert "- Mitigation Started: 2026-11-28 09:13:00 UTC" in text
    assert "- Resolution: 2026-11-28 09:57:30 UTC" in text
    assert "requested by <@UALICE>" in text and "approved by <@UBOB>" in text
    assert "### Lessons Learned\n- alert earlier" in text
    assert "### Prevention Measures\n- raise HPA min" in text


def test_open_incident_report_says_what_is_missing(playbook):
    open_incident = incident(
        state=IncidentState.OPEN, resolved_at=None, mitigation_started_at=None, root_cause=None
    )
    text = build_report(open_incident, [], [], playbook.report, now=T0 + timedelta(hours=2))
    assert "**Status**: open (ongoing)" in text
    assert "**Duration**: 2h 00m" in text
    assert "- Resolution: _not recorded_" in text
    assert "### Actions Taken\n- _not recorded_" in text


def test_helpers():
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(minutes=61)) == "1h 01m"
    assert classify_note("Lesson: add alerts") == (EventKind.LESSON, "add alerts")
    assert classify_note("prevention: HPA") == (EventKind.PREVENTION, "HPA")
    assert classify_note("db ok") == (EventKind.NOTE, "db ok")


def test_typed_text_is_escaped_and_the_bots_own_mrkdwn_is_not(playbook):
    typed = "see <!channel> & <https://evil.example|the runbook>"
    action = ActionRequest(
        id=uuid.uuid4(),
        incident_id=7,
        kind=ActionKind.REQUEUE,
        params={},
        summary="Requeue 3 stuck jobs from `processing_jobs` onto `email_processing_queue`",
        requested_by="UALICE",
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        state=ActionState.DENIED,
        denied_by="UBOB",
    )
    timeline = [
        TimelineEntry(7, T0, EventKind.NOTE, "UALICE", typed),
        TimelineEntry(7, T0, EventKind.LESSON, "UALICE", "a < b"),
        TimelineEntry(7, T0, EventKind.PREVENTION, "UALICE", "x > y"),
        TimelineEntry(7, T0, EventKind.ACTION_REQUESTED, "UALICE", f"Requested: {action.summary}"),
    ]
    text = build_report(
        incident(root_cause="R&D <deploy>"), timeline, [action], playbook.report, now=T0
    )
    escaped = "see &lt;!channel&gt; &amp; &lt;https://evil.example|the runbook&gt;"
    assert f"Note: {escaped} (<@UALICE>)" in text
    assert "**Root Cause**: R&amp;D &lt;deploy&gt;" in text
    assert "### Root Cause\nR&amp;D &lt;deploy&gt;" in text
    assert "### Lessons Learned\n- a &lt; b" in text
    assert "### Prevention Measures\n- x &gt; y" in text
    assert "Requested: Requeue 3 stuck jobs from `processing_jobs`" in text  # bot text as is
    assert "denied by <@UBOB>" in text  # the bot's own mentions stay live
    assert "<!channel>" not in text and "<https://" not in text
