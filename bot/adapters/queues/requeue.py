"""Stuck-job recovery against Redis: a dry-run scan and an atomic, batched requeue.

This replaces the runbook's two ``EVAL``s, which lose every stuck job (the second
script is fed the set *after* the first emptied it of stuck ids), block Redis for
the whole set, and can push a job that heartbeated in between.

Here:
- the set is walked with ``SSCAN`` in bounded steps and cut into bounded batches
  (``COUNT`` is only a hint), so no single command is proportional to the set;
- each batch's heartbeats are classified (read-only), and the ids that look stuck go
  to one ``EVALSHA`` of ``requeue.lua``, which reads their heartbeats again, ``SREM``s
  each still-stuck id and only when that removed it deletes the heartbeat and
  ``LPUSH``es the id: an id is always in the set or in a queue, never both, never
  neither, and is pushed at most once however many requeues (or bot replicas, or
  client retries) run at once;
- ids are read and written as raw bytes, so any id Redis can hold round-trips
  unchanged, whatever the client's ``decode_responses``;
- the read-only steps (SSCAN, classifying heartbeats) run in ``scan.lua``, which
  answers with a few bulk strings instead of one reply element per id: redis-py's
  pure-Python parser costs ~7 us per element, which would otherwise be most of a
  requeue's time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.adapters.queues.errors import RedisFailure, RedisFault, explain
from bot.adapters.queues.raw import RawScript, batches, execute, read_heartbeats
from bot.domain.requeue import (
    BatchOutcome,
    HeartbeatState,
    ProgressThrottle,
    RequeueProgress,
    RequeueResult,
    RequeueTally,
    StuckScan,
    StuckTally,
    heartbeat_key_parts,
    validate_threshold,
)
from bot.domain.text import code

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
SCAN_LUA = (_HERE / "scan.lua").read_text(encoding="utf-8")
REQUEUE_LUA = (_HERE / "requeue.lua").read_text(encoding="utf-8")

# Upper bound for batch_size / scan_count. A requeue batch costs ~3-6 us of server
# time per id (2-3 ms for 500 on a 2-vCPU machine); the cap keeps a mis-set
# playbook value from blocking Redis for more than ~10 ms.
MAX_BATCH = 2000
# chat.update is Tier 3 (~50/min): one progress update per 1.2 s stays under it.
DEFAULT_PROGRESS_INTERVAL = 1.2

ProgressCallback = Callable[[RequeueProgress], Awaitable[None]]


class RedisUnavailable(RedisFailure):
    """A scan or requeue stopped on a Redis failure (any kind: not answering, a wrong
    key type, a read-only replica...). ``str()`` is fit to show a user: what Redis
    said, then what had been done.

    ``partial`` is what a requeue had done, confirmed, before it stopped; batches are
    atomic, so an unconfirmed batch (no reply came) either fully ran or did not run at
    all, and up to ``unconfirmed`` more ids may have moved. Either way every id is in
    exactly one place: the processing set or the queue.
    """

    def __init__(
        self,
        message: str,
        *,
        fault: RedisFault,
        partial: RequeueResult | None = None,
        unconfirmed: int = 0,
    ) -> None:
        super().__init__(message, fault=fault)
        self.partial = partial
        self.unconfirmed = unconfirmed


async def scan_stuck(
    client: aioredis.Redis,
    *,
    processing_set: str,
    heartbeat_key: str,
    older_than_seconds: float,
    scan_count: int = 500,
    sample_size: int = 5,
) -> StuckScan:
    """Dry run: count the ids whose heartbeat is missing or older than the threshold.

    Changes nothing. Reads at most ``scan_count`` ids / heartbeats per command and
    uses Redis server time, so worker and bot clocks do not need to agree. Sample ids
    are in :func:`bot.domain.text.show_bytes` form. Raises :class:`RedisUnavailable`
    for any Redis failure (a processing set that is not a set is named as such).
    """
    threshold = validate_threshold(older_than_seconds)
    _check_bound("scan_count", scan_count)
    keys = _HeartbeatKeys(heartbeat_key)
    tally = StuckTally(threshold, processing_set, sample_size=max(sample_size, 0))
    scan_script = RawScript(client, SCAN_LUA)
    try:
        async for ids in batches(scan_script, processing_set, scan_count, scan_count):
            now, heartbeats = await read_heartbeats(client, keys.for_ids(ids))
            for job_id, raw in zip(ids, heartbeats, strict=True):
                tally.add(job_id, raw, now)
    except Exception as exc:
        failure = await explain(client, exc, expected={processing_set: "set"})
        raise RedisUnavailable(
            f"{failure} The stuck-job scan of {code(processing_set)} stopped after "
            f"{tally.scanned:,} ids. Nothing was changed.",
            fault=failure.fault,
        ) from exc
    return tally.result()


async def requeue_stuck(
    client: aioredis.Redis,
    *,
    processing_set: str,
    heartbeat_key: str,
    target_queue: str,
    older_than_seconds: float,
    batch_size: int = 500,
    on_progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress_interval_seconds: float = DEFAULT_PROGRESS_INTERVAL,
) -> RequeueResult:
    """Move ids whose heartbeat is missing or stale from ``processing_set`` to ``target_queue``.

    Walks the set itself (a dry-run scan may be minutes old by approval time); the
    batch script decides what moves. Ids with a malformed heartbeat are not moved and
    are reported. ``on_progress`` gets at most one update per
    ``progress_interval_seconds`` of ``clock`` time, plus always a final one; ``clock``
    also times the run. Batches run one after another: between two scripts Redis
    serves everyone else, so a requeue never starves the workers. Raises
    :class:`RedisUnavailable` for any Redis failure, saying what had moved.
    """
    _check_bound("batch_size", batch_size)
    run = _Requeue(
        client,
        processing_set=processing_set,
        keys=_HeartbeatKeys(heartbeat_key),
        target_queue=target_queue,
        threshold=validate_threshold(older_than_seconds),
        clock=clock,
    )
    reporter = _ProgressReporter(on_progress, ProgressThrottle(progress_interval_seconds))
    try:
        total = int(await execute(client, "SCARD", processing_set))
        async for ids in batches(run.scan_script, processing_set, batch_size, batch_size):
            await run.batch(ids)
            await reporter.report(run.progress(total), clock())
    except Exception as exc:
        expected = {processing_set: "set", target_queue: "list"}
        raise run.unavailable(await explain(client, exc, expected=expected)) from exc
    await reporter.report(run.progress(total), clock(), final=True)
    return run.result()


# --- internals -----------------------------------------------------------------------------------


class _HeartbeatKeys:
    """Builds heartbeat key names (bytes) from a template like ``heartbeat:{job_id}``."""

    def __init__(self, template: str) -> None:
        prefix, suffix = heartbeat_key_parts(template)
        self._prefix = prefix.encode("utf-8")
        self._suffix = suffix.encode("utf-8")
        # requeue.lua cuts each job id back out of its key with these.
        self.affixes = (self._prefix, self._suffix)

    def for_ids(self, ids: Sequence[bytes]) -> list[bytes]:
        prefix, suffix = self._prefix, self._suffix
        return [prefix + job_id + suffix for job_id in ids]


class _Requeue:
    """One requeue run: the registered scripts, the running tally, the error wrapping."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        processing_set: str,
        keys: _HeartbeatKeys,
        target_queue: str,
        threshold: float,
        clock: Callable[[], float],
    ) -> None:
        self._processing_set = processing_set
        self._target_queue = target_queue
        self._keys = keys
        # repr() round-trips a float exactly; Lua's tonumber reads it back bit for bit.
        self._threshold = repr(threshold)
        self._clock = clock
        self._started = clock()
        self._tally = RequeueTally(target_queue)
        self._in_flight = 0
        self.scan_script = RawScript(client, SCAN_LUA)
        self._requeue_script = RawScript(client, REQUEUE_LUA)

    async def batch(self, ids: list[bytes]) -> None:
        heartbeat_keys = self._keys.for_ids(ids)
        reply = await self.scan_script(keys=heartbeat_keys, args=[b"heartbeats", self._threshold])
        states: str = reply.decode("ascii")
        candidates = self._candidates(ids, heartbeat_keys, states)
        outcome = BatchOutcome(
            malformed=states.count(HeartbeatState.MALFORMED),
            still_running=states.count(HeartbeatState.FRESH),
        )
        if candidates:
            outcome = self._add(outcome, await self._requeue(candidates))
        self._tally.add(len(ids), outcome)

    def _candidates(self, ids: list[bytes], keys: list[bytes], states: str) -> list[bytes]:
        """The heartbeat keys of ids that look stuck; malformed ones are noted, never sent."""
        if len(states) != len(ids):
            raise RuntimeError(f"scan.lua classified {len(states)} heartbeats for {len(ids)} ids")
        candidates: list[bytes] = []
        for job_id, key, state in zip(ids, keys, states, strict=True):
            if state in _STUCK:
                candidates.append(key)
            elif state == HeartbeatState.MALFORMED:
                self._tally.note_malformed(job_id)
        return candidates

    async def _requeue(self, heartbeat_keys: list[bytes]) -> list[Any]:
        keys: list[str | bytes] = [self._processing_set, self._target_queue]
        keys += heartbeat_keys
        # Until the reply arrives this batch may or may not have run (never half).
        # Re-running it (redis-py retries after a timeout) is harmless: ids it moved
        # are no longer in the set, so the second run counts them as gone.
        self._in_flight = len(heartbeat_keys)
        args = (self._threshold, *self._keys.affixes)
        reply: list[Any] = await self._requeue_script(keys=keys, args=args)
        self._in_flight = 0
        return reply

    def _add(self, outcome: BatchOutcome, reply: list[Any]) -> BatchOutcome:
        """Fold requeue.lua's ``{moved, renewed, gone, malformed, malformed ids...}`` in."""
        moved, renewed, gone, malformed = (int(count) for count in reply[:4])
        for job_id in reply[4:]:
            self._tally.note_malformed(job_id)
        return BatchOutcome(
            moved=moved,
            skipped_renewed=renewed,
            skipped_gone=gone,
            malformed=outcome.malformed + malformed,
            still_running=outcome.still_running,
        )

    def unavailable(self, failure: RedisFailure) -> RedisUnavailable:
        partial = self.result()
        # Only when no reply came may the batch in flight have run; an error reply
        # means the script stopped before its first write (requeue.lua checks first).
        unconfirmed = self._in_flight if failure.fault.unreachable else 0
        message = _unavailable_message(failure, partial, unconfirmed)
        return RedisUnavailable(
            message, fault=failure.fault, partial=partial, unconfirmed=unconfirmed
        )

    def progress(self, total: int) -> RequeueProgress:
        return self._tally.progress(total, self._clock() - self._started)

    def result(self) -> RequeueResult:
        return self._tally.result(self._clock() - self._started)


