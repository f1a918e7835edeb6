"""Stuck-job scan and requeue against a real Redis.

The invariant behind every test: after any requeue, finished, concurrent or killed,
each job id is in the processing set or in the queue exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import parse_url
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.adapters.queues.requeue import (
    REQUEUE_LUA,
    RedisUnavailable,
    requeue_stuck,
    scan_stuck,
)
from bot.domain.requeue import RequeueProgress, RequeueResult

THRESHOLD = 600.0
HEARTBEAT = "heartbeat:{job_id}"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Keys:
    """Key names of one scenario; unique so hypothesis examples never see each other."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def processing(self) -> str:
        return f"processing_jobs:{self.tag}"

    @property
    def queue(self) -> str:
        return f"email_processing_queue:{self.tag}"

    @property
    def heartbeat(self) -> str:
        return f"heartbeat:{self.tag}:{{job_id}}"

    def heartbeat_of(self, job_id: str) -> str:
        return self.heartbeat.replace("{job_id}", job_id)


@dataclass
class Jobs:
    fresh: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    @property
    def stuck(self) -> set[str]:
        return set(self.stale) | set(self.missing)

    @property
    def left(self) -> set[str]:
        return set(self.fresh) | set(self.malformed)

    @property
    def every(self) -> set[str]:
        return self.stuck | self.left


MALFORMED_VALUES = ["abc", "", "1e9", "0x10", " 17", "12:30", "1.", "+5", "9" * 40, "ninety"]


async def server_now(client: aioredis.Redis) -> int:
    seconds, _ = await client.time()
    return int(seconds)


async def seed(client: aioredis.Redis, keys: Keys, jobs: Jobs) -> None:
    """Put the jobs in the processing set with heartbeats as their kind says."""
    now = await server_now(client)
    pipe = client.pipeline(transaction=False)
    if jobs.every:
        pipe.sadd(keys.processing, *jobs.every)
    for i, job_id in enumerate(jobs.fresh):
        pipe.set(keys.heartbeat_of(job_id), now - 5 - i % 60)
    for i, job_id in enumerate(jobs.stale):
        pipe.set(keys.heartbeat_of(job_id), now - 3600 - i)
    for i, job_id in enumerate(jobs.malformed):
        pipe.set(keys.heartbeat_of(job_id), MALFORMED_VALUES[i % len(MALFORMED_VALUES)])
    await pipe.execute()


def make_jobs(fresh: int = 0, stale: int = 0, missing: int = 0, malformed: int = 0) -> Jobs:
    return Jobs(
        fresh=[f"fresh-{i}" for i in range(fresh)],
        stale=[f"stale-{i}" for i in range(stale)],
        missing=[f"missing-{i}" for i in range(missing)],
        malformed=[f"malformed-{i}" for i in range(malformed)],
    )


async def placement(client: aioredis.Redis, keys: Keys) -> tuple[Counter[str], Counter[str]]:
    """(queue contents, set contents) as multisets."""
    queue = await client.lrange(keys.queue, 0, -1)
    members = await client.smembers(keys.processing)
    return Counter(queue), Counter(members)


async def assert_each_id_once(client: aioredis.Redis, keys: Keys, ids: Iterable[str]) -> None:
    queue, members = await placement(client, keys)
    union = queue + members
    duplicated = {job_id for job_id, n in union.items() if n > 1}
    missing = set(ids) - set(union)
    assert not duplicated, f"ids in two places or pushed twice: {sorted(duplicated)[:10]}"
    assert not missing, f"ids lost: {sorted(missing)[:10]}"
    assert set(union) == set(ids)


