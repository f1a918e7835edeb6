"""Queue depths from Redis: every playbook queue in one pipelined round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.domain.errors import DependencyError


class QueuesUnavailable(DependencyError, RuntimeError):
    """Redis did not answer; ``str()`` is fit to show a user (no URL, no password)."""


def connect(url: str, *, timeout_seconds: float = 5.0) -> aioredis.Redis:
    client: aioredis.Redis = aioredis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
    )
    return client


async def queue_depths(client: aioredis.Redis, queues: Sequence[str]) -> dict[str, int]:
    """``LLEN`` of each queue, pipelined (no MULTI: a read needs no transaction)."""
    try:
        pipe: Any = client.pipeline(transaction=False)  # redis-py's pipeline typing is loose
        for name in queues:
            pipe.llen(name)
        lengths = await pipe.execute()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueuesUnavailable(f"Redis did not answer: {type(exc).__name__}") from exc
    return {name: int(length) for name, length in zip(queues, lengths, strict=True)}


async def ping(client: aioredis.Redis) -> bool:
    try:
        pong: Any = client.ping()
        return bool(await pong)
    except (RedisConnectionError, RedisTimeoutError):
        return False
