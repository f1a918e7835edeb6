"""Incident channels and the living alert as pure functions: channel names, the
playbook's new fields (with errors naming the field), recovery with hysteresis,
the alert's phases, and what each message shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.adapters.slack import incident_blocks as texts
from bot.adapters.slack.alert_blocks import alert_blocks, alert_text
from bot.adapters.slack.ids import incident_value, parse_incident_value
from bot.domain.alert_state import (
    AlertPhase,
    clear_level,
    clear_levels,
    is_clear,
    step_recovery,
)
from bot.domain.channel_names import (
    MAX_NAME,
    first_free,
    incident_channel_name,
    slack_name,
    with_suffix,
)
from bot.domain.living_alert import build_alert_view, queue_outlooks
from bot.domain.models import (
    ActionRequest,
    ActionState,
    Approval,
    Incident,
    IncidentState,
    QueueSample,
)
from bot.domain.playbook import ActionKind, PlaybookError, Severity, parse_playbook
from bot.domain.playbook_slack import Recovery
from bot.domain.rules import RuleState, RuleStatus
from bot.emulators.slack_api import render_text

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
QUEUE = "email_processing_queue"


# ---- channel names ----------------------------------------------------------


def test_the_template_makes_the_issues_example_name():
    name = incident_channel_name(
        "inc-{date}-{rule}",
        incident_id=7,
        rule="EmailQueueBacklog",
        queue=QUEUE,
        severity="warning",
        playbook="phishnet-queue-backlog",
        detected_at=T0,
        zone=UTC,
    )
    assert name == "inc-20261129-emailqueuebacklog"


def test_the_date_is_the_detections_in_the_given_zone():
    late = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    args = dict(incident_id=1, rule="R", queue="q", severity="info", playbook="p")
    assert incident_channel_name("{date}-{time}", detected_at=late, zone=UTC, **args) == (
        "20261129-2330"
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    assert incident_channel_name("{date}", detected_at=late, zone=tokyo, **args) == "20261130"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Inc  #7: Email/Queue Backlog!", "inc-7-email-queue-backlog"),
        ("--__weird__--", "weird"),
        ("é-queue_ok", "queue_ok"),
        ("!!!", ""),
        ("x" * 100, "x" * MAX_NAME),
    ],
)
def test_names_are_made_valid_for_slack(raw, name):
    assert slack_name(raw) == name


def test_an_empty_name_falls_back_to_the_incident_number():
    args = dict(rule="R", queue="q", severity="info", playbook="p", detected_at=T0, zone=UTC)
    assert incident_channel_name("!!!", incident_id=12, **args) == "incident-12"


def test_suffixes_keep_names_within_80():
    long = "a" * MAX_NAME
    assert with_suffix(long, 12) == "a" * 77 + "-12"
    assert with_suffix("inc", 1) == "inc"
    assert first_free("inc", {"inc", "inc-2"}) == ("inc-3", 3)
    assert first_free("inc", set()) == ("inc", 1)


# ---- playbook fields ----------------------------------------------------------


def _problems(edit) -> list[tuple[str, str]]:
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data), "broken.yml")
    return [(p.field, p.reason) for p in caught.value.problems]


def _parse(edit):
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data)
    return parse_playbook(yaml.safe_dump(data), "ok.yml")


def test_phishnet_playbook_has_a_channel_per_incident(playbook):
    slack = playbook.slack
    assert slack.announcement_channel == slack.incident_channel == "#phishnet-incidents"
    assert slack.per_incident and slack.incident_channels.name == "inc-{date}-{rule}"
    assert slack.incident_channels.invite_roles == ("sre_oncall",)
    assert playbook.recovery == Recovery(quiet_period=timedelta(minutes=10), hysteresis=0.1)


def test_the_older_incident_channel_name_still_works():
    def old(d):
        d["slack"] = {"incident_channel": "#ops"}

    playbook = _parse(old)
    assert playbook.slack.announcement_channel == "#ops" and playbook.slack.per_incident


@pytest.mark.parametrize(
    ("edit", "field", "reason"),
    [
        (
            lambda d: d["slack"]["incident_channels"].update(name="inc-{day}-{rule}"),
            "slack.incident_channels.name",
            "unknown placeholder {day} (use {date}, {time}, {rule}, {queue}, {severity}, "
            "{id}, {playbook})",
        ),
        (
            lambda d: d["slack"]["incident_channels"].update(runbook_url="wiki/runbook"),
            "slack.incident_channels.runbook_url",
            "'wiki/runbook' is not an http(s) URL",
        ),
        (
            lambda d: d["slack"]["incident_channels"].update(invite_roles=["sre_oncall", "nobody"]),
            "slack.incident_channels.invite_roles[1]",
            "unknown role 'nobody'",
        ),
        (
            lambda d: d["slack"]["incident_channels"].update(mode="per_queue"),
            "slack.incident_channels.mode",
            "Input should be 'per_incident' or 'fixed'",
        ),
        (
            lambda d: d["recovery"].update(auto_resolve_after="5m"),
            "recovery.auto_resolve_after",
            "5m is shorter than quiet_period (10m)",
        ),
        (
            lambda d: d["recovery"].update(hysteresis=1.5),
            "recovery.hysteresis",
            "Input should be less than 1",
        ),
        (
            lambda d: d["slack"].update(alert_refresh="1s"),
            "slack.alert_refresh",
            "Input should be greater than or equal to 5 seconds",
        ),
        (
            lambda d: d["slack"].update(incident_channel="#old"),
            "slack",
            "give announcement_channel or its older name incident_channel, not both",
        ),
    ],
)
def test_bad_slack_and_recovery_fields_name_the_field(edit, field, reason):
    assert (field, reason) in _problems(edit)


# ---- recovery and hysteresis ----------------------------------------------------


def test_clear_levels_have_a_dead_band_under_each_threshold(playbook):
    assert clear_level(1000, 0.1) == 900
    assert clear_levels(playbook.rules, 0.1) == {QUEUE: 900, "analysis_queue": 450}
    levels = {QUEUE: 900}
    assert is_clear(QueueSample(T0, {QUEUE: 900}), levels)
    assert not is_clear(QueueSample(T0, {QUEUE: 901}), levels)
    assert not is_clear(QueueSample(T0, {"analysis_queue": 0}), levels)  # not read: unknown


def _steps(depths: list[bool], recovery: Recovery) -> list[tuple[int, str]]:
    """Feeds one sample a minute (clear or not); returns (minute, event) pairs."""
    clear_since, announced, events = None, False, []
    for minute, clear in enumerate(depths):
        step = step_recovery(
            clear_now=clear,
            clear_since=clear_since,
            announced=announced,
            now=T0 + timedelta(minutes=minute),
            recovery=recovery,
        )
        for name in ("announce", "relapsed", "auto_resolve"):
            if getattr(step, name):
                events.append((minute, name))
        announced = (announced or step.announce) and step.clear_since is not None
        clear_since = step.clear_since
    return events


def test_recovery_is_announced_once_after_the_quiet_period():
    quiet = Recovery(quiet_period=timedelta(minutes=10))
    assert _steps([True] * 15, quiet) == [(10, "announce")]


def test_a_relapse_restarts_the_wait_and_a_new_quiet_period_announces_again():
    quiet = Recovery(quiet_period=timedelta(minutes=3))
    events = _steps([True] * 5 + [False] + [True] * 5, quiet)
    assert events == [(3, "announce"), (5, "relapsed"), (9, "announce")]


def test_auto_resolve_after_the_longer_quiet_period():
    recovery = Recovery(quiet_period=timedelta(minutes=2), auto_resolve_after=timedelta(minutes=5))
    events = _steps([True] * 6, recovery)
    assert events[:2] == [(2, "announce"), (5, "auto_resolve")]


# ---- the living alert -------------------------------------------------------------


def _incident(**changes) -> Incident:
    fields = dict(
        id=3,
        playbook="phishnet-queue-backlog",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.OPEN,
        rule="EmailQueueBacklog",
        queue=QUEUE,
        detected_at=T0 + timedelta(minutes=10),
        peak_depth=2200,
        peak_queue=QUEUE,
        channel="C0INC",
        channel_status="dedicated",
    )
    fields.update(changes)
    return Incident(**fields)


def _history(step: int, start: int = 1000, minutes: int = 16) -> list[QueueSample]:
    return [
        QueueSample(T0 + timedelta(minutes=m), {QUEUE: start + step * m, "analysis_queue": 12})
        for m in range(minutes)
    ]


def _scale(executed_minute: int, state=ActionState.SUCCEEDED) -> ActionRequest:
    at = T0 + timedelta(minutes=executed_minute)
    return ActionRequest(
        id=uuid.uuid4(),
        incident_id=3,
        kind=ActionKind.SCALE,
        params={"deployment": "phishnet-worker-email", "replicas": 10, "namespace": "phishnet"},
        summary="Scale `phishnet-worker-email` from 2 to 10 replicas",
        requested_by="U0SREONCALL",
        requested_at=at,
        expires_at=at + timedelta(minutes=30),
        state=state,
        approvals=(Approval("U0SENIORDEVOPS", at),),
        executed_at=at,
        finished_at=at + timedelta(seconds=20),
    )


def _view(playbook, history, *, incident=None, phase=AlertPhase.FIRING, actions=(), ready=2):
    rule = playbook.rules[0]
    state = RuleState(rule, RuleStatus.FIRING, history[0].at, history[-1].depths[QUEUE])
    return build_alert_view(
        incident=incident or _incident(),
        rule_state=state,
        sample=history[-1],
        history=history,
        playbook=playbook,
        phase=phase,
        actions=actions,
        ready=ready,
    )


def test_growing_queue_shows_its_rate_and_the_capacity_models_scale(playbook):
    view = _view(playbook, _history(+100))
    shown = render_text(alert_blocks(view))
    assert (
        "• `email_processing_queue`: *2,500* / 1,000 :rotating_light: · growing 100/min, "
        "above its threshold" in shown
    )
    assert "• `analysis_queue`: *12* / 500 · steady" in shown
    # (100 growth + 2 x 50 + 2,500 / 10) / 50 = 9 workers, from the one capacity model.
    assert "[Scale phishnet-worker-email to 9]" in shown
    assert "*State:* :red_circle: *Firing* for 5m · not acknowledged yet" in shown
    assert alert_text(view) == "Incident #3: email_processing_queue at 2,500 (threshold 1,000)"


def test_a_queue_growing_toward_its_threshold_says_when_it_crosses(playbook):
    history = [
        QueueSample(T0 + timedelta(minutes=m), {QUEUE: 2000, "analysis_queue": 100 + 20 * m})
        for m in range(16)
    ]
    [_, analysis, _] = queue_outlooks(playbook, history[-1], history)
    assert analysis.breaches_in == timedelta(minutes=5)  # 400 at 20/min to 500
    shown = render_text(alert_blocks(_view(playbook, history)))
    assert "`analysis_queue`: *400* / 500 · growing 20/min → above 500 in ~5m" in shown


def test_draining_queue_says_when_it_empties_and_no_scale_right_after_one(playbook):
    history = _history(-100, start=2500)
    view = _view(playbook, history, phase=AlertPhase.MITIGATING, actions=[_scale(12)], ready=10)
    shown = render_text(alert_blocks(view))
    assert "`email_processing_queue`: *1,000* / 1,000 · draining 100/min → empty in ~10m" in shown
    assert "*State:* :hammer_and_wrench: *Mitigating*" in shown
    assert (
        "*Last action:* Scale `phishnet-worker-email` from 2 to 10 replicas, approved by "
        "<@U0SENIORDEVOPS>, done at 09:12 UTC" in shown
    )
    assert "[Scale" not in shown  # the trend still mixes in the minutes before the scale
    assert "Scale count again from 09:27 UTC" in shown


def test_recovering_and_resolved_alerts(playbook):
    history = _history(0, start=300)
    clear = history[-1].at - timedelta(minutes=4)
    view = _view(
        playbook, history, incident=_incident(clear_since=clear), phase=AlertPhase.RECOVERING
    )
    shown = render_text(alert_blocks(view))
    assert (
        "*Recovering*: every queue at or below its clear level for 4m (recovery is announced "
        "after 10m)" in shown
    )

    resolved = _incident(
        state=IncidentState.RESOLVED,
        resolved_at=history[-1].at,
        resolved_by="U0SREONCALL",
        report_link="https://x.slack.com/archives/C0INC/p1",
    )
    final = _view(playbook, history, incident=resolved, phase=AlertPhase.RESOLVED)
    blocks = alert_blocks(final)
    assert not [b for b in blocks if b["type"] == "actions"]
    shown = render_text(blocks)
    assert (
        "== :white_check_mark: Incident #3 resolved: Large email queue backlog detected ==" in shown
    )
    assert "*Resolved* by <@U0SREONCALL> at 09:15 UTC after 5m · peak 2,200" in shown
    assert "*Report:* <https://x.slack.com/archives/C0INC/p1|Report for incident #3>" in shown


def test_incident_buttons_carry_the_incident_and_old_values_still_parse():
    assert incident_value(7) == "7"
    assert incident_value(7, "phishnet-worker-email", "9") == "7:phishnet-worker-email:9"
    assert parse_incident_value("7:phishnet-worker-email:9") == (7, ["phishnet-worker-email", "9"])
    assert parse_incident_value("ack") == (None, ["ack"])
    assert parse_incident_value("phishnet-worker-email:6") == (None, ["phishnet-worker-email", "6"])


def test_topic_and_purpose_fit_slacks_250_characters(playbook):
    incident = _incident(title="x" * 400)
    rule = playbook.rules[0]
    assert texts.channel_topic(incident, rule, AlertPhase.RECOVERING).startswith(
        "Recovering · EmailQueueBacklog on email_processing_queue (above 1,000) · warning"
    )
    assert len(texts.channel_purpose(incident, rule)) <= texts.MAX_TOPIC
