"""Queue depths from Redis: every playbook queue in one pipelined round trip (per node,
on a Redis Cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from bot.adapters.queues import connection
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import RedisFailure, explain
from bot.adapters.queues.raw import raise_first

#: Any Redis failure on any path (the name callers have always caught): refused, timed
#: out, a wrong key type, a read-only replica... ``str()`` is a sentence for a person.
QueuesUnavailable = RedisFailure


def connect(url: str, *, timeout_seconds: float = 5.0) -> RedisClient:
    """The bot's Redis client for ``REDIS_URL`` in any form
    :mod:`bot.adapters.queues.connection` accepts: plain, TLS, ACL user, unix socket,
    Sentinel, and Redis Cluster (:mod:`bot.adapters.queues.cluster`)."""
    return connection.connect(url, timeout_seconds=timeout_seconds)


async def queue_depths(client: RedisClient, queues: Sequence[str]) -> dict[str, int]:
    """``LLEN`` of each queue, pipelined (no MULTI: a read needs no transaction).

    On a Redis Cluster the pipeline sends each node the ``LLEN``s of the queues it holds,
    in one write, to all nodes at once: one round trip per node.

    Raises :class:`QueuesUnavailable` for any failure at all, so the monitor always
    knows sampling stopped and why; a queue key that is not a list is named, with what
    it holds ("`email_processing_queue` holds a string, not a list").
    """
    try:
        pipe: Any = client.pipeline(transaction=False)  # redis-py's pipeline typing is loose
        for name in queues:
            pipe.llen(name)
        lengths = raise_first(await pipe.execute(raise_on_error=False))
        return {name: int(length) for name, length in zip(queues, lengths, strict=True)}
    except Exception as exc:
        raise await explain(client, exc, expected=dict.fromkeys(queues, "list")) from exc


async def ping(client: RedisClient) -> bool:
    try:
        pong: Any = client.ping()
        return bool(await pong)
    except (RedisError, RedisClusterException, OSError):
        return False
