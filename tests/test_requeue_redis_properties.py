"""Stuck-job scan and requeue against a real Redis: properties over random mixes
of jobs and batch sizes (every id in one place; scan and requeue agree).

The invariant behind every test: after any requeue, finished, concurrent or killed,
each job id is in the processing set or in the queue exactly once.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.queues.requeue import (
    scan_stuck,
)
from tests.requeue_scenario import (
    MALFORMED_VALUES,
    THRESHOLD,
    Jobs,
    Keys,
    assert_each_id_once,
    placement,
    requeue,
    seed,
    server_now,
)

JOB_KINDS = st.sampled_from(["fresh", "stale", "missing", "malformed"])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kinds=st.lists(JOB_KINDS, max_size=60),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=3),
)
async def test_property_every_id_ends_in_exactly_one_place(
    redis_client: aioredis.Redis, kinds: list[str], batch_sizes: list[int]
) -> None:
    keys, jobs = Keys(), Jobs()
    for i, kind in enumerate(kinds):
        getattr(jobs, kind).append(f"{kind}-{i}")
    await seed(redis_client, keys, jobs)
    try:
        # One to three requeues at once, each with its own batch size.
        results = await asyncio.gather(
            *(requeue(redis_client, keys, batch_size=size) for size in batch_sizes)
        )
        await assert_each_id_once(redis_client, keys, jobs.every)
        queue, members = await placement(redis_client, keys)
        assert set(queue) == jobs.stuck and set(members) == jobs.left
        assert sum(r.moved for r in results) == len(jobs.stuck)
        assert results[0].malformed == len(jobs.malformed)
    finally:
        await redis_client.delete(keys.processing, keys.queue)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    heartbeats=st.lists(
        st.one_of(
            st.none(),
            st.sampled_from(MALFORMED_VALUES),
            st.text(alphabet="0123456789.-e+x ", max_size=12),
            st.integers(min_value=-7200, max_value=7200).filter(lambda a: abs(a - 600) > 60),
            st.floats(min_value=0, max_value=7200).filter(lambda a: abs(a - 600) > 60),
        ),
        max_size=25,
    )
)
async def test_property_scan_and_requeue_agree_on_what_is_stuck(
    redis_client: aioredis.Redis, heartbeats: list[str | int | float | None]
) -> None:
    """Python (the scan) and Lua (the requeue) read heartbeats with the same grammar."""
    keys = Keys()
    now = await server_now(redis_client)
    ids = [f"job-{i}" for i in range(len(heartbeats))]
    for job_id, heartbeat in zip(ids, heartbeats, strict=True):
        await redis_client.sadd(keys.processing, job_id)
        if isinstance(heartbeat, str):
            await redis_client.set(keys.heartbeat_of(job_id), heartbeat)
        elif heartbeat is not None:  # an age in seconds
            await redis_client.set(keys.heartbeat_of(job_id), repr(now - heartbeat))
    try:
        scan = await scan_stuck(
            redis_client,
            processing_set=keys.processing,
            heartbeat_key=keys.heartbeat,
            older_than_seconds=THRESHOLD,
            sample_size=100,
        )
        result = await requeue(redis_client, keys)
        moved = set(await redis_client.lrange(keys.queue, 0, -1))
        assert moved == set(scan.sample_ids)
        assert result.malformed == scan.malformed_count
        assert set(result.malformed_sample) <= set(scan.malformed)
    finally:
        await redis_client.delete(keys.processing, keys.queue)
        if ids:
            await redis_client.delete(*(keys.heartbeat_of(job_id) for job_id in ids))
