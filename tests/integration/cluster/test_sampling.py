"""Depth sampling and the stuck-job scan on a real three-master Redis Cluster."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.adapters.queues.cluster import RedisClient, is_cluster
from bot.adapters.queues.depths import QueuesUnavailable, connect, ping, queue_depths
from bot.adapters.queues.errors import RedisFault
from bot.adapters.queues.keys import slot_of
from bot.adapters.queues.requeue import scan_stuck
from bot.domain.requeue_journal import RequeueMode
from tests.integration.cluster.helpers import (
    THRESHOLD,
    hash_tagged_keys,
    keys_on_different_nodes,
    make_jobs,
    needs_cluster,
    seed,
)
from tests.redis_servers import PrivateCluster, PrivateRedis, free_port

pytestmark = needs_cluster


async def queues_on_every_node(cluster: PrivateCluster, per_node: int) -> list[str]:
    """Queue names, ``per_node`` of them held by each node."""
    chosen: dict[int, list[str]] = {node.port: [] for node in cluster.nodes}
    number = 0
    while any(len(names) < per_node for names in chosen.values()):
        name = f"queue-{number}"
        number += 1
        owner = await cluster.node_of_slot(slot_of(name))
        if len(chosen[owner.port]) < per_node:
            chosen[owner.port].append(name)
    return [name for names in chosen.values() for name in names]


async def reads_processed(monitor: aioredis.Redis) -> int:
    """How many times the server has read from a client socket (``INFO stats``): one
    pipelined write of many commands is one read."""
    info = await monitor.info("stats")
    return int(info["total_reads_processed"])


async def test_the_bot_knows_a_cluster_by_its_url(redis_cluster: PrivateCluster) -> None:
    client = connect(redis_cluster.url())
    try:
        assert is_cluster(client)
        assert await ping(client)
    finally:
        await client.aclose()
    assert not is_cluster(connect(redis_cluster.nodes[0].url()))


async def test_depths_of_queues_on_three_nodes_take_one_round_trip_per_node(
    redis_cluster: PrivateCluster, cluster_client: RedisClient
) -> None:
    queues = await queues_on_every_node(redis_cluster, per_node=3)
    expected = {name: index + 1 for index, name in enumerate(queues)}
    untyped: Any = cluster_client
    for name, depth in expected.items():
        await untyped.lpush(name, *(f"job-{i}" for i in range(depth)))
    await queue_depths(cluster_client, queues)  # connects to every node, learns the slots

    monitors = [node.client() for node in redis_cluster.nodes]
    try:
        before = [await reads_processed(monitor) for monitor in monitors]
        depths = await queue_depths(cluster_client, queues)
        after = [await reads_processed(monitor) for monitor in monitors]
    finally:
        for monitor in monitors:
            await monitor.aclose()
        await untyped.delete(*queues)

    assert depths == expected
    # Per node: one read for its three LLENs, one for the INFO that measured it.
    assert [later - earlier for earlier, later in zip(before, after, strict=True)] == [2, 2, 2]


async def test_a_queue_of_the_wrong_type_on_another_node_is_named(
    redis_cluster: PrivateCluster, cluster_client: RedisClient
) -> None:
    queues = await queues_on_every_node(redis_cluster, per_node=1)
    untyped: Any = cluster_client
    await untyped.set(queues[2], "oops")
    try:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(cluster_client, queues)
    finally:
        await untyped.delete(queues[2])
    assert caught.value.fault is RedisFault.WRONGTYPE
    assert str(caught.value) == (
        f"Redis refused the command: `{queues[2]}` holds a string, not a list."
    )


async def test_scan_reads_heartbeats_on_every_node(
    redis_cluster: PrivateCluster, cluster_client: RedisClient
) -> None:
    keys = await keys_on_different_nodes(redis_cluster)
    jobs = make_jobs(fresh=20, stale=15, missing=10, malformed=5)
    await seed(cluster_client, keys, jobs)
    untyped: Any = cluster_client
    await untyped.sadd(keys.processing, "odd")
    await untyped.hset(keys.heartbeat_of("odd"), "at", "1")  # a hash, not a number

    scan = await scan_stuck(
        cluster_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
        scan_count=7,
        sample_size=100,
    )

    assert (scan.scanned, scan.stuck) == (51, 25)
    assert (scan.stale_heartbeat, scan.missing_heartbeat, scan.malformed_count) == (15, 10, 6)
    assert set(scan.sample_ids) == jobs.stuck and "odd" in scan.malformed
    assert scan.mode is RequeueMode.JOURNALED
    assert await untyped.scard(keys.processing) == 51 and not await untyped.exists(keys.queue)


async def test_hash_tagged_keys_scan_as_atomic(cluster_client: RedisClient) -> None:
    keys = hash_tagged_keys()
    await seed(cluster_client, keys, make_jobs(stale=3))
    scan = await scan_stuck(
        cluster_client,
        processing_set=keys.processing,
        heartbeat_key=keys.heartbeat,
        target_queue=keys.queue,
        older_than_seconds=THRESHOLD,
    )
    assert (scan.stuck, scan.mode) == (3, RequeueMode.ATOMIC)


async def test_a_single_server_client_on_a_cluster_node_is_told_to_use_the_cluster_url(
    redis_cluster: PrivateCluster,
) -> None:
    # Keys on all three nodes: whichever node REDIS_URL names, some answer MOVED.
    queues = await queues_on_every_node(redis_cluster, per_node=1)
    node: PrivateRedis = redis_cluster.nodes[0]
    client = connect(node.url())
    try:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, queues)
    finally:
        await client.aclose()
    said = str(caught.value)
    assert caught.value.fault is RedisFault.REDIRECTED
    assert "one node of a Redis Cluster" in said and "`redis+cluster://" in said


async def test_a_cluster_whose_nodes_all_refuse_is_said_plainly() -> None:
    client = connect(f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
    try:
        assert not await ping(client)  # /readyz: unreachable, not an exception
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, ["email_processing_queue"])
    finally:
        await client.aclose()
    assert caught.value.fault is RedisFault.REFUSED
    assert str(caught.value) == (
        "Redis Cluster did not answer: the connection was refused (is Redis running there?), "
        "at every node `REDIS_URL` names."
    )
