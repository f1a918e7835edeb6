"""Scenarios for the stuck-job scan and requeue tests against a real Redis: key names
unique to each scenario, jobs by kind (fresh, stale, missing or malformed heartbeat)
seeded with heartbeats from Redis' own clock, where each id ended up, and a requeue
with the tests' threshold.

The invariant the tests check with :func:`assert_each_id_once`: after any requeue,
finished, concurrent or killed, each job id is in the processing set or in the queue
exactly once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bot.adapters.queues.requeue import (
    requeue_stuck,
)
from bot.domain.requeue import RequeueProgress, RequeueResult

THRESHOLD = 600.0


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
