"""Where a queue is heading: a least-squares trend over the recent samples."""

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
    queue: str
    depth: int
    per_minute: float  # positive: growing
    threshold: int | None
    crosses_threshold_in: timedelta | None
    empty_in: timedelta | None

    def describe(self) -> str:
        line = f"`{self.queue}`: {self.depth:,}"
        if abs(self.per_minute) < 1:
            return line + ", flat"
        if self.per_minute > 0:
            line += f", growing {self.per_minute:,.0f}/min"
            if self.crosses_threshold_in is not None and self.threshold is not None:
                line += (
                    f" → above {self.threshold:,} in ~{format_duration(self.crosses_threshold_in)}"
                )
            return line
        line += f", draining {-self.per_minute:,.0f}/min"
        if self.empty_in is not None:
            line += f" → empty in ~{format_duration(self.empty_in)}"
        return line


def forecast_queue(
    samples: Sequence[QueueSample], queue: str, threshold: int | None
) -> QueueForecast | None:
    """None with fewer than three samples: two points make a line, not a trend."""
    points = [
        (s.at, s.depths[queue]) for s in sorted(samples, key=lambda s: s.at) if queue in s.depths
    ]
    if len(points) < MIN_SAMPLES:
        return None
    slope = _slope_per_minute(points)
    depth = points[-1][1]
    crosses = None
    if threshold is not None and slope > 0 and depth <= threshold:
        crosses = timedelta(minutes=(threshold - depth) / slope)
    empty = timedelta(minutes=depth / -slope) if slope < 0 else None
    return QueueForecast(queue, depth, slope, threshold, crosses, empty)


def _slope_per_minute(points: Sequence[tuple[datetime, int]]) -> float:
    t0 = points[0][0]
    xs = [(at - t0).total_seconds() / 60 for at, _ in points]
    ys = [float(depth) for _, depth in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def recommend_workers(
    forecast: QueueForecast,
    *,
    jobs_per_worker_minute: int,
    drain_within: timedelta,
    min_workers: int,
    max_workers: int,
) -> int:
    """The runbook's rule: enough workers to clear the backlog expected at the end of
    the drain window within that window, between ``min_workers`` and ``max_workers``."""
    minutes = drain_within.total_seconds() / 60
    expected = max(forecast.depth + forecast.per_minute * minutes, 0)
    needed = math.ceil(expected / (jobs_per_worker_minute * minutes))
    return max(min_workers, min(needed, max_workers))
