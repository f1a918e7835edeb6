from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.forecast import forecast_queue
from bot.domain.models import QueueSample

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def series(*depths: int) -> list[QueueSample]:
    return [QueueSample(T0 + timedelta(minutes=i), {"q": d}) for i, d in enumerate(depths)]


def test_growing_queue_crosses_its_threshold():
    forecast = forecast_queue(series(400, 500, 600, 700), "q", 1000)
    assert forecast.per_minute == 100
    assert forecast.crosses_threshold_in == timedelta(minutes=3)
    assert forecast.describe() == "`q`: 700, growing 100/min → above 1,000 in ~3m"


def test_draining_queue_empties():
    forecast = forecast_queue(series(900, 600, 300, 300, 0)[:4], "q", 1000)
    assert forecast.per_minute < 0
    assert forecast.describe().startswith("`q`: 300, draining 210/min → empty in ~1m")


def test_flat_and_too_few_samples():
    assert forecast_queue(series(5, 5, 5), "q", 1000).describe() == "`q`: 5, flat"
    assert forecast_queue(series(5, 9), "q", 1000) is None


def test_runbook_capacity_model_recommends_workers():
    from bot.domain.forecast import recommend_workers

    def workers(*depths: int) -> int:
        return recommend_workers(
            forecast_queue(series(*depths), "q", 1000),
            jobs_per_worker_minute=50,
            drain_within=timedelta(minutes=10),
            min_workers=2,
            max_workers=20,
        )

    # 3,000 now, growing 100/min → 4,000 expected in 10 min → 4,000 / 500 = 8 workers
    assert workers(2700, 2800, 2900, 3000) == 8
    assert workers(10, 10, 10) == 2  # never below the runbook's floor of 2
    assert workers(50000, 50000, 50000) == 20  # never above the cap
