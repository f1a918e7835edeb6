"""The journaled requeue: for a Redis Cluster whose keys cannot share a slot.

When the processing set, the heartbeat keys and the target queue are in different
hash slots, no script can see them all, so no batch can move atomically. Each batch
then goes through steps that each touch one slot, journaled in PostgreSQL, pushing
onto the queue *before* removing from the set:

1. read: Redis time, the ids' set membership and heartbeats (one round trip per node);
   members with a stale or missing heartbeat are candidates;
2. claim: per slot, ``journaled.lua`` deletes each candidate's heartbeat only if it
   still holds the value read (compare-and-delete); a changed one means the worker is
   alive, and its id is skipped;
3. journal: the batch (claimed ids, keys, a marker key in the queue's slot) is committed;
4. push: one script on the queue's node ``LPUSH``es the ids and sets the marker to
   ``pushed``, unless the marker is already set: a batch is pushed at most once, and
   the marker says whether it was;
5. remove: heartbeats are read again; ids with one (a worker holds them) stay in the
   set, the others are ``SREM``ed (the set's node);
6. finish: the journal entry is deleted, then the marker.

An id leaves the set only in step 5, after its push is confirmed; so at every instant
each id is in the set, the queue, or both: never in neither. A crash before step 4
leaves the claimed ids in the set without a heartbeat (the next requeue moves them);
after it, the journal entry remains, and :func:`recover_requeue` (run first by every
journaled requeue) gives the batch up if it was not pushed (the marker is set to
``abandoned``, so a late push from a stalled process does nothing), or else does
step 5 for it. Journaled runs on one processing set are serialised by a PostgreSQL
advisory lock (:meth:`RequeueJournal.requeue_lock`): two would each push the same
missing-heartbeat ids.

The price, where a job may run twice or run unprotected, is analysed in
``docs/redis-cluster.md`` and said in the approval request
(:func:`bot.domain.requeue_journal.journaled_guarantee`).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar
from uuid import UUID

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import RedisFailure, RedisFault
from bot.adapters.queues.keys import HeartbeatKeys, batch_marker, slot_of
from bot.adapters.queues.raw import (
    RawScript,
    execute,
    heartbeat_values,
    pipeline_raw,
    raise_first,
)
from bot.adapters.queues.run import RedisUnavailable, RequeueRun
from bot.adapters.queues.scripts import JOURNALED_LUA
from bot.domain.requeue import BatchOutcome, HeartbeatState, classify_heartbeat
from bot.domain.requeue_journal import (
    JournaledBatch,
    MarkerState,
    RecoveryOutcome,
    Removal,
    RequeueMode,
)
from bot.domain.text import code

log = logging.getLogger(__name__)

# How long a batch's marker outlives a crash: a batch left unrecovered longer than
# this could be pushed twice (never lost). Finished batches delete theirs.
MARKER_LIFETIME_SECONDS = 7 * 24 * 3600

T = TypeVar("T")


class RequeueJournal(Protocol):
    """Where journaled batches are recorded (the bot's PostgreSQL: the store's
    ``RequeueJournalQueries``)."""

    def requeue_lock(self, processing_set: str) -> AbstractAsyncContextManager[bool]:
        """Held for a whole run; yields False when another process holds it."""
        ...

    async def journal_requeue_batch(self, batch: JournaledBatch) -> None: ...

    async def finish_requeue_batch(self, batch_id: UUID) -> None: ...

    async def unfinished_requeue_batches(self, processing_set: str) -> list[JournaledBatch]: ...


class JournalFailed(RedisFailure):
    """The journal (PostgreSQL) failed; the batch at hand was not pushed, or was pushed
    and is left for the next requeue to finish."""


def requeue_running(processing_set: str) -> RedisUnavailable:
    return RedisUnavailable(
        f"Another requeue of {code(processing_set)} is running (the journaled kind, which "
        "runs one at a time: its keys are in different Redis Cluster hash slots). This one "
        "moved nothing.",
        fault=RedisFault.REQUEUE_RUNNING,
    )


async def recover_requeue(
    client: RedisClient, journal: RequeueJournal, processing_set: str
) -> RecoveryOutcome:
    """Finishes or abandons every journaled batch of ``processing_set`` that a stopped
    requeue left (see the module docstring). Raises :class:`RedisUnavailable` when a
    requeue of that set is running, and :class:`RedisFailure` (:class:`JournalFailed`
    for the journal) when Redis or PostgreSQL fails; repeating it is always safe."""
    steps = JournaledSteps(client, journal)
    async with _locked(journal, processing_set):
        return await steps.recover(processing_set)


class JournaledSteps:
    """The steps on Redis and on the journal; each is safe to repeat."""

    def __init__(self, client: RedisClient, journal: RequeueJournal) -> None:
        self._client = client
        self._journal = journal
        self._script = RawScript(client, JOURNALED_LUA)

    async def read(
        self, processing_set: str, ids: list[bytes], keys: list[bytes]
    ) -> tuple[float, list[bool], list[bytes | None]]:
        """Redis time, whether each id is in the set, and its raw heartbeat."""
        commands = [("TIME",), ("SMISMEMBER", processing_set, *ids)]
        answers = await pipeline_raw(self._client, commands + [("GET", key) for key in keys])
        (seconds, micros), members = raise_first(answers[:2])
        now = int(seconds) + int(micros) / 1_000_000
        return now, [bool(int(member)) for member in members], heartbeat_values(answers[2:])

    async def claim(self, keys: list[bytes], seen: list[bytes]) -> list[bool]:
        """Deletes each heartbeat still holding the value read (b"" for none); True where
        it did (or there still is none). One script per slot, one round trip per node."""
        by_slot: dict[int, list[int]] = {}
        for index, key in enumerate(keys):
            by_slot.setdefault(slot_of(key), []).append(index)
        groups = list(by_slot.values())
        calls = [
            ([keys[i] for i in group], [b"claim", *(seen[i] for i in group)]) for group in groups
        ]
        claimed = [False] * len(keys)
        for group, reply in zip(groups, await self._script.pipelined(calls), strict=True):
            for index, letter in zip(group, reply.decode("ascii"), strict=True):
                claimed[index] = letter == "1"
        return claimed

    async def record(self, batch: JournaledBatch) -> None:
        await self._journaled(self._journal.journal_requeue_batch(batch), "record a batch")

    async def push(self, batch: JournaledBatch) -> MarkerState:
        keys = [batch.target_queue, batch.marker_key]
        args = [b"push", MARKER_LIFETIME_SECONDS, *batch.job_ids]
        return MarkerState((await self._script(keys=keys, args=args)).decode("ascii"))

    async def abandon(self, batch: JournaledBatch) -> MarkerState:
        args = [b"abandon", MARKER_LIFETIME_SECONDS]
        return MarkerState((await self._script(keys=[batch.marker_key], args=args)).decode())

    async def remove(self, batch: JournaledBatch) -> Removal:
        """Takes a pushed batch's ids out of the set, except those with a heartbeat again."""
        keys = HeartbeatKeys(batch.heartbeat_key).for_ids(batch.job_ids)
        held = raise_first(await pipeline_raw(self._client, [("EXISTS", key) for key in keys]))
        free = [job_id for job_id, n in zip(batch.job_ids, held, strict=True) if not int(n)]
        removed = 0
        if free:
            # One SREM: only the count matters. (Should redis-py resend it after a lost
            # reply, ids the first one removed count as left early: an overcount.)
            removed = int(await execute(self._client, "SREM", batch.processing_set, *free))
        return Removal(
            removed=removed,
            taken_again=len(batch.job_ids) - len(free),
            left_early=len(free) - removed,
        )

    async def finish(self, batch: JournaledBatch, state: MarkerState) -> None:
        await self._journaled(self._journal.finish_requeue_batch(batch.id), "finish a batch")
        if state is MarkerState.PUSHED:
            # An abandoned batch keeps its marker until it expires, so that a push from a
            # process that stalled (not died) half-way still finds the batch given up.
            await execute(self._client, "DEL", batch.marker_key)

    async def recover(self, processing_set: str) -> RecoveryOutcome:
        outcome = RecoveryOutcome()
        pending = await self._journaled(
            self._journal.unfinished_requeue_batches(processing_set), "read the journal"
        )
        for batch in pending:
            state = await self.abandon(batch)
            if state is MarkerState.PUSHED:
                removal = await self.remove(batch)
                outcome = RecoveryOutcome(
                    outcome.finished + 1,
                    outcome.abandoned,
                    outcome.abandoned_ids,
                    outcome.removal + removal,
                )
            else:
                outcome = RecoveryOutcome(
                    outcome.finished,
                    outcome.abandoned + 1,
                    outcome.abandoned_ids + len(batch.job_ids),
                    outcome.removal,
                )
            await self.finish(batch, state)
        if outcome.batches:
            log.warning(
                "recovered an interrupted journaled requeue",
                extra={"processing_set": processing_set, "batches": outcome.batches},
            )
        return outcome

    async def _journaled(self, call: Awaitable[T], doing: str) -> T:
        try:
            return await call
        except Exception as exc:
            log.warning("requeue journal failed to %s", doing, exc_info=True)
            raise JournalFailed(
                f"The bot's database failed to {doing} of the requeue's journal "
                f"({type(exc).__name__}).",
                fault=RedisFault.JOURNAL,
            ) from exc


