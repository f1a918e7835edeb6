"""Game-day runs (table ``gameday_runs``, migration 0010) and the lock that lets one
drill run per playbook at a time; the measured times read from the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bot.adapters.store.base import Queries

# Advisory-lock namespace of "a game day of this playbook runs" (two-key form:
# namespace, hashtext(playbook)).
_NAMESPACE = 0x42424744  # "BBGD"


@dataclass(frozen=True)
class GamedayRun:
    run_id: str
    playbook: str
    queue: str
    job_prefix: str
    started_at: datetime
    reserved: int
    pushed: int
    removed: int
    taken: int
    outcome: str | None
    finished_at: datetime | None


class GamedayQueries(Queries):
    @asynccontextmanager
    async def gameday_lock(self, playbook: str) -> AsyncIterator[bool]:
        """Holds a session advisory lock on ``playbook``'s game days for the block, on
        a connection of its own; yields False (holding nothing) when another drill of
        it runs. A process that dies drops it with its connection, which is how an
        unfinished run is known to be abandoned."""
        async with self._pool.acquire() as conn:
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _NAMESPACE, playbook
            )
            try:
                yield bool(got)
            finally:
                if got:
                    await conn.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", _NAMESPACE, playbook
                    )

    async def start_gameday(
        self, run_id: str, playbook: str, queue: str, prefix: str, at: datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO gameday_runs (run_id, playbook, queue, job_prefix, started_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            run_id,
            playbook,
            queue,
            prefix,
            at,
        )

    async def reserve_gameday_ids(self, run_id: str, upto: int) -> None:
        """Records, before they are pushed, that ids below ``upto`` may be on the queue."""
        await self._db.execute(
            "UPDATE gameday_runs SET reserved = GREATEST(reserved, $2) WHERE run_id = $1",
            run_id,
            upto,
        )

    async def record_gameday_push(self, run_id: str, pushed: int) -> None:
        await self._db.execute(
            "UPDATE gameday_runs SET pushed = $2 WHERE run_id = $1", run_id, pushed
        )

    async def record_gameday_times(
        self,
        run_id: str,
        *,
        incident_id: int | None,
        crossed_at: datetime | None,
        detected_at: datetime | None,
        posted_at: datetime | None,
        paged_at: datetime | None,
    ) -> None:
        await self._db.execute(
            "UPDATE gameday_runs SET incident_id = $2, crossed_at = $3, detected_at = $4, "
            "posted_at = $5, paged_at = $6 WHERE run_id = $1",
            run_id,
            incident_id,
            crossed_at,
            detected_at,
            posted_at,
            paged_at,
        )

    async def finish_gameday(
        self,
        run_id: str,
        *,
        outcome: str,
        failures: list[str],
        removed: int,
        taken: int,
        at: datetime,
    ) -> None:
        await self._db.execute(
            "UPDATE gameday_runs SET outcome = $2, failures = $3, removed = $4, taken = $5, "
            "finished_at = $6 WHERE run_id = $1",
            run_id,
            outcome,
            failures,
            removed,
            taken,
            at,
        )

    async def unfinished_gamedays(self, playbook: str) -> list[GamedayRun]:
        rows = await self._db.fetch(
            "SELECT * FROM gameday_runs WHERE playbook = $1 AND finished_at IS NULL "
            "ORDER BY started_at",
            playbook,
        )
        return [_run(row) for row in rows]

    async def gameday_run(self, run_id: str) -> GamedayRun | None:
        row = await self._db.fetchrow("SELECT * FROM gameday_runs WHERE run_id = $1", run_id)
        return None if row is None else _run(row)

    async def delivered_at(self, key: str) -> datetime | None:
        """When the outbox message ``key`` first reached Slack (the sender's clock)."""
        value = await self._db.fetchval(
            "SELECT delivered_at FROM slack_messages WHERE key = $1", key
        )
        return value if isinstance(value, datetime) else None

    async def first_delivered_under(self, prefix: str, *, exclude: str) -> datetime | None:
        """The earliest delivery of a message whose key starts with ``prefix`` (and
        does not contain ``exclude``): the first page of an incident."""
        value = await self._db.fetchval(
            "SELECT min(delivered_at) FROM slack_messages "
            "WHERE starts_with(key, $1) AND strpos(key, $2) = 0",
            prefix,
            exclude,
        )
        return value if isinstance(value, datetime) else None


def _run(row: asyncpg.Record) -> GamedayRun:
    get = row.__getitem__
    return GamedayRun(
        run_id=get("run_id"),
        playbook=get("playbook"),
        queue=get("queue"),
        job_prefix=get("job_prefix"),
        started_at=get("started_at"),
        reserved=get("reserved"),
        pushed=get("pushed"),
        removed=get("removed"),
        taken=get("taken"),
        outcome=get("outcome"),
        finished_at=get("finished_at"),
    )
