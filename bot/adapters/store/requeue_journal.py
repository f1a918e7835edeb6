"""The journal of requeues that cannot be atomic (Redis Cluster, keys in different
hash slots): one row per batch between its push and its removal, and the lock that
lets one such requeue run per processing set. The protocol is in
``bot/adapters/queues/journaled.py``; this group is its ``RequeueJournal``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from bot.adapters.store.base import Queries
from bot.domain.requeue_journal import JournaledBatch

log = logging.getLogger(__name__)

# Advisory-lock namespace of "a journaled requeue of this processing set runs"
# (two-key form: namespace, hashtext(processing set)).
_NAMESPACE = 0x4242524A  # "BBRJ"


class RequeueJournalQueries(Queries):
    #: How long a requeue waits for another to finish before it is refused: long enough
    #: for PostgreSQL to drop the lock of a process that has just died.
    requeue_lock_wait_seconds = 5.0

    @asynccontextmanager
    async def requeue_lock(self, processing_set: str) -> AsyncIterator[bool]:
        """Holds a session advisory lock on ``processing_set`` for the block, on a pool
        connection of its own; yields False (holding nothing) when another process still
        has it after ``requeue_lock_wait_seconds``. A process that dies drops it with its
        connection: at once when it is killed, within about 35 s (TCP keepalives set
        here) when its machine vanishes."""
        async with self._pool.acquire() as conn:
            # The pool runs RESET ALL (and pg_advisory_unlock_all) when it takes it back.
            await conn.execute(
                "SELECT set_config('tcp_keepalives_idle', '20', false), "
                "set_config('tcp_keepalives_interval', '5', false), "
                "set_config('tcp_keepalives_count', '3', false)"
            )
            got = await self._take_lock(conn, processing_set)
            try:
                yield got
            finally:
                if got:
                    try:
                        await conn.execute(
                            "SELECT pg_advisory_unlock($1, hashtext($2))",
                            _NAMESPACE,
                            processing_set,
                        )
                    except Exception:  # it is released with the connection anyway
                        log.warning("could not release the requeue lock", exc_info=True)

    async def _take_lock(self, conn: asyncpg.Connection, processing_set: str) -> bool:
        wait = f"{max(1, round(self.requeue_lock_wait_seconds * 1000))}ms"
        try:
            # A session lock taken inside a transaction outlives it (PostgreSQL docs,
            # "Advisory Locks"); the transaction only scopes lock_timeout.
            async with conn.transaction():
                await conn.execute("SELECT set_config('lock_timeout', $1, true)", wait)
                await conn.execute(
                    "SELECT pg_advisory_lock($1, hashtext($2))", _NAMESPACE, processing_set
                )
        except asyncpg.LockNotAvailableError:
            return False
        return True

    async def journal_requeue_batch(self, batch: JournaledBatch) -> None:
        """Records a batch before any of its ids is pushed (committed on return)."""
        await self._db.execute(
            """
            INSERT INTO requeue_batches (id, run_id, processing_set, target_queue,
                                         heartbeat_key, marker_key, job_ids)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            batch.id,
            batch.run_id,
            batch.processing_set,
            batch.target_queue,
            batch.heartbeat_key,
            batch.marker_key,
            list(batch.job_ids),
        )

    async def finish_requeue_batch(self, batch_id: UUID) -> None:
        """Forgets a batch whose ids are all where they belong."""
        await self._db.execute("DELETE FROM requeue_batches WHERE id = $1", batch_id)

    async def unfinished_requeue_batches(self, processing_set: str) -> list[JournaledBatch]:
        """Batches of ``processing_set`` a stopped requeue left, oldest first."""
        rows = await self._db.fetch(
            """
            SELECT id, run_id, processing_set, target_queue, heartbeat_key, marker_key, job_ids
            FROM requeue_batches WHERE processing_set = $1 ORDER BY journaled_at, id
            """,
            processing_set,
        )
        return [
            JournaledBatch(
                id=row["id"],
                run_id=row["run_id"],
                processing_set=row["processing_set"],
                target_queue=row["target_queue"],
                heartbeat_key=row["heartbeat_key"],
                marker_key=row["marker_key"],
                job_ids=tuple(bytes(job_id) for job_id in row["job_ids"]),
            )
            for row in rows
        ]