@contextlib.asynccontextmanager
async def _locked(journal: RequeueJournal, processing_set: str) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        try:
            got = await stack.enter_async_context(journal.requeue_lock(processing_set))
        except Exception as exc:
            log.warning("requeue journal lock failed", exc_info=True)
            raise JournalFailed(
                f"The bot's database failed to lock the requeue journal ({type(exc).__name__}).",
                fault=RedisFault.JOURNAL,
            ) from exc
        if not got:
            raise requeue_running(processing_set)
        yield


class JournaledRequeue(RequeueRun):
    """Moves each batch through the journaled steps; see the module docstring."""

    mode = RequeueMode.JOURNALED

    def __init__(self, *args: Any, journal: RequeueJournal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._journal = journal
        self._steps = JournaledSteps(self._client, journal)
        self._run_id = uuid.uuid4()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        async with _locked(self._journal, self._processing_set):
            self._tally.recovered = await self._steps.recover(self._processing_set)
            yield

    async def batch(self, listed: list[bytes]) -> None:
        # SSCAN may list an id twice, even within one batch; pushed twice it would run
        # twice (the atomic script's SREM stops that; here nothing else would).
        ids = list(dict.fromkeys(listed))
        keys = self._keys.for_ids(ids)
        now, members, values = await self._steps.read(self._processing_set, ids, keys)
        candidates: list[int] = []
        malformed = fresh = 0
        gone = len(listed) - len(ids)
        for index, (job_id, raw) in enumerate(zip(ids, values, strict=True)):
            state = classify_heartbeat(raw, now=now, threshold=self._threshold).state
            if state is HeartbeatState.MALFORMED:
                malformed += 1
                self._tally.note_malformed(job_id)
            elif state is HeartbeatState.FRESH:
                fresh += 1
            elif not members[index]:
                gone += 1  # finished (or moved) since the SSCAN
            else:
                candidates.append(index)
        claimed = await self._steps.claim(
            [keys[i] for i in candidates], [values[i] or b"" for i in candidates]
        )
        chosen = [ids[i] for i, ok in zip(candidates, claimed, strict=True) if ok]
        outcome = await self._move(chosen) if chosen else BatchOutcome()
        self._tally.add(
            len(listed),
            BatchOutcome(
                moved=outcome.moved,
                skipped_renewed=len(candidates) - len(chosen),
                skipped_gone=gone + outcome.skipped_gone,
                malformed=malformed,
                still_running=fresh,
                taken_again=outcome.taken_again,
                left_early=outcome.left_early,
            ),
        )

    async def _move(self, ids: Sequence[bytes]) -> BatchOutcome:
        batch_id = uuid.uuid4()
        batch = JournaledBatch(
            id=batch_id,
            run_id=self._run_id,
            processing_set=self._processing_set,
            target_queue=self._target_queue,
            heartbeat_key=self._keys.template,
            marker_key=batch_marker(self._target_queue, str(batch_id)),
            job_ids=tuple(ids),
        )
        await self._steps.record(batch)
        self._in_flight = len(ids)
        state = await self._steps.push(batch)
        if state is not MarkerState.PUSHED:
            # Only a recovery racing this run abandons its batch; the ids stay put.
            self._in_flight = 0
            await self._steps.finish(batch, state)
            return BatchOutcome(skipped_gone=len(ids))
        removal = await self._steps.remove(batch)
        self._in_flight = 0
        await self._steps.finish(batch, state)
        return BatchOutcome(
            moved=len(ids), taken_again=removal.taken_again, left_early=removal.left_early
        )

    def _in_flight_words(self, unconfirmed: int) -> str:
        return (
            f" A batch of {self._in_flight:,} ids was being moved; the bot's journal lets "
            "the next requeue finish it first."
            if self._in_flight
            else ""
        )

    def _where(self) -> str:
        return (
            "every id is in the processing set or in the queue (an interrupted batch's "
            "ids may be in both until the next requeue finishes it)."
        )
