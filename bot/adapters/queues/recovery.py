"""An emergency drain's recovery keys in Redis: the snapshot before the Job starts,
the count of what it took when it ends, and the re-analysis of those ids.

The playbook's queue and processing set are each read with one ``DUMP`` (a
point-in-time serialisation, Redis's own) and kept with ``RESTORE`` under the bot's
own keys (:mod:`bot.adapters.queues.keys`), all in the slot of the queue the ids go
back onto; every script then touches one slot (its keys all in ``KEYS``), so this
works on a Redis Cluster as on a single Redis. Ids are read and written as raw bytes
(:class:`~bot.adapters.queues.raw.RawScript`), so any id comes back unchanged. Long
lists are handled in bounded steps whose cursors live in the drain's state hash and
move in the same atomic step as the work, so a step repeated after a timeout, or a
run resumed after a crash, never counts or pushes an id twice. See
:mod:`bot.domain.recovery` for what is counted and why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from redis.client import NEVER_DECODE

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import RedisFailure, RedisFault, explain
from bot.adapters.queues.keys import DrainKeys, drain_keys
from bot.adapters.queues.raw import RawScript, execute
from bot.domain.recovery import DrainCount

_HERE = Path(__file__).parent
COPY_LUA = (_HERE / "copy.lua").read_text(encoding="utf-8")
SORT_LUA = (_HERE / "sort.lua").read_text(encoding="utf-8")
REANALYSE_LUA = (_HERE / "reanalyse.lua").read_text(encoding="utf-8")

#: Entries per counting step: LRANGE + SADD/SISMEMBER of 500 ids is well under a
#: millisecond of server time, so the count never blocks the workers' Redis.
STEP = 500
MAX_STEP = 2000  # far below Lua's unpack() limit

Sleep = Callable[[float], Awaitable[None]]
Progress = Callable[[int, int], Awaitable[None]]  # (pushed so far, still waiting)


class RecoveryFailed(RedisFailure):
    """A recovery step stopped on a Redis failure, or the keys expired; ``str()`` says
    what Redis said and what had been done (every id is still in one place)."""


@dataclass(frozen=True)
class Reanalysed:
    """One re-analysis run: ids moved by this run, by every run so far, still waiting."""

    moved: int
    pushed: int
    waiting: int


async def snapshot_queue(
    client: RedisClient, request_id: UUID, queue: str, *, anchor: str, ttl: timedelta
) -> int:
    """Copies ``queue``'s ids, as they are at one instant, into the drain's snapshot
    (kept ``ttl``, in ``anchor``'s slot), once; returns how many entries were copied.
    Raises :class:`RecoveryFailed`."""
    keys = drain_keys(request_id, anchor)
    try:
        copied = await _copy(client, queue, "list", keys.snapshot, keys, "snapshotted", ttl)
    except Exception as exc:
        failure = await explain(client, exc, expected={queue: "list"})
        raise RecoveryFailed(
            f"{failure} The drain was not started: its ids could not be snapshotted.",
            fault=failure.fault,
        ) from exc
    return int(copied)


async def count_taken(
    client: RedisClient,
    request_id: UUID,
    *,
    queue: str,
    processing_set: str,
    anchor: str,
    ttl: timedelta,
    step: int = STEP,
) -> DrainCount:
    """Sorts the snapshot's entries by where they are now (see
    :mod:`bot.domain.recovery`); the taken ones wait in the drain's ``taken`` list.
    Called when the drain Job ends; calling it again returns the same count. Raises
    :class:`RecoveryFailed` (also when the recovery keys expired)."""
    if not 1 <= step <= MAX_STEP:
        raise ValueError(f"step must be between 1 and {MAX_STEP}, not {step}")
    keys = drain_keys(request_id, anchor)
    try:
        return await _count(client, keys, queue, processing_set, ttl, step)
    except RecoveryFailed:
        raise
    except Exception as exc:
        expected = {queue: "list", processing_set: "set"}
        failure = await explain(client, exc, expected=expected)
        raise RecoveryFailed(
            f"{failure} The drain's ids could not be counted; they are all still in the "
            "queue, the processing set or the recovery list.",
            fault=failure.fault,
        ) from exc


async def _count(
    client: RedisClient,
    keys: DrainKeys,
    queue: str,
    processing_set: str,
    ttl: timedelta,
    step: int,
) -> DrainCount:
    state = await _state(client, keys)
    if "snapshotted" not in state:
        raise _expired()
    if "counted" not in state:
        # The queue and the processing set as they are now, each at one instant; then
        # counted in bounded steps over the copies.
        await _copy(client, queue, "list", keys.remaining, keys, "frozen", ttl)
        await _copy(client, processing_set, "set", keys.held, keys, "held", ttl)
        sort = RawScript(client, SORT_LUA)
        all_keys = [
            keys.remaining,
            keys.remaining_set,
            keys.snapshot,
            keys.held,
            keys.taken,
            keys.state,
        ]
        for phase in ("index", "sort"):
            while True:
                cursor, total, *_ = await sort(keys=all_keys, args=[phase, step, _ms(ttl)])
                if int(cursor) < 0:
                    raise _expired()
                if int(cursor) >= int(total):
                    break
        for key in (keys.remaining, keys.remaining_set, keys.snapshot, keys.held):
            await execute(client, "DEL", key)  # one key per call: fine on a cluster too
        await execute(client, "HSET", keys.state, "counted", 1)
        state = await _state(client, keys)
    return DrainCount(
        snapshotted=state.get("snapshotted", 0),
        taken=state.get("taken", 0),
        left=state.get("left", 0),
        in_flight=state.get("in_flight", 0),
    )


async def _copy(
    client: RedisClient,
    key: str,
    kind: str,
    copy: str,
    keys: DrainKeys,
    field: str,
    ttl: timedelta,
) -> int:
    """``key`` (a playbook key of type ``kind``) kept as ``copy``, once (copy.lua)."""
    payload = await execute(client, "DUMP", key, **{NEVER_DECODE: True})
    script = RawScript(client, COPY_LUA)
    copied = await script(keys=[copy, keys.state], args=[field, _ms(ttl), payload or b"", kind])
    return int(copied)


async def reanalyse(
    client: RedisClient,
    request_id: UUID,
    *,
    target_queue: str,
    batch_size: int,
    max_per_minute: int,
    sleep: Sleep,
    on_progress: Progress | None = None,
) -> Reanalysed:
    """Moves the ids the drain took onto ``target_queue``, ``batch_size`` per atomic
    step, waiting after each step so no more than ``max_per_minute`` ids a minute go
    out. Resumes where a stopped run left off; raises :class:`RecoveryFailed` (saying
    how many were pushed) on a Redis failure or when the keys expired."""
    if not 1 <= batch_size <= MAX_STEP:
        raise ValueError(f"batch_size must be between 1 and {MAX_STEP}, not {batch_size}")
    keys = drain_keys(request_id, target_queue)  # the keys sit in the queue's slot
    script = RawScript(client, REANALYSE_LUA)
    moved_here = 0
    while True:
        try:
            reply = await script(keys=[keys.taken, target_queue, keys.state], args=[batch_size])
        except Exception as exc:
            failure = await explain(client, exc, expected={target_queue: "list"})
            raise RecoveryFailed(
                f"{failure} The re-analysis stopped after pushing {moved_here:,} emails onto "
                f"`{target_queue}`; the rest are still in the recovery list, and asking again "
                "resumes without pushing any twice.",
                fault=failure.fault,
            ) from exc
        moved, pushed, waiting, exists = (int(n) for n in reply)
        if not exists:
            raise _expired()
        moved_here += moved
        if on_progress is not None:
            await on_progress(pushed, waiting)
        if waiting == 0 or moved == 0:
            return Reanalysed(moved_here, pushed, waiting)
        await sleep(moved * 60.0 / max_per_minute)


async def waiting(client: RedisClient, request_id: UUID, anchor: str) -> int | None:
    """How many taken ids still wait for re-analysis; None when the keys expired."""
    keys = drain_keys(request_id, anchor)
    exists = await execute(client, "EXISTS", keys.state)
    length = await execute(client, "LLEN", keys.taken)
    return int(length) if int(exists) else None


async def _state(client: RedisClient, keys: DrainKeys) -> dict[str, int]:
    raw: Any = await execute(client, "HGETALL", keys.state)
    items = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    return {_text(k): int(v) for k, v in items}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(ttl: timedelta) -> int:
    return max(int(ttl.total_seconds() * 1000), 1)


def _expired() -> RecoveryFailed:
    return RecoveryFailed(
        "The drain's recovery keys are gone from Redis (their TTL ran out, or someone "
        "deleted them), so what the drain took can no longer be told.",
        fault=RedisFault.UNEXPECTED,
    )
