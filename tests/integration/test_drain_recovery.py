"""An emergency drain's snapshot, count and re-analysis against the real Redis, with a
drain that stops half-way: every email the drain took goes back for full analysis
exactly once, and no email it never took is pushed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.adapters.queues import recovery
from bot.adapters.queues.keys import drain_keys
from bot.domain.recovery import DrainCount

EMAIL, ANALYSIS, PROCESSING = "email_processing_queue", "analysis_queue", "processing_jobs"
TTL = timedelta(days=7)
BINARY_ID = b"email-\x00\xff-binary"


class Stop(BaseException):
    """The bot's process dying between two batches (not an error anything catches)."""


@pytest.fixture
async def raw(redis_url, redis_client):
    client = aioredis.from_url(redis_url)  # bytes in, bytes out: ids as workers wrote them
    yield client
    await client.aclose()


async def half_drained(redis_client, raw) -> tuple[uuid.UUID, set[bytes]]:
    """3,000 emails snapshotted; the drain then takes 1,510 (10 of them still held in the
    processing set when it stops), and 200 new emails arrive after the snapshot."""
    request_id = uuid.uuid4()
    ids = [BINARY_ID] + [f"email-{i}".encode() for i in range(2999)]  # the oldest first
    await raw.lpush(EMAIL, *ids)
    assert (
        await recovery.snapshot_queue(redis_client, request_id, EMAIL, anchor=ANALYSIS, ttl=TTL)
        == 3000
    )
    taken = await raw.rpop(EMAIL, 1510)  # the oldest first, as the workers pop
    await raw.sadd(PROCESSING, *taken[-10:])
    await raw.lpush(EMAIL, *[f"late-{i}".encode() for i in range(200)])
    return request_id, set(taken[:-10])


async def no_wait(_seconds: float) -> None:
    return None


async def test_the_count_says_what_the_drain_took_left_and_held(redis_client, raw):
    request_id, processed = await half_drained(redis_client, raw)
    count = await recovery.count_taken(
        redis_client,
        request_id,
        queue=EMAIL,
        processing_set=PROCESSING,
        anchor=ANALYSIS,
        ttl=TTL,
        step=97,
    )
    assert count == DrainCount(snapshotted=3000, taken=1500, left=1490, in_flight=10)
    keys = drain_keys(request_id, ANALYSIS)
    assert set(await raw.lrange(keys.taken, 0, -1)) == processed
    # The copies used for counting are gone; the count is kept, and asked again is the same.
    assert not await raw.exists(keys.snapshot, keys.remaining, keys.remaining_set, keys.held)
    again = await recovery.count_taken(
        redis_client, request_id, queue=EMAIL, processing_set=PROCESSING, anchor=ANALYSIS, ttl=TTL
    )
    assert again == count
    assert 0 < await raw.ttl(keys.taken) <= TTL.total_seconds()
    assert 0 < await raw.ttl(keys.state) <= TTL.total_seconds()


async def test_reanalysis_pushes_each_taken_email_once_at_the_playbooks_pace(redis_client, raw):
    request_id, processed = await half_drained(redis_client, raw)
    await recovery.count_taken(
        redis_client, request_id, queue=EMAIL, processing_set=PROCESSING, anchor=ANALYSIS, ttl=TTL
    )
    waits: list[float] = []
    progress: list[tuple[int, int]] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    async def report(pushed: int, waiting: int) -> None:
        progress.append((pushed, waiting))

    done = await recovery.reanalyse(
        redis_client,
        request_id,
        target_queue=ANALYSIS,
        batch_size=100,
        max_per_minute=600,
        sleep=wait,
        on_progress=report,
    )
    assert (done.moved, done.pushed, done.waiting) == (1500, 1500, 0)
    pushed = await raw.lrange(ANALYSIS, 0, -1)
    assert len(pushed) == 1500 and set(pushed) == processed
    assert BINARY_ID in pushed  # a binary id comes back byte for byte
    # 100 every 10 s is 600 a minute: 14 waits between 15 batches, 140 s in all.
    assert waits == [10.0] * 14
    assert progress[0] == (100, 1400) and progress[-1] == (1500, 0)
    # Nothing the drain never took moved: not the 1,490 left, not the late arrivals,
    # not the 10 still in the processing set.
    assert await raw.llen(EMAIL) == 1690
    assert await raw.scard(PROCESSING) == 10
    assert not set(await raw.lrange(EMAIL, 0, -1)) & set(pushed)


