"""An emergency drain's recovery in words and plans: processed vs snapshotted, when
the backlog is over, and Re-analyse's plan and refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.actions import ActionRefused
from bot.domain.models import ActionRequest, ActionState
from bot.domain.playbook import ActionKind
from bot.domain.recovery import (
    DrainCount,
    Recovery,
    RecoveryState,
    backlog_over,
    count_text,
    plan_reanalysis,
)

AT = datetime(2026, 11, 28, 9, 40, tzinfo=UTC)
DRAIN = ActionRequest(
    id=uuid.UUID("00000000-0000-0000-0000-0000000000d1"),
    incident_id=1,
    kind=ActionKind.DRAIN,
    params={"job": "emergency-queue-drain-1"},
    summary="Emergency queue drain",
    requested_by="U0SREONCALL",
    requested_at=AT,
    expires_at=AT,
    state=ActionState.FAILED,
)
COUNT = DrainCount(snapshotted=3000, taken=1500, left=1490, in_flight=10)


def recovery(state: RecoveryState = RecoveryState.OFFERED, **changes: object) -> Recovery:
    base = Recovery(
        DRAIN.id,
        1,
        "emergency-queue-drain-1",
        "email_processing_queue",
        3000,
        AT + timedelta(days=7),
        state,
        COUNT,
    )
    return Recovery(**{**vars(base), **changes})


def test_the_count_says_processed_vs_snapshotted_and_where_the_rest_are():
    assert count_text("emergency-queue-drain-1", "email_processing_queue", COUNT, False) == (
        ":bar_chart: *Drain stopped (the Job failed): it processed 1,500 of the 3,000 emails "
        "snapshotted before it started* (with minimal analysis).\n"
        "1,490 are still in `email_processing_queue`: the drain never took them; the workers "
        "will analyse them fully.\n"
        "10 are in the processing set (being worked on, or held by the drain when it stopped: "
        "`/backlog requeue` puts stuck ones back); not re-analysed."
    )


def test_the_backlog_is_over_under_the_alert_line_or_once_resolved():
    assert not backlog_over(1490, 1000, incident_open=True)
    assert backlog_over(1000, 1000, incident_open=True)
    assert backlog_over(5000, 1000, incident_open=False)
    assert not backlog_over(None, 1000, incident_open=True)


def test_reanalyse_pushes_what_is_waiting_at_the_playbooks_pace(playbook):
    plan = plan_reanalysis(playbook, DRAIN, recovery(), 1500, AT)
    assert plan.kind is ActionKind.REANALYSE
    assert plan.summary == (
        "Re-analyse the 1,500 emails the emergency drain `emergency-queue-drain-1` processed "
        "with minimal analysis: push them onto `analysis_queue`"
    )
    assert plan.details[0].startswith("100 at a time, at most 600 a minute (about 3m)")
    assert plan.params["once"] == f"reanalyse:{DRAIN.id}"
    assert playbook.policy(plan.kind).approvers == ("sre_oncall", "senior_devops")


@pytest.mark.parametrize(
    ("state", "waiting", "now", "reason"),
    [
        (RecoveryState.COUNTED, 1500, AT, "The backlog is not over yet"),
        (RecoveryState.SNAPSHOTTED, None, AT, "The drain's outcome was never counted"),
        (RecoveryState.OFFERED, None, AT, "The drain's recovery list expired"),
        (RecoveryState.OFFERED, 1500, AT + timedelta(days=8), "recovery list expired"),
        (RecoveryState.REANALYSED, 0, AT, "Nothing to re-analyse: every email went back"),
    ],
)
def test_reanalyse_is_refused_with_the_reason(playbook, state, waiting, now, reason):
    with pytest.raises(ActionRefused, match=reason):
        plan_reanalysis(playbook, DRAIN, recovery(state), waiting, now)


def test_a_drain_that_took_nothing_has_nothing_to_reanalyse(playbook):
    nothing = DrainCount(snapshotted=10, taken=0, left=10, in_flight=0)
    with pytest.raises(ActionRefused, match="the drain took no email"):
        plan_reanalysis(playbook, DRAIN, recovery(count=nothing), 0, AT)