async def requeue(
    client: aioredis.Redis,
    keys: Keys,
    *,
    batch_size: int = 500,
    on_progress: Callable[[RequeueProgress], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress_interval_seconds: float = 1.2,
) -> RequeueResult:
    return await requeue_stuck(
        client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        batch_size=batch_size,
        on_progress=on_progress,
        clock=clock,
        progress_interval_seconds=progress_interval_seconds,
    )


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


# --- failures ------------------------------------------------------------------------------------


class RedisProxy:
    """A TCP proxy in front of Redis; ``cut()`` makes Redis vanish for its clients."""

    def __init__(self, redis_url: str) -> None:
        self._target = parse_url(redis_url)
        self._links: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/{self._target.get('db', 0)}"

    def cut(self) -> None:
        assert self._server is not None
        self._server.close()  # new connections are refused
        for writer in self._links:
            writer.transport.abort()  # open ones are reset

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if "path" in self._target:
            server_r, server_w = await asyncio.open_unix_connection(self._target["path"])
        else:
            server_r, server_w = await asyncio.open_connection(
                self._target["host"], self._target["port"]
            )
        self._links += [client_w, server_w]
        await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_redis_vanishing_mid_requeue_reports_what_was_done(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys, jobs = Keys(), make_jobs(stale=400)
    await seed(redis_client, keys, jobs)
    progress_seen: list[RequeueProgress] = []

    proxy = RedisProxy(redis_url)
    client = aioredis.from_url(await proxy.start(), retry=Retry(NoBackoff(), 1))

    async def on_progress(progress: RequeueProgress) -> None:
        progress_seen.append(progress)
        if progress.done >= 100:
            proxy.cut()  # Redis goes away after a few batches

    try:
        with pytest.raises(RedisUnavailable) as caught:
            await requeue(
                client, keys, batch_size=50, on_progress=on_progress, progress_interval_seconds=0
            )
    finally:
        await client.aclose()

    error = caught.value
    assert error.partial is not None
    assert error.partial.moved == progress_seen[-1].moved >= 100
    assert error.unconfirmed in (0, 50)
    message = str(error)
    assert "Redis did not answer" in message and "No job was lost" in message
    assert f"{error.partial.moved:,} ids" in message and "127.0.0.1" not in message
    await assert_each_id_once(redis_client, keys, jobs.every)


async def test_unreachable_redis_is_reported_in_words_for_scan_and_requeue() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    keys = Keys()
    try:
        with pytest.raises(RedisUnavailable, match="Nothing was changed"):
            await scan_stuck(
                client,
                processing_set=keys.processing,
                heartbeat_key=keys.heartbeat,
                older_than_seconds=THRESHOLD,
            )
        with pytest.raises(RedisUnavailable, match="No job was lost") as caught:
            await requeue(client, keys)
    finally:
        await client.aclose()
    assert caught.value.partial is not None and caught.value.partial.moved == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 100_000}, "batch_size"),
        ({"older_than_seconds": 0}, "older_than_seconds"),
        ({"older_than_seconds": float("nan")}, "older_than_seconds"),
        ({"heartbeat_key": "heartbeat:"}, "{job_id}"),
    ],
)
async def test_bad_parameters_are_refused_before_touching_redis(
    redis_client: aioredis.Redis, options: dict[str, object], message: str
) -> None:
    keys, jobs = Keys(), make_jobs(stale=3)
    await seed(redis_client, keys, jobs)
    arguments: dict[str, object] = {
        "processing_set": keys.processing,
        "heartbeat_key": keys.heartbeat,
        "target_queue": keys.queue,
        "older_than_seconds": THRESHOLD,
        **options,
    }
    with pytest.raises(ValueError, match=message):
        await requeue_stuck(redis_client, **arguments)  # type: ignore[arg-type]
    assert await redis_client.scard(keys.processing) == 3


async def test_a_queue_of_the_wrong_type_moves_nothing(redis_client: aioredis.Redis) -> None:
    keys, jobs = Keys(), make_jobs(stale=3)
    await seed(redis_client, keys, jobs)
    await redis_client.set(keys.queue, "not a list")

    with pytest.raises(RedisUnavailable) as caught:
        await requeue(redis_client, keys)

    said = str(caught.value)
    assert said.startswith(f"Redis refused the command: `{keys.queue}` holds a string, not a list.")
    assert "stopped after moving 0 ids" in said and "may or may not" not in said
    assert caught.value.unconfirmed == 0

    assert set(await redis_client.smembers(keys.processing)) == jobs.stuck
    assert await redis_client.get(keys.queue) == "not a list"
