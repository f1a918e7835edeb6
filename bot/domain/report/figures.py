"""The report's figures from the depth samples: when the backlog began and ended, each
queue's peak and time above its threshold, and a queue's net rate around an action.

Samples are the bot's own (one every ``BACKLOG_BOT_SAMPLE_INTERVAL`` seconds, kept raw
for 48 hours). Between two samples a queue is taken to stay as the first one found it,
so "time above the threshold" adds up the sample-to-sample intervals that start above
it.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.models import QueueSample

#: How far around an action its queue's net rate is measured.
RATE_WINDOW = timedelta(minutes=10)
#: The fewest samples a rate is computed from (two points make a line, not a trend).
RATE_MIN_SAMPLES = 3


@dataclass(frozen=True)
class QueueFigures:
    """One queue over the incident: ``peak`` jobs first reached at ``peak_at``; its
    alert ``threshold`` (None: no depth rule) and the time spent above it."""

    queue: str
    peak: int
    peak_at: datetime
    threshold: int | None
    above_for: timedelta | None  # None: not known (no samples; the incident's record)
    samples: int


@dataclass(frozen=True)
class BacklogSpan:
    """When the backlog began (the first sample above the threshold in the run of
    samples that led to the alert) and when it was over (the first sample after which
    the queue stayed at or under its threshold). ``began_early`` says the run reached
    back to the oldest sample read, so it may have begun earlier."""

    began: datetime | None
    recovered: datetime | None
    began_early: bool = False


def _points(samples: Sequence[QueueSample], queue: str) -> list[tuple[datetime, int]]:
    return sorted((s.at, s.depths[queue]) for s in samples if queue in s.depths)


def backlog_span(
    samples: Sequence[QueueSample],
    queue: str,
    threshold: int | None,
    detected: datetime,
    end: datetime,
) -> BacklogSpan:
    """:class:`BacklogSpan` of ``queue`` for an incident detected at ``detected`` and
    ended (resolved, or now) at ``end``. Without a threshold (a rule that is not about
    depth) or a sample above it, both times are None."""
    if threshold is None:
        return BacklogSpan(None, None)
    points = [p for p in _points(samples, queue) if p[0] <= end]
    before = [p for p in points if p[0] <= detected]
    began: datetime | None = None
    index = len(before) - 1
    while index >= 0 and before[index][1] > threshold:
        began = before[index][0]
        index -= 1
    early = began is not None and index < 0
    start = began or detected
    during = [p for p in points if p[0] >= start]
    above = [i for i, (_, depth) in enumerate(during) if depth > threshold]
    if not above:
        return BacklogSpan(began, None, early)
    last = above[-1]
    recovered = during[last + 1][0] if last + 1 < len(during) else None
    return BacklogSpan(began, recovered, early)


def queue_figures(
    samples: Sequence[QueueSample],
    queues: Sequence[str],
    thresholds: Mapping[str, int],
    start: datetime,
    end: datetime,
) -> list[QueueFigures]:
    """Each of ``queues`` with samples between ``start`` and ``end`` (inclusive):
    its peak (the first time it was reached) and time above its threshold."""
    figures = []
    for queue in queues:
        points = [p for p in _points(samples, queue) if start <= p[0] <= end]
        if not points:
            continue
        peak_at, peak = points[0]
        for at, depth in points:
            if depth > peak:
                peak_at, peak = at, depth
        threshold = thresholds.get(queue)
        above = timedelta(0)
        if threshold is not None:
            for (at, depth), (later, _) in itertools.pairwise(points):
                if depth > threshold:
                    above += later - at
        figures.append(QueueFigures(queue, peak, peak_at, threshold, above, len(points)))
    return figures


def net_rate(
    samples: Sequence[QueueSample], queue: str, start: datetime, end: datetime
) -> float | None:
    """The queue's net change in jobs per minute from ``start`` up to (not including)
    ``end`` (least-squares slope: positive while it grows, negative while it drains), None
    with fewer than :data:`RATE_MIN_SAMPLES` samples there. Depth alone cannot tell
    arrivals from work done: this is what the workers cleared minus what arrived."""
    points = [p for p in _points(samples, queue) if start <= p[0] < end]
    if len(points) < RATE_MIN_SAMPLES:
        return None
    origin = points[0][0]
    minutes = [(at - origin).total_seconds() / 60 for at, _ in points]
    if len(set(minutes)) < 2:
        return None
    depths = [float(depth) for _, depth in points]
    return float(statistics.linear_regression(minutes, depths).slope)
