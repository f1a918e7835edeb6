"""Effect checks, recorded changes (for rollbacks) and drain recoveries (issue 12).

Updates are conditional (``WHERE state = …``), so a check finished or a re-analysis
offered once stays so whichever replica gets there first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from bot.adapters.store.base import Queries, changed
from bot.domain.effect_text import EffectRecord
from bot.domain.effects import EffectNumbers, Verdict, Watch
from bot.domain.playbook import ActionKind
from bot.domain.recovery import DrainCount, Recovery, RecoveryState
from bot.domain.rollback import Change


@dataclass(frozen=True)
class CheckRow:
    """One effect check as stored: what it watches and what it last said."""

    request_id: UUID
    incident_id: int | None
    channel: str
    watch: Watch | None  # None: the action works no playbook queue
    workers_known: bool
    final: bool
    verdict: Verdict | None
    reason: str
    numbers: EffectNumbers | None
    verdict_at: datetime | None
    said_at: datetime | None


class EffectQueries(Queries):
    # ---- effect checks ---------------------------------------------------------------

    async def add_effect_check(
        self,
        request_id: UUID,
        *,
        incident_id: int | None,
        channel: str,
        watch: Watch | None,
        action_at: datetime,
        workers_known: bool,
    ) -> bool:
        """Starts watching; False when this request already has a check."""
        row = await self._db.fetchrow(
            """
            INSERT INTO effect_checks (request_id, incident_id, queue, channel, action_at,
                                       effect_from, watch_until, workers_before, workers_known,
                                       threshold, state)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'watching')
            ON CONFLICT DO NOTHING RETURNING request_id
            """,
            request_id,
            incident_id,
            watch.queue if watch else None,
            channel,
            watch.action_at if watch else action_at,
            watch.effect_from if watch else action_at,
            watch.until if watch else action_at,
            watch.workers_before if watch else None,
            workers_known,
            watch.threshold if watch else None,
        )
        return row is not None

    async def watching_checks(self) -> list[CheckRow]:
        rows = await self._db.fetch(
            "SELECT * FROM effect_checks WHERE state = 'watching' ORDER BY action_at"
        )
        return [_check(row) for row in rows]

    async def effect_check(self, request_id: UUID) -> CheckRow | None:
        row = await self._db.fetchrow(
            "SELECT * FROM effect_checks WHERE request_id = $1", request_id
        )
        return None if row is None else _check(row)

    async def set_workers_before(self, request_id: UUID, workers: int | None) -> None:
        await self._db.execute(
            "UPDATE effect_checks SET workers_before = $2, workers_known = true "
            "WHERE request_id = $1",
            request_id,
            workers,
        )

    async def save_verdict(
        self,
        request_id: UUID,
        *,
        verdict: Verdict | None,
        reason: str,
        numbers: EffectNumbers | None,
        at: datetime,
        verdict_changed: bool,
        final: bool,
    ) -> bool:
        """Stores what the check says now; False when it had finished already."""
        status = await self._db.execute(
            """
            UPDATE effect_checks SET verdict = $2, reason = $3, numbers = $4, said_at = $5,
                   verdict_at = CASE WHEN $6 THEN $5 ELSE verdict_at END,
                   state = CASE WHEN $7 THEN 'done' ELSE state END,
                   finished_at = CASE WHEN $7 THEN $5 ELSE finished_at END
            WHERE request_id = $1 AND state = 'watching'
            """,
            request_id,
            verdict.value if verdict else None,
            reason,
            None if numbers is None else numbers.to_json(),
            at,
            verdict_changed,
            final,
        )
        return changed(status)

    async def action_effects(self, incident_id: int) -> list[EffectRecord]:
        """Each action's effect check in the incident, in the order they ran: for the
        report ("throughput before and after each action") and the chart's marks."""
        rows = await self._db.fetch(
            f"{_RECORDS} WHERE e.incident_id = $1 ORDER BY e.action_at, e.request_id", incident_id
        )
        return [_record(row) for row in rows]

    async def latest_verdict(self, incident_id: int) -> EffectRecord | None:
        """The incident's most recent verdict (for the living alert); None when no check
        has given one yet."""
        row = await self._db.fetchrow(
            f"{_RECORDS} WHERE e.incident_id = $1 AND e.verdict IS NOT NULL "
            "ORDER BY e.verdict_at DESC, e.action_at DESC LIMIT 1",
            incident_id,
        )
        return None if row is None else _record(row)

    # ---- changes (rollbacks) -----------------------------------------------------------

    async def record_change(self, request_id: UUID, change: Change, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO action_changes (request_id, change, recorded_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (request_id) DO UPDATE SET change = EXCLUDED.change",
            request_id,
            change.to_json(),
            at,
        )

    async def change_for(self, request_id: UUID) -> Change | None:
        found = await self._db.fetchval(
            "SELECT change FROM action_changes WHERE request_id = $1", request_id
        )
        return None if found is None else Change.from_json(found)

    async def once_request(self, once: str) -> tuple[UUID, str] | None:
        """The pending, running or succeeded request carrying ``params.once`` (id, state)."""
        row = await self._db.fetchrow(
            "SELECT id, state FROM action_requests WHERE params ->> 'once' = $1 "
            "AND state IN ('pending', 'executing', 'succeeded') LIMIT 1",
            once,
        )
        return None if row is None else (row["id"], row["state"])

    # ---- drain recoveries ----------------------------------------------------------------

    async def add_drain_recovery(
        self,
        request_id: UUID,
        *,
        incident_id: int | None,
        job: str,
        queue: str,
        channel: str,
        snapshotted: int,
        at: datetime,
        expires_at: datetime,
    ) -> None:
        await self._db.execute(
            """
            INSERT INTO drain_recoveries (request_id, incident_id, job, queue, channel,
                                          snapshotted, state, snapshotted_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'snapshotted', $7, $8) ON CONFLICT DO NOTHING
            """,
            request_id,
            incident_id,
            job,
            queue,
            channel,
            snapshotted,
            at,
            expires_at,
        )

    async def set_drain_counted(self, request_id: UUID, count: DrainCount, succeeded: bool) -> None:
        await self._db.execute(
            """
            UPDATE drain_recoveries SET taken = $2, left_in_queue = $3, in_flight = $4,
                   succeeded = $5, state = 'counted'
            WHERE request_id = $1 AND state = 'snapshotted'
            """,
            request_id,
            count.taken,
            count.left,
            count.in_flight,
            succeeded,
        )

    async def set_recovery_state(
        self, request_id: UUID, state: RecoveryState, *, was: RecoveryState
    ) -> bool:
        status = await self._db.execute(
            "UPDATE drain_recoveries SET state = $2 WHERE request_id = $1 AND state = $3",
            request_id,
            state.value,
            was.value,
        )
        return changed(status)

    async def set_recovery_pushed(self, request_id: UUID, pushed: int, *, done: bool) -> None:
        await self._db.execute(
            "UPDATE drain_recoveries SET pushed = GREATEST(pushed, $2), "
            "state = CASE WHEN $3 THEN 'reanalysed' ELSE state END WHERE request_id = $1",
            request_id,
            pushed,
            done,
        )

    async def drain_recovery(self, request_id: UUID) -> Recovery | None:
        row = await self._db.fetchrow(
            "SELECT * FROM drain_recoveries WHERE request_id = $1", request_id
        )
        return None if row is None else _recovery(row)

    async def open_recoveries(self) -> list[Recovery]:
        """Counted drains whose Re-analyse may be offered, or has to be withdrawn."""
        rows = await self._db.fetch(
            "SELECT * FROM drain_recoveries WHERE state IN ('counted', 'offered') "
            "ORDER BY snapshotted_at"
        )
        return [_recovery(row) for row in rows]


_RECORDS = """
    SELECT e.request_id, e.incident_id, e.queue, e.verdict, e.state, e.reason, e.numbers,
           e.verdict_at, a.kind, a.summary
    FROM effect_checks e JOIN action_requests a ON a.id = e.request_id
"""


def _check(row: asyncpg.Record) -> CheckRow:
    watch = None
    if row["queue"] is not None:
        watch = Watch(
            queue=row["queue"],
            action_at=row["action_at"],
            effect_from=row["effect_from"],
            until=row["watch_until"],
            workers_before=row["workers_before"],
            threshold=row["threshold"],
        )
    return CheckRow(
        request_id=row["request_id"],
        incident_id=row["incident_id"],
        channel=row["channel"],
        watch=watch,
        workers_known=row["workers_known"],
        final=row["state"] == "done",
        verdict=_verdict(row["verdict"]),
        reason=row["reason"],
        numbers=_numbers(row["numbers"]),
        verdict_at=row["verdict_at"],
        said_at=row["said_at"],
    )


def _record(row: asyncpg.Record) -> EffectRecord:
    return EffectRecord(
        request_id=row["request_id"],
        incident_id=row["incident_id"],
        kind=ActionKind(row["kind"]),
        summary=row["summary"],
        queue=row["queue"],
        verdict=_verdict(row["verdict"]),
        final=row["state"] == "done",
        reason=row["reason"],
        numbers=_numbers(row["numbers"]),
        at=row["verdict_at"],
    )


def _verdict(value: str | None) -> Verdict | None:
    return None if value is None else Verdict(value)


def _numbers(value: Mapping[str, Any] | None) -> EffectNumbers | None:
    return None if value is None else EffectNumbers.from_json(value)


def _recovery(row: asyncpg.Record) -> Recovery:
    count = None
    if row["taken"] is not None:
        count = DrainCount(
            snapshotted=row["snapshotted"],
            taken=row["taken"],
            left=row["left_in_queue"],
            in_flight=row["in_flight"],
        )
    return Recovery(
        request_id=row["request_id"],
        incident_id=row["incident_id"],
        job=row["job"],
        queue=row["queue"],
        snapshotted=row["snapshotted"],
        expires_at=row["expires_at"],
        state=RecoveryState(row["state"]),
        count=count,
        pushed=row["pushed"],
        channel=row["channel"],
        succeeded=row["succeeded"],
    )
