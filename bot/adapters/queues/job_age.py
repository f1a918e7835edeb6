"""The age of each queue's oldest waiting job, read from Redis as the playbook says.

``list_head``: ``LINDEX <queue> -1`` (or ``0``: the playbook's ``oldest_end``) is the
oldest job, a JSON object holding its enqueue time in a named field.
``sorted_set``: ``ZRANGE <key> 0 0 WITHSCORES`` is the oldest job and its enqueue
time. Every queue is read in one pipelined round trip; a failure becomes that
queue's reading's error, a sentence (bot/adapters/queues/errors.py), never an
exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import explain
from bot.domain.measures import JobAgeReading, ListHeadAge, SortedSetAge, enqueue_time, job_field
from bot.domain.playbook import Queue
from bot.domain.text import code


def redis_sources(queues: Sequence[Queue]) -> list[Queue]:
    """The queues whose job age is read from Redis (not from Prometheus)."""
    return [q for q in queues if isinstance(q.job_age, ListHeadAge | SortedSetAge)]


async def read_job_ages(
    client: RedisClient, queues: Sequence[Queue], now: datetime
) -> list[JobAgeReading]:
    """One reading per queue with a Redis ``job_age``, at ``now`` (the bot's clock).

    An enqueue time in the future (a producer's clock ahead of ours) counts as age 0.
    """
    watched = redis_sources(queues)
    if not watched:
        return []
    pipe: Any = client.pipeline(transaction=False)
    for queue in watched:
        source = queue.job_age
        if isinstance(source, ListHeadAge):
            pipe.lindex(queue.name, source.oldest_end.lindex)
        elif isinstance(source, SortedSetAge):
            pipe.zrange(source.key, 0, 0, withscores=True)
    try:
        replies = await pipe.execute(raise_on_error=False)
    except Exception as exc:  # the whole round trip failed: every queue says why
        failure = await explain(client, exc)
        return [_failed(queue, now, failure.reason) for queue in watched]
    return [
        await _reading(client, queue, reply, now)
        for queue, reply in zip(watched, replies, strict=True)
    ]


async def _reading(client: RedisClient, queue: Queue, reply: Any, now: datetime) -> JobAgeReading:
    source = queue.job_age
    if isinstance(source, ListHeadAge):
        key, kind, command = queue.name, "list", f"LINDEX {queue.name} {source.oldest_end.lindex}"
    else:
        assert isinstance(source, SortedSetAge)
        key, kind, command = source.key, "zset", f"ZRANGE {source.key} 0 0 WITHSCORES"
    if isinstance(reply, BaseException):
        failure = await explain(client, reply, expected={key: kind})
        return _failed(queue, now, failure.reason)
    try:
        if isinstance(source, ListHeadAge):
            if reply is None:
                return JobAgeReading(queue.name, now, None)
            enqueued = enqueue_time(job_field(str(reply), source.field), source.format)
        else:
            if not reply:
                return JobAgeReading(queue.name, now, None)
            enqueued = enqueue_time(float(reply[0][1]), source.format)
    except ValueError as exc:
        return _failed(queue, now, f"the oldest job ({code(command)}) gives no enqueue time: {exc}")
    return JobAgeReading(queue.name, now, max(now - enqueued, timedelta(0)))


def _failed(queue: Queue, now: datetime, why: str) -> JobAgeReading:
    return JobAgeReading(
        queue.name,
        now,
        None,
        f"The age of the oldest job in {code(queue.name)} could not be read: {why}.",
    )
