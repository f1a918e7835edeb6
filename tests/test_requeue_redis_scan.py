"""Stuck-job scan and requeue against a real Redis: the scan (counts, malformed
heartbeats, empty or missing sets, wrong-typed heartbeats).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.adapters.queues.requeue import (
    scan_stuck,
)
from tests.requeue_scenario import (
    THRESHOLD,
    Keys,
    make_jobs,
    requeue,
    seed,
)

HEARTBEAT = "heartbeat:{job_id}"


# --- scan ----------------------------------------------------------------------------------------


async def test_scan_counts_stuck_ids_and_reports_malformed_without_changing_anything(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=7, stale=5, missing=3, malformed=4)
    await seed(redis_client, keys, jobs)
    before = await redis_client.smembers(keys.processing)

    scan = await scan_stuck(
        redis_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        older_than_seconds=THRESHOLD,
        scan_count=4,
        sample_size=3,
    )

    assert (scan.scanned, scan.stuck) == (19, 8)
    assert (scan.stale_heartbeat, scan.missing_heartbeat) == (5, 3)
    assert scan.malformed_count == 4
    assert set(scan.malformed) <= set(jobs.malformed) and len(scan.malformed) == 3
    assert set(scan.sample_ids) <= jobs.stuck and len(scan.sample_ids) == 3
    # The oldest stale heartbeat was written 3604 s before the seed; allow for slow machines.
    assert scan.oldest_age_seconds is not None
    assert 3604 <= scan.oldest_age_seconds < 3604 + 60
    assert (scan.threshold_seconds, scan.processing_set) == (THRESHOLD, keys.processing)
    assert await redis_client.smembers(keys.processing) == before
    assert await redis_client.llen(keys.queue) == 0


async def test_scan_of_an_empty_or_missing_set(redis_client: aioredis.Redis) -> None:
    scan = await scan_stuck(
        redis_client,
        processing_set="nothing-here",
        heartbeat_key=HEARTBEAT,
        older_than_seconds=THRESHOLD,
    )
    assert (scan.scanned, scan.stuck, scan.oldest_age_seconds, scan.sample_ids) == (0, 0, None, ())


async def test_wrong_typed_heartbeat_is_malformed_for_scan_and_requeue(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(missing=1)
    await seed(redis_client, keys, jobs)
    await redis_client.sadd(keys.processing, "odd")
    await redis_client.hset(keys.heartbeat_of("odd"), "at", "1")

    scan = await scan_stuck(
        redis_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        older_than_seconds=THRESHOLD,
    )
    result = await requeue(redis_client, keys)

    assert (scan.stuck, scan.malformed) == (1, ("odd",))
    assert (result.moved, result.malformed, result.malformed_sample) == (1, 1, ("odd",))
    assert await redis_client.smembers(keys.processing) == {"odd"}
    assert await redis_client.hget(keys.heartbeat_of("odd"), "at") == "1"
