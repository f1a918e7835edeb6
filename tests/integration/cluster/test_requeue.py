"""Requeue on a real three-master Redis Cluster: atomic with hash tags, journaled without.

The invariant behind every test: after any requeue each job id is in the processing
set or in the queue, exactly once, with no worker around to take it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import RedisFault
from bot.adapters.queues.journaled import JournaledRequeue
from bot.adapters.queues.keys import HeartbeatKeys, batch_marker, slot_of
from bot.adapters.queues.requeue import RedisUnavailable, requeue_stuck
from bot.adapters.store import Store
from bot.domain.requeue import format_requeue_result
from bot.domain.requeue_journal import RequeueMode
from tests.integration.cluster.helpers import (
    MALFORMED_VALUES,
    THRESHOLD,
    ClusterKeys,
    assert_each_id_once,
    hash_tagged_keys,
    keys_on_different_nodes,
    make_jobs,
    needs_cluster,
    placement,
    seed,
)
from tests.redis_servers import PrivateCluster

pytestmark = needs_cluster


async def requeue(
    client: RedisClient, keys: ClusterKeys, *, journal: Store | None, batch_size: int = 500
) -> Any:
    return await requeue_stuck(
        client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        batch_size=batch_size,
        journal=journal,
    )


async def journal_rows(store: Store) -> int:
    return int(await store.pool.fetchval("SELECT count(*) FROM requeue_batches"))


async def test_hash_tagged_keys_requeue_atomically_without_any_journal(
    redis_cluster: PrivateCluster, cluster_client: RedisClient
) -> None:
    keys = hash_tagged_keys()
    jobs = make_jobs(fresh=5, stale=40, missing=25, malformed=10)
    await seed(cluster_client, keys, jobs)
    # Every key of the requeue is on one node, whichever it is.
    assert len({slot_of(keys.processing), slot_of(keys.queue), slot_of(keys.heartbeat)}) == 1

    result = await requeue(cluster_client, keys, journal=None, batch_size=16)

    assert result.mode is RequeueMode.ATOMIC
    assert (result.moved, result.still_running, result.malformed) == (65, 5, 10)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == jobs.stuck and set(members) == jobs.left
    await assert_each_id_once(cluster_client, keys, jobs.every)
    assert "journaled" not in format_requeue_result(result)


async def test_keys_in_different_slots_requeue_journaled_and_nothing_is_lost(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=30, stale=120, missing=80, malformed=10)
    await seed(cluster_client, keys, jobs)

    result = await requeue(cluster_client, keys, journal=store, batch_size=25)

    assert result.mode is RequeueMode.JOURNALED
    assert (result.moved, result.still_running, result.malformed) == (200, 30, 10)
    assert (result.skipped_renewed, result.taken_again, result.left_early) == (0, 0, 0)
    assert set(result.malformed_sample) <= set(jobs.malformed)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == jobs.stuck and set(members) == jobs.left
    await assert_each_id_once(cluster_client, keys, jobs.every)
    untyped: Any = cluster_client
    # Moved ids lost their heartbeat; the others kept theirs; no journal row, no marker.
    assert not await untyped.exists(*(keys.heartbeat_of(job) for job in jobs.stale))
    kept = [await untyped.get(keys.heartbeat_of(job)) for job in jobs.malformed]
    assert kept == MALFORMED_VALUES
    assert await journal_rows(store) == 0
    assert not [key async for key in _markers(cluster_client, keys)]
    said = format_requeue_result(result)
    assert said.startswith(f"moved 200 onto `{keys.queue}`")
    assert "journaled (the keys are in different Redis Cluster hash slots)" in said


async def _markers(client: RedisClient, keys: ClusterKeys) -> Any:
    """The batch markers left beside this test's queue."""
    untyped: Any = client
    async for key in untyped.scan_iter(match=batch_marker(keys.queue, "*")):
        yield key


async def test_without_a_journal_the_cross_slot_requeue_is_refused_in_words(
    redis_cluster: PrivateCluster, cluster_client: RedisClient
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    await seed(cluster_client, keys, make_jobs(stale=3))
    with pytest.raises(RedisUnavailable) as caught:
        await requeue(cluster_client, keys, journal=None)
    said = str(caught.value)
    assert caught.value.fault is RedisFault.CROSSSLOT
    assert "different Redis Cluster hash slots" in said and said.endswith("Nothing was moved.")
    assert (await placement(cluster_client, keys))[0] == {}


async def test_only_one_journaled_requeue_of_a_set_runs_at_a_time(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(stale=50)
    await seed(cluster_client, keys, jobs)
    store.requeue_lock_wait_seconds = 0.2

    async with store.requeue_lock(keys.processing) as held:
        assert held
        with pytest.raises(RedisUnavailable) as caught:
            await requeue(cluster_client, keys, journal=store)

    said = str(caught.value)
    assert caught.value.fault is RedisFault.REQUEUE_RUNNING
    assert said.startswith(f"Another requeue of `{keys.processing}` is running")
    assert "This one moved nothing." in said
    assert (await placement(cluster_client, keys))[0] == {}
    # Once the other has finished, it runs.
    assert (await requeue(cluster_client, keys, journal=store)).moved == 50


async def test_two_journaled_requeues_at_once_move_each_id_once(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=20, stale=300, missing=100)
    await seed(cluster_client, keys, jobs)
    store.requeue_lock_wait_seconds = 0.01  # the second is refused, not queued behind

    outcomes = await asyncio.gather(
        requeue(cluster_client, keys, journal=store, batch_size=20),
        requeue(cluster_client, keys, journal=store, batch_size=30),
        return_exceptions=True,
    )

    finished = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, RedisUnavailable)]
    assert len(finished) + len(refused) == 2 and finished
    assert all(error.fault is RedisFault.REQUEUE_RUNNING for error in refused)
    assert sum(result.moved for result in finished) == 400
    await assert_each_id_once(cluster_client, keys, jobs.every)


async def test_an_id_listed_twice_in_one_batch_is_pushed_once(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    # SSCAN may list an id twice (while the set rehashes); here it happens on purpose.
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(missing=2)
    await seed(cluster_client, keys, jobs)
    run = JournaledRequeue(
        cluster_client,
        processing_set=keys.processing,
        keys=HeartbeatKeys(keys.heartbeat),
        target_queue=keys.queue,
        threshold=THRESHOLD,
        clock=time.monotonic,
        journal=store,
    )

    async with run.session():
        await run.batch([b"missing-0", b"missing-1", b"missing-0"])

    result = run.result()
    assert (result.examined, result.moved, result.skipped_gone) == (3, 2, 1)
    await assert_each_id_once(cluster_client, keys, jobs.every)
