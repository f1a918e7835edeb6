from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.forecast import drain_time, forecast_queue, time_to_breach
from bot.domain.models import QueueSample

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def series(*depths: int) -> list[QueueSample]:
    return [QueueSample(T0 + timedelta(minutes=i), {"q": d}) for i, d in enumerate(depths)]


def test_growing_queue_crosses_its_threshold():
    forecast = forecast_queue(series(400, 500, 600, 700), "q", 1000)
    assert forecast.per_minute == 100
    assert forecast.crosses_threshold_in == timedelta(minutes=3)
    assert forecast.describe() == "`q`: 700, growing 100/min → above 1,000 in ~3m"
    assert (forecast.samples, forecast.observed_for, forecast.slope_error) == (
        4,
        timedelta(minutes=3),
        0.0,
    )


def test_growing_queue_already_above_its_threshold_says_so():
    forecast = forecast_queue(series(1100, 1200, 1300), "q", 1000)
    assert forecast.crosses_threshold_in == timedelta(0)
    assert forecast.describe() == "`q`: 1,300, growing 100/min (above 1,000)"


def test_draining_queue_empties():
    forecast = forecast_queue(series(900, 600, 300, 300, 0)[:4], "q", 1000)
    assert forecast.per_minute < 0
    assert forecast.describe().startswith("`q`: 300, draining 210/min → empty in ~1m")


def test_flat_and_too_few_samples():
    assert forecast_queue(series(5, 5, 5), "q", 1000).describe() == "`q`: 5, flat"
    assert forecast_queue(series(5, 9), "q", 1000) is None


def test_slope_error_measures_the_scatter_around_the_line():
    # Line 16.7 + 100/min; residuals +33.3, -66.7, +33.3: SSE 20,000/3, n - 2 = 1, Sxx = 2.
    forecast = forecast_queue(series(50, 50, 250), "q", None)
    assert forecast.per_minute == pytest.approx(100)
    assert forecast.slope_error == pytest.approx(math.sqrt(20_000 / 3 / 1 / 2))


def test_drain_time_at_the_net_rate():
    assert drain_time(4200, -300) == timedelta(minutes=14)
    assert drain_time(0, -50) == timedelta(0)
    assert drain_time(4200, 0) is None  # flat: never empties
    assert drain_time(4200, 180) is None  # growing


def test_time_to_breach_while_growing():
    assert time_to_breach(400, 100, 1000) == timedelta(minutes=6)
    assert time_to_breach(1000, 100, 1000) == timedelta(0)  # at the line: crossing now
    assert time_to_breach(1500, -100, 1000) == timedelta(0)  # already above
    assert time_to_breach(400, 0, 1000) is None
    assert time_to_breach(400, -20, 1000) is None
