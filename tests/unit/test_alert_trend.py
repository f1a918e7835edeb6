"""The living alert's trend after an action: read from the samples since it ran, so a
queue draining since a scale is never called growing by a fit that mixes both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.living_alert import queue_outlooks
from bot.domain.models import QueueSample

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
QUEUE = "email_processing_queue"


def _history() -> list[QueueSample]:
    """Growing 150/min for 10 minutes, then (a scale ran at 10:10) draining 300/min."""
    samples = []
    for minute in range(0, 14):
        depth = 1000 + 150 * min(minute, 10) - 300 * max(0, minute - 10)
        samples.append(QueueSample(at=START + timedelta(minutes=minute), depths={QUEUE: depth}))
    return samples


def _email(outlooks):
    return next(o for o in outlooks if o.queue == QUEUE)


def test_after_an_action_the_trend_reads_only_the_samples_since(playbook):
    history = _history()
    latest = history[-1]  # 10:13, depth 1,600 and falling since 10:10
    mixed = _email(queue_outlooks(playbook, latest, history))
    assert mixed.per_minute is not None and mixed.per_minute > 0  # the old, misleading fit
    since_scale = _email(queue_outlooks(playbook, latest, history, [START + timedelta(minutes=10)]))
    assert since_scale.per_minute == -300
    assert since_scale.drains_in is not None and since_scale.drains_in > timedelta(0)


def test_right_after_an_action_too_few_samples_keep_the_whole_window(playbook):
    history = _history()[:11]  # the action ran at 10:10, the latest sample
    latest = history[-1]
    right_after = _email(queue_outlooks(playbook, latest, history, [latest.at]))
    whole = _email(queue_outlooks(playbook, latest, history))
    assert right_after.per_minute == whole.per_minute == 150


def test_a_second_action_too_recent_leaves_the_trend_since_the_first(playbook):
    history = _history()
    latest = history[-1]  # 10:13: a scale at 10:10, then a requeue at 10:13
    actions = [START + timedelta(minutes=10), latest.at]
    assert _email(queue_outlooks(playbook, latest, history, actions)).per_minute == -300
