"""A drain's snapshot, count and re-analysis on a real Redis Cluster, with the drained
queue, the processing set and the analysis queue in three different slots: every
script touches one slot, and every email the drain took goes back once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.adapters.queues import recovery
from bot.adapters.queues.keys import drain_keys, slot_of
from bot.domain.recovery import DrainCount

TTL = timedelta(days=1)


async def no_wait(_seconds: float) -> None:
    return None


async def test_a_half_way_drain_on_a_cluster(cluster_client):
    tag = uuid.uuid4().hex[:8]
    email, analysis, processing = f"email:{tag}", f"analysis:{tag}", f"processing:{tag}"
    assert len({slot_of(email), slot_of(analysis), slot_of(processing)}) == 3
    request_id = uuid.uuid4()
    client = cluster_client
    await client.lpush(email, *[f"e{i}" for i in range(1000)])
    assert (
        await recovery.snapshot_queue(client, request_id, email, anchor=analysis, ttl=TTL) == 1000
    )
    taken = await client.rpop(email, 410)
    await client.sadd(processing, *taken[-10:])
    count = await recovery.count_taken(
        client, request_id, queue=email, processing_set=processing, anchor=analysis, ttl=TTL
    )
    assert count == DrainCount(snapshotted=1000, taken=400, left=590, in_flight=10)
    keys = drain_keys(request_id, analysis)
    assert slot_of(keys.taken) == slot_of(keys.state) == slot_of(analysis)

    done = await recovery.reanalyse(
        client,
        request_id,
        target_queue=analysis,
        batch_size=64,
        max_per_minute=10_000,
        sleep=no_wait,
    )
    assert (done.moved, done.waiting) == (400, 0)
    pushed = await client.lrange(analysis, 0, -1)
    assert len(pushed) == len(set(pushed)) == 400 and set(pushed) == set(taken[:-10])
    assert await recovery.waiting(client, request_id, analysis) == 0
