from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.models import QueueSample
from bot.domain.rules import RuleBook, RuleStatus

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def sample(minute: float, email: int, analysis: int = 0) -> QueueSample:
    return QueueSample(
        at=T0 + timedelta(minutes=minute),
        depths={"email_processing_queue": email, "analysis_queue": analysis},
    )


def test_fires_once_after_staying_above_for_the_whole_duration(playbook):
    book = RuleBook(playbook.rules)
    fired = []
    for minute in range(0, 13):
        fired += [(minute, t.state.rule.name) for t in book.observe(sample(minute, 1500))]
    # above from 09:00; "for: 10m" is met at 09:10 and fires exactly once
    assert fired == [(10, "EmailQueueBacklog")]
    (state,) = book.firing()
    assert state.above_for(T0 + timedelta(minutes=12)) == timedelta(minutes=12)


def test_a_dip_to_the_threshold_resets_the_pending_timer(playbook):
    book = RuleBook(playbook.rules)
    for minute in range(0, 9):
        assert book.observe(sample(minute, 1200)) == []
    book.observe(sample(9, 1000))  # not above 1000
    for minute in range(10, 19):
        assert book.observe(sample(minute, 1200)) == []
    states = {s.rule.name: s for s in book.states}
    assert states["EmailQueueBacklog"].status is RuleStatus.PENDING
    assert [t.state.rule.name for t in book.observe(sample(20, 1200))] == ["EmailQueueBacklog"]


def test_resolves_when_depth_falls(playbook):
    book = RuleBook(playbook.rules)
    for minute in range(0, 11):
        book.observe(sample(minute, 5000, analysis=600))
    assert {s.rule.name for s in book.firing()} == {"EmailQueueBacklog", "AnalysisQueueBacklog"}
    transitions = book.observe(sample(12, 10, analysis=600))
    assert [(t.state.rule.name, t.firing) for t in transitions] == [("EmailQueueBacklog", False)]


def test_only_depth_rules_are_evaluated_locally(playbook):
    book = RuleBook(playbook.rules)
    assert {s.rule.name for s in book.states} == {"EmailQueueBacklog", "AnalysisQueueBacklog"}
