"""A game day's synthetic jobs on a staging queue: pushed, and removed by exact value.

Removal is ``LREM queue 0 <id>`` of each id the drill recorded, never a pattern: a
real job (even one whose payload contains the prefix) is a different value and is
left alone. Each call pipelines one bounded batch (``bot.domain.playbook_gameday.BATCH``
ids); an ``LREM`` that finds nothing means a worker took that job, which is counted,
not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import explain


async def push_synthetic(client: RedisClient, queue: str, ids: Sequence[str]) -> int:
    """``LPUSH``es ``ids`` (one round trip: producers push at the left, as PhishNet's
    do); returns the queue's length after. Raises ``RedisFailure`` (a sentence)."""
    if not ids:
        return 0
    try:
        pushed: Any = client.lpush(queue, *ids)
        return int(await pushed)
    except Exception as exc:
        raise await explain(client, exc, expected={queue: "list"}) from exc


async def remove_synthetic(client: RedisClient, queue: str, ids: Sequence[str]) -> int:
    """Removes each of ``ids`` (exact values) from ``queue`` in one pipelined round
    trip; returns how many were still there. Raises ``RedisFailure``."""
    if not ids:
        return 0
    try:
        pipe: Any = client.pipeline(transaction=False)
        for job in ids:
            pipe.lrem(queue, 0, job)
        counts = await pipe.execute()
    except Exception as exc:
        raise await explain(client, exc, expected={queue: "list"}) from exc
    return sum(int(c) for c in counts)
