"""Stuck-job scan and requeue against a real Redis: progress reports (throttled,
increasing, ending with the total; a failing callback does not stop the requeue).
"""

from __future__ import annotations

import itertools

import redis.asyncio as aioredis

from bot.domain.requeue import RequeueProgress
from tests.requeue_scenario import (
    Keys,
    assert_each_id_once,
    make_jobs,
    requeue,
    seed,
)

# --- progress ------------------------------------------------------------------------------------


class StepClock:
    """A clock that moves on by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_progress_is_throttled_increasing_and_ends_with_the_total(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=50, stale=250)
    await seed(redis_client, keys, jobs)
    clock = StepClock(step=0.25)
    updates: list[tuple[float, RequeueProgress]] = []

    async def on_progress(progress: RequeueProgress) -> None:
        updates.append((clock.now, progress))

    result = await requeue(
        redis_client,
        keys,
        batch_size=10,
        on_progress=on_progress,
        clock=clock,
        progress_interval_seconds=1.2,
    )

    dones = [progress.done for _, progress in updates]
    assert dones == sorted(set(dones)), "done must strictly increase"
    assert 2 < len(updates) < 30, "30 batches, so throttled but not silent"
    times = [at for at, _ in updates]
    # At most one update per 1.2 s; only the final one may come sooner.
    assert all(later - earlier >= 1.2 for earlier, later in itertools.pairwise(times[:-1]))
    final = updates[-1][1]
    assert (final.done, final.total, final.moved) == (300, 300, 250)
    assert result.moved == 250
    assert final.rate_per_second > 0


async def test_a_failing_progress_callback_does_not_stop_the_requeue(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(stale=30)
    await seed(redis_client, keys, jobs)

    async def broken(progress: RequeueProgress) -> None:
        raise RuntimeError("slack is down")

    result = await requeue(
        redis_client, keys, batch_size=5, on_progress=broken, progress_interval_seconds=0
    )

    assert result.moved == 30
    await assert_each_id_once(redis_client, keys, jobs.every)
