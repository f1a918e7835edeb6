"""What a queue usually looks like at a given hour of the week.

The runbook's "Predictive Scaling" method (``QueuePredictor.predict_queue_size``):
the mean depth of past samples with the same weekday and hour. Here over the
bot's hourly averages (raw samples for 48 h, hourly rollups for 90 days), with two
things the runbook's sketch leaves out: it says how much history it used and how
far apart the weeks were, and it refuses to guess (less than one full week of
history, or an hour of the week never seen) instead of returning ``NaN``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

WEEK = timedelta(days=7)
HOURS_PER_WEEK = 168

#: Depth-weighted spread between weeks (standard deviation / mean) up to which a
#: prediction is called good, then fair; above: poor. Our own cut-offs: within 15 %
#: the week-to-week variation is smaller than one worker's worth at most depths.
GOOD_SPREAD = 0.15
FAIR_SPREAD = 0.35


@dataclass(frozen=True)
class HourlyDepth:
    """One queue's depth over one hour: ``hour`` is the hour's start (timezone-aware),
    ``avg_depth``/``max_depth`` in jobs over ``samples`` samples."""

    hour: datetime
    avg_depth: float
    max_depth: int
    samples: int = 1


@dataclass(frozen=True)
class HourForecast:
    """The predicted mean depth (jobs) of the hour starting ``at``; ``depth`` is None
    when that hour of the week was never seen, ``spread`` (standard deviation between
    the weeks, jobs) None when only one week saw it."""

    at: datetime
    depth: float | None
    spread: float | None
    weeks: int


class Reliability(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    UNKNOWN = "unknown"  # every hour used was seen in one week only


@dataclass(frozen=True)
class WeeklyForecast:
    """The next hours of one queue by hour of week. ``hours`` is empty when there is
    less than one full week of ``history``; ``slots_seen`` counts the hours of the
    week (of 168) with at least one stored hour."""

    queue: str
    history: timedelta
    slots_seen: int
    hours: tuple[HourForecast, ...]

    @property
    def enough_history(self) -> bool:
        return self.history >= WEEK

    @property
    def predicted(self) -> tuple[HourForecast, ...]:
        return tuple(h for h in self.hours if h.depth is not None)

    @property
    def unseen(self) -> tuple[HourForecast, ...]:
        return tuple(h for h in self.hours if h.depth is None)

    @property
    def peak(self) -> HourForecast | None:
        return max(self.predicted, key=lambda h: h.depth or 0.0, default=None)

    @property
    def spread(self) -> float | None:
        """Depth-weighted spread between weeks over the predicted hours seen in two or
        more weeks: sum of standard deviations / sum of means (0.1 = weeks differ by
        about ±10 %); None when no such hour."""
        pairs = [(h.spread, h.depth) for h in self.predicted if h.spread is not None]
        if not pairs:
            return None
        total = sum(depth or 0.0 for _, depth in pairs)
        return sum(s for s, _ in pairs) / total if total else 0.0

    @property
    def reliability(self) -> Reliability:
        spread = self.spread
        if spread is None:
            return Reliability.UNKNOWN
        if spread <= GOOD_SPREAD:
            return Reliability.GOOD
        return Reliability.FAIR if spread <= FAIR_SPREAD else Reliability.POOR

    def describe(self) -> str:
        """One sentence: how much history, how many slots, how reliable."""
        if not self.enough_history:
            return (
                f"only {format_history(self.history)} of history: an hour-of-week "
                "prediction needs at least one full week, so none yet"
            )
        text = (
            f"from {format_history(self.history)} of history, {self.slots_seen} of "
            f"{HOURS_PER_WEEK} hour-of-week slots seen"
        )
        spread = self.spread
        if spread is None:
            return text + "; each hour seen in one week only, so its reliability is unknown"
        return text + f"; weeks differ by ±{spread:.0%} ({self.reliability.value})"


def predict_next_hours(
    queue: str,
    history: Sequence[HourlyDepth],
    now: datetime,
    *,
    hours: int = 24,
    tz: tzinfo = UTC,
) -> WeeklyForecast:
    """The mean depth of each of the ``hours`` whole hours after ``now`` from the
    stored hours of the same weekday and hour (in ``tz``) before ``now``'s hour.

    Hours are matched on their start in ``tz``; the rollups are cut at whole UTC
    hours, so a zone with a half-hour offset matches the hour it overlaps most.
    """
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    past = [h for h in history if h.hour < this_hour]
    if not past:
        return WeeklyForecast(queue, timedelta(0), 0, ())
    by_slot: dict[tuple[int, int], list[float]] = defaultdict(list)
    for point in past:
        by_slot[_slot(point.hour, tz)].append(point.avg_depth)
    span = this_hour - min(h.hour for h in past)
    if span < WEEK:
        return WeeklyForecast(queue, span, len(by_slot), ())
    ahead = []
    for i in range(1, hours + 1):
        at = (this_hour + timedelta(hours=i)).astimezone(tz)
        seen = by_slot.get(_slot(at, tz), [])
        ahead.append(
            HourForecast(
                at=at,
                depth=statistics.fmean(seen) if seen else None,
                spread=statistics.stdev(seen) if len(seen) > 1 else None,
                weeks=len(seen),
            )
        )
    return WeeklyForecast(queue, span, len(by_slot), tuple(ahead))


def _slot(at: datetime, tz: tzinfo) -> tuple[int, int]:
    local = at.astimezone(tz)
    return local.weekday(), local.hour


def format_history(span: timedelta) -> str:
    """``6 weeks``, ``2 weeks 3 days``, ``5 days``, ``7 hours``, ``under an hour``."""
    days = span.days
    if span < timedelta(hours=1):
        return "under an hour"
    if days >= 14:
        weeks, rest = divmod(days, 7)
        return f"{weeks} weeks" + (f" {_plural(rest, 'day')}" if rest else "")
    if days >= 1:
        return _plural(days, "day")
    return _plural(int(span.total_seconds() // 3600), "hour")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
