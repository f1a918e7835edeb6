"""Where a queue is heading: a least-squares trend over the recent samples, and the
times it implies (until the queue empties, until it crosses its alert threshold).

The worker count the trend calls for is :mod:`bot.domain.capacity`'s job; the
hour-of-week prediction is :mod:`bot.domain.weekly`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.models import QueueSample
from bot.domain.report import format_duration

MIN_SAMPLES = 3


@dataclass(frozen=True)
class QueueForecast:
    """A queue's latest depth and its trend.

    ``per_minute`` is the least-squares slope in jobs per minute (positive: growing);
    ``slope_error`` its standard error in the same unit (``inf`` with fewer than three
    points); ``observed_for`` the time between the first and last sample used.
    """

    queue: str
    depth: int
    per_minute: float  # positive: growing
    threshold: int | None
    crosses_threshold_in: timedelta | None
    empty_in: timedelta | None
    slope_error: float = 0.0
    observed_for: timedelta = timedelta(0)
    samples: int = 0

    def describe(self) -> str:
        line = f"`{self.queue}`: {self.depth:,}"
        if abs(self.per_minute) < 1:
            return line + ", flat"
        if self.per_minute > 0:
            line += f", growing {self.per_minute:,.0f}/min"
            if self.crosses_threshold_in is not None and self.threshold is not None:
                if self.crosses_threshold_in:
                    line += f" → above {self.threshold:,} in ~" + format_duration(
                        self.crosses_threshold_in
                    )
                else:
                    line += f" (above {self.threshold:,})"
            return line
        line += f", draining {-self.per_minute:,.0f}/min"
        if self.empty_in is not None:
            line += f" → empty in ~{format_duration(self.empty_in)}"
        return line


def drain_time(depth: int, per_minute: float) -> timedelta | None:
    """How long until a queue of ``depth`` jobs empties at the net rate ``per_minute``
    (jobs/min, negative: draining); None when it is not draining. A straight-line
    projection: it assumes arrivals and workers stay as they are."""
    if per_minute >= 0:
        return None
    return timedelta(minutes=max(depth, 0) / -per_minute)


def time_to_breach(depth: int, per_minute: float, threshold: int) -> timedelta | None:
    """How long until a queue of ``depth`` jobs growing at ``per_minute`` (jobs/min)
    goes above ``threshold``; ``timedelta(0)`` when it already is, None when it is
    below and not growing. A straight-line projection, like :func:`drain_time`."""
    if depth > threshold:
        return timedelta(0)
    if per_minute <= 0:
        return None
    return timedelta(minutes=(threshold - depth) / per_minute)


def forecast_queue(
    samples: Sequence[QueueSample], queue: str, threshold: int | None
) -> QueueForecast | None:
    """The trend of ``queue`` over ``samples`` (any order); None with fewer than three
    samples of it: two points make a line, not a trend."""
    points = [
        (s.at, s.depths[queue]) for s in sorted(samples, key=lambda s: s.at) if queue in s.depths
    ]
    if len(points) < MIN_SAMPLES:
        return None
    slope, error = _fit_per_minute(points)
    depth = points[-1][1]
    crosses = time_to_breach(depth, slope, threshold) if threshold is not None else None
    return QueueForecast(
        queue,
        depth,
        slope,
        threshold,
        crosses,
        drain_time(depth, slope),
        slope_error=error,
        observed_for=points[-1][0] - points[0][0],
        samples=len(points),
    )


def _fit_per_minute(points: Sequence[tuple[datetime, int]]) -> tuple[float, float]:
    """Least-squares slope (jobs/min) and its standard error (the usual
    ``sqrt(SSE / (n - 2) / Sxx)``)."""
    t0 = points[0][0]
    xs = [(at - t0).total_seconds() / 60 for at, _ in points]
    ys = [float(depth) for _, depth in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, math.inf
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    sse = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, math.sqrt(sse / (len(points) - 2) / sxx)