_STUCK = frozenset({HeartbeatState.STALE.value, HeartbeatState.MISSING.value})


class _ProgressReporter:
    """Calls ``on_progress`` when the throttle allows; a failing callback never stops a requeue."""

    def __init__(self, callback: ProgressCallback | None, throttle: ProgressThrottle) -> None:
        self._callback = callback
        self._throttle = throttle

    async def report(self, progress: RequeueProgress, now: float, *, final: bool = False) -> None:
        if self._callback is None or not self._throttle.due(now, final=final):
            return
        self._throttle = self._throttle.published(now)
        try:
            await self._callback(progress)
        except Exception:
            # Progress is cosmetic (a Slack message); stopping half-way over it would
            # leave the operator with less done, not more safety.
            log.warning("requeue progress callback failed", exc_info=True)


def _unavailable_message(failure: RedisFailure, partial: RequeueResult, unconfirmed: int) -> str:
    in_flight = (
        f" The last batch of {unconfirmed:,} ids may or may not have moved (it is atomic)."
        if unconfirmed
        else ""
    )
    again = "when Redis is back" if failure.fault.unreachable else "once that is fixed"
    return (
        f"{failure} The requeue stopped after moving {partial.moved:,} ids to "
        f"{code(partial.target_queue)}.{in_flight} No job was lost: every id is still in "
        f"the processing set or in the queue. Run the requeue again {again}."
    )


def _check_bound(name: str, value: int) -> None:
    if not 1 <= value <= MAX_BATCH:
        raise ValueError(f"{name} must be between 1 and {MAX_BATCH}, not {value}")
