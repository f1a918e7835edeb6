"""Keys, seeding and placement checks for the Redis Cluster tests."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.keys import slot_of
from tests.redis_servers import PrivateCluster, redis_cli_binary, redis_server_binary

#: Every test module here: ``pytestmark = needs_cluster``.
needs_cluster = pytest.mark.skipif(
    redis_server_binary() is None or redis_cli_binary() is None,
    reason="needs redis-server and redis-cli to start a Redis Cluster",
)

THRESHOLD = 600.0
MALFORMED_VALUES = ["abc", "", "1e9", "0x10", " 17", "12:30", "1.", "+5", "9" * 40, "ninety"]


@dataclass(frozen=True)
class ClusterKeys:
    processing: str
    queue: str
    heartbeat: str  # template, with {job_id}

    def heartbeat_of(self, job_id: str) -> str:
        return self.heartbeat.replace("{job_id}", job_id)


async def keys_on_different_nodes(cluster: PrivateCluster) -> ClusterKeys:
    """The runbook's names (made unique), with the set and the queue on different nodes;
    the heartbeat keys, one per id, land on every node."""
    while True:
        tag = uuid.uuid4().hex[:8]
        keys = ClusterKeys(
            f"processing_jobs:{tag}", f"email_processing_queue:{tag}", f"heartbeat:{tag}:{{job_id}}"
        )
        set_node = await cluster.node_of_slot(slot_of(keys.processing))
        queue_node = await cluster.node_of_slot(slot_of(keys.queue))
        if set_node is not queue_node:
            return keys


def hash_tagged_keys() -> ClusterKeys:
    """The same names sharing one hash tag, as docs/redis-cluster.md recommends."""
    tag = f"phishnet-{uuid.uuid4().hex[:8]}"
    return ClusterKeys(
        f"{{{tag}}}:processing_jobs",
        f"{{{tag}}}:email_processing_queue",
        f"{{{tag}}}:heartbeat:{{job_id}}",
    )


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


def make_jobs(fresh: int = 0, stale: int = 0, missing: int = 0, malformed: int = 0) -> Jobs:
    return Jobs(
        fresh=[f"fresh-{i}" for i in range(fresh)],
        stale=[f"stale-{i}" for i in range(stale)],
        missing=[f"missing-{i}" for i in range(missing)],
        malformed=[f"malformed-{i}" for i in range(malformed)],
    )


async def seed(client: RedisClient, keys: ClusterKeys, jobs: Jobs) -> None:
    """The jobs in the processing set, with heartbeats as their kind says (on every node)."""
    untyped: Any = client
    now = int((await untyped.time())[0])
    pipe: Any = client.pipeline(transaction=False)
    if jobs.every:
        pipe.sadd(keys.processing, *jobs.every)
    for i, job_id in enumerate(jobs.fresh):
        pipe.set(keys.heartbeat_of(job_id), now - 5 - i % 60)
    for i, job_id in enumerate(jobs.stale):
        pipe.set(keys.heartbeat_of(job_id), now - 3600 - i)
    for i, job_id in enumerate(jobs.malformed):
        pipe.set(keys.heartbeat_of(job_id), MALFORMED_VALUES[i % len(MALFORMED_VALUES)])
    await pipe.execute()


async def placement(client: RedisClient, keys: ClusterKeys) -> tuple[Counter[str], Counter[str]]:
    """(queue contents, set contents) as multisets."""
    untyped: Any = client
    queue = await untyped.lrange(keys.queue, 0, -1)
    members = await untyped.smembers(keys.processing)
    return Counter(queue), Counter(members)


async def assert_each_id_once(client: RedisClient, keys: ClusterKeys, ids: Iterable[str]) -> None:
    """Every id in exactly one place, the queue or the set; none lost, none doubled."""
    queue, members = await placement(client, keys)
    union = queue + members
    doubled = sorted(job_id for job_id, n in union.items() if n > 1)
    lost = sorted(set(ids) - set(union))
    assert not doubled, f"ids in two places or pushed twice: {doubled[:10]}"
    assert not lost, f"ids lost: {lost[:10]}"
    assert set(union) == set(ids)
