"""A journaled requeue interrupted at every step, and what recovery makes of it.

First each crash state is built exactly (the protocol's own steps, stopped where a
crash would stop them), then real crashes: a requeue in a subprocess SIGKILLed at
random points, over and over. After recovery every id is in exactly one place.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.journaled import JournaledSteps, recover_requeue
from bot.adapters.queues.keys import batch_marker
from bot.adapters.queues.requeue import requeue_stuck
from bot.adapters.store import Store
from bot.domain.requeue import format_requeue_result
from bot.domain.requeue_journal import JournaledBatch, MarkerState, Removal
from tests.integration.cluster.helpers import (
    THRESHOLD,
    ClusterKeys,
    assert_each_id_once,
    keys_on_different_nodes,
    make_jobs,
    needs_cluster,
    placement,
    seed,
)
from tests.redis_servers import PrivateCluster

pytestmark = needs_cluster
REPO = Path(__file__).resolve().parents[3]


def batch_of(keys: ClusterKeys, ids: list[str]) -> JournaledBatch:
    batch_id = uuid.uuid4()
    return JournaledBatch(
        id=batch_id,
        run_id=uuid.uuid4(),
        processing_set=keys.processing,
        target_queue=keys.queue,
        heartbeat_key=keys.heartbeat,
        marker_key=batch_marker(keys.queue, str(batch_id)),
        job_ids=tuple(job_id.encode() for job_id in ids),
    )


async def journaled_and_pushed(
    client: RedisClient, store: Store, keys: ClusterKeys, ids: list[str]
) -> tuple[JournaledSteps, JournaledBatch]:
    """Steps 3 and 4 done, then the crash: the ids are in the set and the queue."""
    steps = JournaledSteps(client, store)
    batch = batch_of(keys, ids)
    await steps.record(batch)
    assert await steps.push(batch) is MarkerState.PUSHED
    return steps, batch


async def test_a_batch_journaled_but_not_pushed_is_given_up_for_good(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(missing=12)
    await seed(cluster_client, keys, jobs)
    steps = JournaledSteps(cluster_client, store)
    batch = batch_of(keys, jobs.missing)
    await steps.record(batch)  # then the crash, before the push

    outcome = await recover_requeue(cluster_client, store, keys.processing)

    assert (outcome.abandoned, outcome.abandoned_ids, outcome.finished) == (1, 12, 0)
    assert await store.unfinished_requeue_batches(keys.processing) == []
    untyped: Any = cluster_client
    assert await untyped.get(batch.marker_key) == "abandoned"
    # A push from a process that only stalled finds the batch given up, and does nothing.
    assert await steps.push(batch) is MarkerState.ABANDONED
    queue, members = await placement(cluster_client, keys)
    assert queue == {} and set(members) == jobs.stuck


async def test_a_batch_pushed_but_not_removed_is_finished(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=4, missing=20)
    await seed(cluster_client, keys, jobs)
    _, batch = await journaled_and_pushed(cluster_client, store, keys, jobs.missing)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == set(members) - set(jobs.fresh) == jobs.stuck  # in both, none in neither

    outcome = await recover_requeue(cluster_client, store, keys.processing)

    assert (outcome.finished, outcome.abandoned) == (1, 0)
    assert outcome.removal == Removal(removed=20)
    await assert_each_id_once(cluster_client, keys, jobs.every)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == jobs.stuck and set(members) == set(jobs.fresh)
    untyped: Any = cluster_client
    assert not await untyped.exists(batch.marker_key)
    assert await store.unfinished_requeue_batches(keys.processing) == []
    # Recovering again finds nothing to do.
    assert (await recover_requeue(cluster_client, store, keys.processing)).batches == 0


async def test_a_pushed_id_a_worker_took_stays_in_the_set_for_that_worker(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(missing=6)
    await seed(cluster_client, keys, jobs)
    await journaled_and_pushed(cluster_client, store, keys, jobs.missing)
    # A worker pops the oldest pushed id, marks it in flight and heartbeats.
    untyped: Any = cluster_client
    taken = await untyped.rpop(keys.queue)
    await untyped.sadd(keys.processing, taken)
    await untyped.set(keys.heartbeat_of(taken), int((await untyped.time())[0]))

    outcome = await recover_requeue(cluster_client, store, keys.processing)

    assert outcome.removal == Removal(removed=5, taken_again=1)
    queue, members = await placement(cluster_client, keys)
    assert set(members) == {taken} and set(queue) == jobs.stuck - {taken}
    await assert_each_id_once(cluster_client, keys, jobs.every)


async def test_a_job_its_worker_finished_between_push_and_remove_is_counted_as_running_twice(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(missing=6)
    await seed(cluster_client, keys, jobs)
    await journaled_and_pushed(cluster_client, store, keys, jobs.missing)
    untyped: Any = cluster_client
    await untyped.srem(keys.processing, "missing-3")  # its worker, thought dead, finishes it

    outcome = await recover_requeue(cluster_client, store, keys.processing)

    # The weaker guarantee, seen and counted: the queued copy will run it again.
    assert outcome.removal == Removal(removed=5, left_early=1)
    queue, members = await placement(cluster_client, keys)
    assert members == {} and set(queue) == jobs.stuck


class WorkerFinishesAfterTheJournal:
    """The bot's real journal (PostgreSQL), with a worker that finishes one job of each
    batch right after the batch is journaled, before its push: the narrowest case of a
    job that will run twice."""

    def __init__(self, store: Store, client: RedisClient, keys: ClusterKeys) -> None:
        self._store = store
        self._client: Any = client
        self._keys = keys
        self.finished: list[bytes] = []

    def requeue_lock(self, processing_set: str) -> Any:
        return self._store.requeue_lock(processing_set)

    async def journal_requeue_batch(self, batch: JournaledBatch) -> None:
        await self._store.journal_requeue_batch(batch)
        job_id = batch.job_ids[0]
        await self._client.srem(self._keys.processing, job_id)
        self.finished.append(job_id)

    async def finish_requeue_batch(self, batch_id: uuid.UUID) -> None:
        await self._store.finish_requeue_batch(batch_id)

    async def unfinished_requeue_batches(self, processing_set: str) -> list[JournaledBatch]:
        return await self._store.unfinished_requeue_batches(processing_set)


async def test_the_requeue_says_how_many_jobs_may_run_twice(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(stale=30)
    await seed(cluster_client, keys, jobs)
    journal = WorkerFinishesAfterTheJournal(store, cluster_client, keys)

    result = await requeue_stuck(
        cluster_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        batch_size=10,
        journal=journal,
    )

    assert (result.moved, result.left_early) == (30, 3) and len(journal.finished) == 3
    assert "3 of them had left the set before the removal" in format_requeue_result(result)
    assert "may run twice" in format_requeue_result(result)


# --- real crashes --------------------------------------------------------------------------------


async def killed_mid_requeue(
    cluster: PrivateCluster, database_url: str, keys: ClusterKeys, *, batch: int, after: int
) -> int | None:
    """Runs the journaled requeue in a subprocess and SIGKILLs it once it has reported
    ``after`` batches (plus a random few milliseconds): wherever it then is. Returns the
    exit status (None if it finished first)."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "tests" / "requeue_worker.py"),
        cluster.url(),
        keys.processing,
        keys.heartbeat,
        keys.queue,
        str(THRESHOLD),
        str(batch),
        database_url,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert worker.stdout is not None
    try:
        for _ in range(after):
            line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            if not line.startswith(b"progress"):
                break
        await asyncio.sleep(random.uniform(0, 0.004))
    finally:
        if worker.returncode is None:
            worker.kill()  # SIGKILL: mid-claim, mid-journal, mid-push, mid-remove...
        await worker.wait()
    return worker.returncode


