"""Stuck-job scan and requeue against a real Redis: what the requeue moves, with
heartbeats renewed mid-way, ids that are not UTF-8, concurrent requeues and a
SIGKILL mid-way.

The invariant behind every test: after any requeue, finished, concurrent or killed,
each job id is in the processing set or in the queue exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sys
from pathlib import Path

import redis.asyncio as aioredis

from bot.adapters.queues.requeue import (
    REQUEUE_LUA,
    requeue_stuck,
    scan_stuck,
)
from tests.requeue_scenario import (
    MALFORMED_VALUES,
    THRESHOLD,
    Keys,
    assert_each_id_once,
    make_jobs,
    placement,
    requeue,
    seed,
    server_now,
)

REPO = Path(__file__).resolve().parent.parent


# --- requeue -------------------------------------------------------------------------------------


async def test_requeue_moves_exactly_the_stale_and_missing_ids(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=6, stale=9, missing=4, malformed=10)
    await seed(redis_client, keys, jobs)

    result = await requeue_stuck(
        redis_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        batch_size=4,
    )

    queue, members = await placement(redis_client, keys)
    assert set(queue) == jobs.stuck and max(queue.values()) == 1
    assert set(members) == jobs.left
    assert (result.moved, result.skipped_renewed, result.skipped_gone) == (13, 0, 0)
    assert result.still_running == 6
    assert result.malformed == 10 and set(result.malformed_sample) <= set(jobs.malformed)
    assert (result.examined, result.target_queue) == (29, keys.queue)
    # Moved ids lose their heartbeat; the ones left keep theirs untouched.
    assert not await redis_client.exists(*(keys.heartbeat_of(j) for j in jobs.stale))
    kept = await redis_client.mget([keys.heartbeat_of(j) for j in jobs.malformed])
    assert kept == MALFORMED_VALUES


async def test_heartbeat_renewed_after_the_scan_keeps_the_job_in_the_set(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(stale=3)
    await seed(redis_client, keys, jobs)
    scan = await scan_stuck(
        redis_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        older_than_seconds=THRESHOLD,
    )
    assert scan.stuck == 3
    # The worker of stale-1 comes back to life while the operator approves.
    await redis_client.set(keys.heartbeat_of("stale-1"), await server_now(redis_client))

    result = await requeue(redis_client, keys)

    queue, members = await placement(redis_client, keys)
    assert set(queue) == {"stale-0", "stale-2"}
    assert set(members) == {"stale-1"}
    assert (result.moved, result.still_running, result.skipped_renewed) == (2, 1, 0)
    assert await redis_client.exists(keys.heartbeat_of("stale-1"))


class RenewsBeforeTheMove(aioredis.Redis):
    """A client that lets a worker heartbeat just before each requeue script runs.

    That is the narrowest race there is: the id was classified stuck a moment ago.
    """

    renew: str = ""

    async def execute_command(self, *args: object, **options: object) -> object:
        if args[0] == "EVALSHA" and args[1] == REQUEUE_SHA and self.renew:
            seconds, _ = await super().execute_command("TIME")
            await super().execute_command("SET", self.renew, seconds)
        return await super().execute_command(*args, **options)


REQUEUE_SHA = hashlib.sha1(REQUEUE_LUA.encode(), usedforsecurity=False).hexdigest()


async def test_heartbeat_renewed_between_the_check_and_the_move_is_left_alone(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys, jobs = Keys(), make_jobs(stale=3, missing=1)
    await seed(redis_client, keys, jobs)
    client = RenewsBeforeTheMove.from_url(redis_url, decode_responses=True)
    client.renew = keys.heartbeat_of("stale-2")
    try:
        result = await requeue(client, keys)
    finally:
        await client.aclose()

    assert (result.moved, result.skipped_renewed) == (3, 1)
    assert await redis_client.smembers(keys.processing) == {"stale-2"}
    await assert_each_id_once(redis_client, keys, jobs.every)


async def test_ids_that_are_not_utf8_round_trip_byte_for_byte(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys = Keys()
    odd_id = b"job-\xff\xfe-\x00-end"
    raw = aioredis.from_url(redis_url)
    try:
        await raw.sadd(keys.processing, odd_id, b"plain")
        scan = await scan_stuck(
            redis_client,
            processing_set=keys.processing,
            heartbeat_key=keys.heartbeat,
            older_than_seconds=THRESHOLD,
        )
        result = await requeue(redis_client, keys)
        assert sorted(await raw.lrange(keys.queue, 0, -1)) == sorted([odd_id, b"plain"])
    finally:
        await raw.aclose()
    assert scan.stuck == 2 and "job-\\xff\\xfe-\\x00-end" in scan.sample_ids
    assert result.moved == 2


async def test_two_concurrent_requeues_on_one_client_move_each_id_once(
    redis_client: aioredis.Redis,
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=300, stale=900, missing=600, malformed=30)
    await seed(redis_client, keys, jobs)

    first, second = await asyncio.gather(
        requeue(redis_client, keys, batch_size=40), requeue(redis_client, keys, batch_size=70)
    )

    assert first.moved + second.moved == len(jobs.stuck)
    await assert_each_id_once(redis_client, keys, jobs.every)
    queue, members = await placement(redis_client, keys)
    assert set(queue) == jobs.stuck and set(members) == jobs.left


async def test_two_requeues_on_separate_connections_move_each_id_once(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=200, stale=1500, missing=500)
    await seed(redis_client, keys, jobs)
    replicas = [aioredis.from_url(redis_url), aioredis.from_url(redis_url)]
    try:
        results = await asyncio.gather(*(requeue(c, keys, batch_size=50) for c in replicas))
    finally:
        for client in replicas:
            await client.aclose()

    assert sum(r.moved for r in results) == len(jobs.stuck)
    await assert_each_id_once(redis_client, keys, jobs.every)
    assert set(await redis_client.smembers(keys.processing)) == jobs.left


async def test_sigkill_during_a_large_requeue_loses_and_duplicates_nothing(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys, jobs = Keys(), make_jobs(fresh=2_000, stale=12_000, missing=6_000)
    await seed(redis_client, keys, jobs)
    batches = len(jobs.every) // 40
    kill_after = random.randrange(0, batches // 2)

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "tests" / "requeue_worker.py"),
        redis_url,
        keys.processing,
        keys.heartbeat,
        keys.queue,
        str(THRESHOLD),
        "40",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert worker.stdout is not None
    try:
        for _ in range(kill_after + 1):
            line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            assert line.startswith(b"progress"), line
    finally:
        worker.kill()  # SIGKILL, wherever it is: mid-script, mid-send, between batches
        await worker.wait()

    assert worker.returncode == -signal.SIGKILL, "the worker must die mid-requeue"
    await assert_each_id_once(redis_client, keys, jobs.every)
    queue, _ = await placement(redis_client, keys)
    assert len(queue) >= 40 * (kill_after + 1) - len(jobs.fresh)

    # Running it again finishes the job, still without losing or doubling anything.
    await requeue(redis_client, keys)
    await assert_each_id_once(redis_client, keys, jobs.every)
    queue, members = await placement(redis_client, keys)
    assert set(queue) == jobs.stuck and set(members) == set(jobs.fresh)
