"""Block Kit builders: the numbers people need, buttons carrying only an id, Slack's limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bot.adapters.slack import blocks
from bot.adapters.slack.fit import MAX_BLOCKS
from bot.adapters.slack.ids import ActionId
from bot.domain.alert_state import AlertPhase
from bot.domain.living_alert import build_alert_view
from bot.domain.models import (
    ActionRequest,
    ActionState,
    Incident,
    IncidentState,
    QueueSample,
)
from bot.domain.playbook import ActionKind, Severity
from bot.domain.rules import RuleState, RuleStatus
from bot.domain.views import AlertView
from bot.emulators.slack_api import render_text

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _alert_view(playbook) -> AlertView:
    rule = playbook.rules[0]
    history = [
        QueueSample(T0 + timedelta(minutes=m), {"email_processing_queue": 900 + 60 * m})
        for m in range(12)
    ]
    incident = Incident(
        id=3,
        playbook=playbook.name,
        title=rule.summary,
        severity=rule.severity,
        state=IncidentState.OPEN,
        rule=rule.name,
        queue=rule.queue,
        detected_at=history[-1].at,
        peak_depth=1560,
        peak_queue=rule.queue,
    )
    state = RuleState(rule=rule, status=RuleStatus.FIRING, active_since=history[2].at, value=1560)
    sample = QueueSample(history[-1].at, {"email_processing_queue": 1560, "analysis_queue": 12})
    return build_alert_view(
        incident=incident,
        rule_state=state,
        sample=sample,
        history=[*history, sample],
        playbook=playbook,
        phase=AlertPhase.FIRING,
        ready=2,
    )


def test_alert_shows_depths_threshold_duration_chart_and_buttons(playbook):
    rendered = render_text(blocks.alert_blocks(_alert_view(playbook)))
    assert "Incident #3" in rendered
    assert "`email_processing_queue` is at *1,560*, above the threshold of 1,000" in rendered
    assert "for *9m*" in rendered
    assert "analysis_queue`: *12*" in rendered
    assert "▁" in rendered and "█" in rendered  # the trend chart
    assert "[Acknowledge]" in rendered
    # The capacity model: (60 growth + 2 x 50 + 1,560 / 10) / 50 = 6.3 → 7 workers.
    assert "[Scale phishnet-worker-email to 7]" in rendered


def test_approval_buttons_carry_only_the_request_id(playbook):
    request = ActionRequest(
        id=uuid.uuid4(),
        incident_id=3,
        kind=ActionKind.SCALE,
        params={"deployment": "phishnet-worker-email", "replicas": 6},
        summary="Scale `phishnet-worker-email` from 2 to 6 replicas",
        requested_by="U0SREONCALL",
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        state=ActionState.PENDING,
    )
    built = blocks.approval_blocks(request, playbook.policy(ActionKind.SCALE))
    buttons = [e for b in built if b["type"] == "actions" for e in b["elements"]]
    assert {b["action_id"]: b["value"] for b in buttons} == {
        ActionId.APPROVE.value: str(request.id),
        ActionId.DENY.value: str(request.id),
    }
    done = blocks.approval_blocks(
        ActionRequest(**{**request.__dict__, "state": ActionState.DENIED, "denied_by": "UBOB"}),
        playbook.policy(ActionKind.SCALE),
    )
    assert not [b for b in done if b["type"] == "actions"]
    assert "Denied by <@UBOB>" in render_text(done)


def test_long_report_stays_within_slack_limits():
    incident = _alert_view_incident()
    markdown = "## Title\n" + "\n".join(f"- line {i} " + "x" * 200 for i in range(2000))
    built = blocks.report_blocks(incident, markdown)
    assert len(built) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= 3000 for b in built if b["type"] == "section")
    assert "not shown here: the whole report is in the attached file" in render_text(built[-1:])


def _alert_view_incident() -> Incident:
    return Incident(
        id=1,
        playbook="p",
        title="t",
        severity=Severity.WARNING,
        state=IncidentState.RESOLVED,
        rule="r",
        queue="q",
        detected_at=T0,
        peak_depth=1,
        peak_queue="q",
    )


def test_markdown_to_mrkdwn():
    assert blocks.markdown_to_mrkdwn("## Report\n**Duration**: 5m") == "*Report*\n*Duration*: 5m"


def test_sparkline_scales_to_range():
    assert blocks.sparkline([0, 50, 100]) == "▁▅█"
    assert blocks.sparkline([]) == ""