async def test_a_reanalysis_stopped_half_way_resumes_without_duplicates(redis_client, raw):
    request_id, processed = await half_drained(redis_client, raw)
    await recovery.count_taken(
        redis_client, request_id, queue=EMAIL, processing_set=PROCESSING, anchor=ANALYSIS, ttl=TTL
    )
    batches = 0

    async def dies_after_three(_seconds: float) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise Stop

    options = {"target_queue": ANALYSIS, "batch_size": 100, "max_per_minute": 600}
    with pytest.raises(Stop):
        await recovery.reanalyse(redis_client, request_id, sleep=dies_after_three, **options)
    assert await raw.llen(ANALYSIS) == 300
    assert await recovery.waiting(redis_client, request_id, ANALYSIS) == 1200
    done = await recovery.reanalyse(redis_client, request_id, sleep=no_wait, **options)
    assert (done.moved, done.pushed) == (1200, 1500)
    pushed = await raw.lrange(ANALYSIS, 0, -1)
    assert len(pushed) == len(set(pushed)) == 1500 and set(pushed) == processed


async def test_two_reanalyses_at_once_push_each_email_once(redis_client, raw):
    request_id, processed = await half_drained(redis_client, raw)
    await recovery.count_taken(
        redis_client, request_id, queue=EMAIL, processing_set=PROCESSING, anchor=ANALYSIS, ttl=TTL
    )

    async def run() -> recovery.Reanalysed:
        return await recovery.reanalyse(
            redis_client,
            request_id,
            target_queue=ANALYSIS,
            batch_size=50,
            max_per_minute=100_000,
            sleep=lambda _s: asyncio.sleep(0),
        )

    first, second = await asyncio.gather(run(), run())
    assert first.moved + second.moved == 1500
    pushed = await raw.lrange(ANALYSIS, 0, -1)
    assert len(pushed) == len(set(pushed)) == 1500 and set(pushed) == processed


async def test_a_second_snapshot_keeps_the_first_picture(redis_client, raw):
    request_id = uuid.uuid4()
    await raw.lpush(EMAIL, *[f"e{i}" for i in range(50)])
    assert (
        await recovery.snapshot_queue(redis_client, request_id, EMAIL, anchor=ANALYSIS, ttl=TTL)
        == 50
    )
    await raw.lpush(EMAIL, *[f"x{i}" for i in range(20)])
    assert (
        await recovery.snapshot_queue(redis_client, request_id, EMAIL, anchor=ANALYSIS, ttl=TTL)
        == 50
    )
    assert await raw.llen(drain_keys(request_id, ANALYSIS).snapshot) == 50


async def test_failures_are_sentences(redis_client, raw):
    await raw.set(EMAIL, "not a list")
    with pytest.raises(recovery.RecoveryFailed) as failed:
        await recovery.snapshot_queue(redis_client, uuid.uuid4(), EMAIL, anchor=ANALYSIS, ttl=TTL)
    assert str(failed.value) == (
        "Redis refused the command: `email_processing_queue` holds a string, not a list. "
        "The drain was not started: its ids could not be snapshotted."
    )
    gone = uuid.uuid4()
    with pytest.raises(recovery.RecoveryFailed, match="recovery keys are gone from Redis"):
        await recovery.count_taken(
            redis_client, gone, queue="other", processing_set=PROCESSING, anchor=ANALYSIS, ttl=TTL
        )
    assert await recovery.waiting(redis_client, gone, ANALYSIS) is None
    with pytest.raises(recovery.RecoveryFailed, match="recovery keys are gone from Redis"):
        await recovery.reanalyse(
            redis_client,
            gone,
            target_queue=ANALYSIS,
            batch_size=10,
            max_per_minute=60,
            sleep=no_wait,
        )
    assert not await raw.exists(drain_keys(gone, ANALYSIS).state)  # nothing was left behind
