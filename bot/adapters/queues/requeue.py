"""Stuck-job recovery against Redis: a dry-run scan and a batched requeue.

This replaces the runbook's two ``EVAL``s, which lose every stuck job (the second
script is fed the set *after* the first emptied it of stuck ids), block Redis for
the whole set, and can push a job that heartbeated in between.

Here:
- the set is walked with ``SSCAN`` in bounded steps and cut into bounded batches
  (``COUNT`` is only a hint), so no single command is proportional to the set;
- each batch moves atomically, one ``requeue.lua`` per batch
  (:mod:`bot.adapters.queues.atomic`), whenever its keys can share a script: always
  on a single Redis server, and on a Redis Cluster when the processing set, the
  heartbeat keys and the target queue share one hash tag;
- on a Redis Cluster whose keys are in different slots, batches move by journaled
  steps instead (:mod:`bot.adapters.queues.journaled`): push before remove, never
  losing an id, but a job may run twice (:func:`requeue_mode` says which applies);
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
from collections.abc import Awaitable, Callable

from bot.adapters.queues.atomic import AtomicRequeue
from bot.adapters.queues.cluster import RedisClient, is_cluster
from bot.adapters.queues.errors import RedisFault, explain
from bot.adapters.queues.journaled import JournaledRequeue, RequeueJournal
from bot.adapters.queues.keys import HeartbeatKeys, slot_of
from bot.adapters.queues.raw import RawScript, batches, execute, read_heartbeats
from bot.adapters.queues.run import RedisUnavailable, RequeueRun
from bot.adapters.queues.scripts import REQUEUE_LUA, SCAN_LUA
from bot.domain.requeue import (
    ProgressThrottle,
    RequeueProgress,
    RequeueResult,
    StuckScan,
    StuckTally,
    validate_threshold,
)
from bot.domain.requeue_journal import RequeueMode
from bot.domain.text import code

__all__ = [
    "DEFAULT_PROGRESS_INTERVAL",
    "MAX_BATCH",
    "REQUEUE_LUA",
    "SCAN_LUA",
    "RedisUnavailable",
    "RequeueJournal",
    "requeue_mode",
    "requeue_stuck",
    "scan_stuck",
]

log = logging.getLogger(__name__)

# Upper bound for batch_size / scan_count. A requeue batch costs ~3-6 us of server
# time per id (2-3 ms for 500 on a 2-vCPU machine); the cap keeps a mis-set
# playbook value from blocking Redis for more than ~10 ms.
MAX_BATCH = 2000
# chat.update is Tier 3 (~50/min): one progress update per 1.2 s stays under it.
DEFAULT_PROGRESS_INTERVAL = 1.2

ProgressCallback = Callable[[RequeueProgress], Awaitable[None]]


def requeue_mode(
    client: RedisClient, *, processing_set: str, heartbeat_key: str, target_queue: str | None
) -> RequeueMode:
    """ATOMIC when one script can see every key of a batch: always on a single Redis
    server; on a Redis Cluster when the heartbeat keys' slot does not depend on the job
    id (a hash tag before ``{job_id}``) and is the set's and the queue's slot too.
    JOURNALED otherwise. ``target_queue`` None: judge the set and heartbeats only."""
    if not is_cluster(client):
        return RequeueMode.ATOMIC
    slots = {HeartbeatKeys(heartbeat_key).fixed_slot, slot_of(processing_set)}
    if target_queue is not None:
        slots.add(slot_of(target_queue))
    return RequeueMode.ATOMIC if len(slots) == 1 else RequeueMode.JOURNALED


async def scan_stuck(
    client: RedisClient,
    *,
    processing_set: str,
    heartbeat_key: str,
    older_than_seconds: float,
    target_queue: str | None = None,
    scan_count: int = 500,
    sample_size: int = 5,
) -> StuckScan:
    """Dry run: count the ids whose heartbeat is missing or older than the threshold.

    Changes nothing. Reads at most ``scan_count`` ids / heartbeats per command (on a
    Redis Cluster, heartbeats in one round trip per node) and uses Redis server time,
    so worker and bot clocks do not need to agree. Sample ids are in
    :func:`bot.domain.text.show_bytes` form; ``mode`` says how a requeue onto
    ``target_queue`` would move them (:func:`requeue_mode`). Raises
    :class:`RedisUnavailable` for any Redis failure (a processing set that is not a set
    is named as such).
    """
    threshold = validate_threshold(older_than_seconds)
    _check_bound("scan_count", scan_count)
    keys = HeartbeatKeys(heartbeat_key)
    mode = requeue_mode(
        client,
        processing_set=processing_set,
        heartbeat_key=heartbeat_key,
        target_queue=target_queue,
    )
    tally = StuckTally(threshold, processing_set, sample_size=max(sample_size, 0), mode=mode)
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
    client: RedisClient,
    *,
    processing_set: str,
    heartbeat_key: str,
    target_queue: str,
    older_than_seconds: float,
    batch_size: int = 500,
    on_progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress_interval_seconds: float = DEFAULT_PROGRESS_INTERVAL,
    journal: RequeueJournal | None = None,
) -> RequeueResult:
    """Move ids whose heartbeat is missing or stale from ``processing_set`` to ``target_queue``.

    Walks the set itself (a dry-run scan may be minutes old by approval time); each
    batch re-checks what moves. Ids with a malformed heartbeat are not moved and are
    reported. ``on_progress`` gets at most one update per ``progress_interval_seconds``
    of ``clock`` time, plus always a final one; ``clock`` also times the run. Batches
    run one after another: in between Redis serves everyone else, so a requeue never
    starves the workers.

    On a Redis Cluster whose keys are in different slots (:func:`requeue_mode`) the
    batches are journaled in ``journal`` (the bot's PostgreSQL) and any batch an earlier
    run left unfinished is finished first; without a journal that requeue is refused.
    Raises :class:`RedisUnavailable` for any failure (Redis, the journal, another
    journaled requeue of the set running), saying what had moved.
    """
    _check_bound("batch_size", batch_size)
    run = _make_run(
        client,
        processing_set=processing_set,
        heartbeat_key=heartbeat_key,
        target_queue=target_queue,
        threshold=validate_threshold(older_than_seconds),
        clock=clock,
        journal=journal,
    )
    reporter = _ProgressReporter(on_progress, ProgressThrottle(progress_interval_seconds))
    try:
        async with run.session():
            total = int(await execute(client, "SCARD", processing_set))
            async for ids in batches(run.scan_script, processing_set, batch_size, batch_size):
                await run.batch(ids)
                await reporter.report(run.progress(total), clock())
    except RedisUnavailable:
        raise  # already says what was done (another requeue running)
    except Exception as exc:
        expected = {processing_set: "set", target_queue: "list"}
        raise run.unavailable(await explain(client, exc, expected=expected)) from exc
    await reporter.report(run.progress(total), clock(), final=True)
    return run.result()


# --- internals -----------------------------------------------------------------------------------


def _make_run(
    client: RedisClient,
    *,
    processing_set: str,
    heartbeat_key: str,
    target_queue: str,
    threshold: float,
    clock: Callable[[], float],
    journal: RequeueJournal | None,
) -> RequeueRun:
    keys = HeartbeatKeys(heartbeat_key)
    mode = requeue_mode(
        client,
        processing_set=processing_set,
        heartbeat_key=heartbeat_key,
        target_queue=target_queue,
    )
    if mode is RequeueMode.ATOMIC:
        return AtomicRequeue(
            client,
            processing_set=processing_set,
            keys=keys,
            target_queue=target_queue,
            threshold=threshold,
            clock=clock,
        )
    if journal is None:
        raise RedisUnavailable(
            f"{code(processing_set)}, {code(heartbeat_key)} and {code(target_queue)} are in "
            "different Redis Cluster hash slots, and this requeue has no journal to move them "
            "safely without one script. Nothing was moved.",
            fault=RedisFault.CROSSSLOT,
        )
    return JournaledRequeue(
        client,
        processing_set=processing_set,
        keys=keys,
        target_queue=target_queue,
        threshold=threshold,
        clock=clock,
        journal=journal,
    )


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


def _check_bound(name: str, value: int) -> None:
    if not 1 <= value <= MAX_BATCH:
        raise ValueError(f"{name} must be between 1 and {MAX_BATCH}, not {value}")