@pytest.mark.timeout(300)  # a subprocess start is slow on a busy machine
async def test_sigkill_half_way_then_recovery_loses_and_doubles_nothing(
    redis_cluster: PrivateCluster, cluster_client: RedisClient, store: Store, migrated_database: str
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=100, stale=700, missing=400)
    await seed(cluster_client, keys, jobs)

    status = await killed_mid_requeue(
        redis_cluster, migrated_database, keys, batch=20, after=random.randrange(5, 25)
    )

    assert status == -signal.SIGKILL, "the worker must die mid-requeue"
    # Between the crash and the recovery an id may be in both places, never in neither.
    queue, members = await placement(cluster_client, keys)
    assert set(queue) | set(members) == jobs.every and max(queue.values()) == 1
    outcome = await recover_requeue(cluster_client, store, keys.processing)
    await assert_each_id_once(cluster_client, keys, jobs.every)
    assert outcome.batches <= 1  # batches run one after another: one can be cut short

    # Running it again finishes the job, still without losing or doubling anything.
    await requeue_stuck(
        cluster_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        journal=store,
    )
    await assert_each_id_once(cluster_client, keys, jobs.every)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == jobs.stuck and set(members) == set(jobs.fresh)


@pytest.mark.timeout(600)  # twelve subprocesses, each started and killed
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stuck=st.integers(min_value=1, max_value=120),
    fresh=st.integers(min_value=0, max_value=20),
    batch=st.integers(min_value=1, max_value=15),
    after=st.integers(min_value=0, max_value=10),
)
async def test_property_any_interruption_point_recovers_to_exactly_one_place(
    redis_cluster: PrivateCluster,
    cluster_client: RedisClient,
    store: Store,
    migrated_database: str,
    stuck: int,
    fresh: int,
    batch: int,
    after: int,
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=fresh, stale=stuck // 2, missing=stuck - stuck // 2)
    await seed(cluster_client, keys, jobs)

    await killed_mid_requeue(redis_cluster, migrated_database, keys, batch=batch, after=after)

    queue, members = await placement(cluster_client, keys)
    assert set(queue) | set(members) == jobs.every, "an id in neither place"
    assert not queue or max(queue.values()) == 1, "an id pushed twice"
    # The next requeue recovers first, then moves the rest.
    result = await requeue_stuck(
        cluster_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        journal=store,
    )
    await assert_each_id_once(cluster_client, keys, jobs.every)
    queue, members = await placement(cluster_client, keys)
    assert set(queue) == jobs.stuck and set(members) == set(jobs.fresh)
    assert result.recovered.batches <= 1
    assert await store.unfinished_requeue_batches(keys.processing) == []
