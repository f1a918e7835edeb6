"""PostgreSQL persistence: the source of truth for everything that must survive.

State changes are conditional (``UPDATE … WHERE state = …``, unique keys, row
locks), so several replicas can run at once and an action runs exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from bot.domain.approvals import ApprovalDecision, Verdict
from bot.domain.models import (
    ActionRequest,
    ActionState,
    Approval,
    EventKind,
    Incident,
    IncidentState,
    QueueSample,
    TimelineEntry,
)
from bot.domain.playbook import ActionKind, Severity

Judge = Callable[[ActionRequest], ApprovalDecision]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Store:
    """Typed queries over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Store:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection
        )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> bool:
        return bool(await self._pool.fetchval("SELECT 1"))

    # ---- incidents -------------------------------------------------------

    async def open_incident(
        self,
        *,
        playbook: str,
        title: str,
        severity: Severity,
        rule: str,
        queue: str,
        depth: int,
        at: datetime,
    ) -> tuple[Incident, bool]:
        """Opens the playbook's incident unless one is open; returns (incident, created)."""
        row = await self._pool.fetchrow(
            """
            INSERT INTO incidents (playbook, title, severity, state, rule, queue,
                                   detected_at, peak_depth, peak_queue, peak_at)
            VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $5, $6)
            ON CONFLICT (playbook) WHERE state <> 'resolved' DO NOTHING
            RETURNING *
            """,
            playbook,
            title,
            severity.value,
            rule,
            queue,
            at,
            depth,
        )
        if row is not None:
            return _incident(row), True
        existing = await self.open_incident_for(playbook)
        if existing is None:  # resolved between the two statements: try once more
            return await self.open_incident(
                playbook=playbook,
                title=title,
                severity=severity,
                rule=rule,
                queue=queue,
                depth=depth,
                at=at,
            )
        return existing, False

    async def open_incident_for(self, playbook: str) -> Incident | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM incidents WHERE playbook = $1 AND state <> 'resolved'", playbook
        )
        return _incident(row) if row else None

    async def get_incident(self, incident_id: int) -> Incident | None:
        row = await self._pool.fetchrow("SELECT * FROM incidents WHERE id = $1", incident_id)
        return _incident(row) if row else None

    async def latest_incident(self, playbook: str) -> Incident | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM incidents WHERE playbook = $1 ORDER BY detected_at DESC, id DESC "
            "LIMIT 1",
            playbook,
        )
        return _incident(row) if row else None

    async def set_incident_message(self, incident_id: int, channel: str, ts: str) -> None:
        await self._pool.execute(
            "UPDATE incidents SET channel = $2, message_ts = $3 WHERE id = $1",
            incident_id,
            channel,
            ts,
        )

    async def record_peak(self, incident_id: int, queue: str, depth: int, at: datetime) -> bool:
        """Raises the incident's peak if ``depth`` is above it; True when it did."""
        status = await self._pool.execute(
            """
            UPDATE incidents SET peak_depth = $3, peak_queue = $2, peak_at = $4
            WHERE id = $1 AND state <> 'resolved' AND peak_depth < $3
            """,
            incident_id,
            queue,
            depth,
            at,
        )
        return bool(status.endswith(" 1"))

    async def acknowledge(self, incident_id: int, user: str, at: datetime) -> bool:
        status = await self._pool.execute(
            """
            UPDATE incidents SET state = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2
            WHERE id = $1 AND state = 'open'
            """,
            incident_id,
            user,
            at,
        )
        return bool(status.endswith(" 1"))

    async def set_root_cause(self, incident_id: int, text: str) -> None:
        await self._pool.execute(
            "UPDATE incidents SET root_cause = $2 WHERE id = $1", incident_id, text
        )

    async def resolve_incident(self, incident_id: int, user: str, at: datetime) -> bool:
        status = await self._pool.execute(
            """
            UPDATE incidents SET state = 'resolved', resolved_at = $3, resolved_by = $2
            WHERE id = $1 AND state <> 'resolved'
            """,
            incident_id,
            user,
            at,
        )
        return bool(status.endswith(" 1"))

    # ---- timeline and audit ---------------------------------------------

    async def add_event(
        self,
        incident_id: int,
        *,
        at: datetime,
        kind: EventKind,
        text: str,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        await self._pool.execute(
            "INSERT INTO timeline_events (incident_id, at, kind, actor, text, data) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            incident_id,
            at,
            kind.value,
            actor,
            text,
            dict(data or {}),
        )

    async def timeline(self, incident_id: int) -> list[TimelineEntry]:
        rows = await self._pool.fetch(
            "SELECT * FROM timeline_events WHERE incident_id = $1 ORDER BY at, id", incident_id
        )
        return [
            TimelineEntry(
                incident_id=row["incident_id"],
                at=row["at"],
                kind=EventKind(row["kind"]),
                actor=row["actor"],
                text=row["text"],
                data=row["data"],
            )
            for row in rows
        ]

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        target: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await self._pool.execute(
            "INSERT INTO audit_log (at, actor, action, target, outcome, details) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            at,
            actor,
            action,
            target,
            outcome,
            dict(details or {}),
        )

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT at, actor, action, target, outcome, details FROM audit_log "
            "ORDER BY at, id LIMIT $1",
            limit,
        )
        return [dict(row) for row in rows]

    # ---- action requests --------------------------------------------------

    async def create_action_request(self, request: ActionRequest) -> None:
        await self._pool.execute(
            """
            INSERT INTO action_requests (id, incident_id, kind, params, summary, details,
                                         requested_by, requested_at, expires_at, state,
                                         channel, message_ts)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """,
            request.id,
            request.incident_id,
            request.kind.value,
            dict(request.params),
            request.summary,
            list(request.details),
            request.requested_by,
            request.requested_at,
            request.expires_at,
            request.state.value,
            request.channel,
            request.message_ts,
        )

    async def set_action_message(self, request_id: UUID, channel: str, ts: str) -> None:
        await self._pool.execute(
            "UPDATE action_requests SET channel = $2, message_ts = $3 WHERE id = $1",
            request_id,
            channel,
            ts,
        )

    async def get_action_request(self, request_id: UUID) -> ActionRequest | None:
        async with self._pool.acquire() as conn:
            return await _load_request(conn, request_id, lock=False)

    async def approve(
        self, request_id: UUID, approver: str, at: datetime, judge: Judge
    ) -> tuple[ApprovalDecision, ActionRequest] | None:
        """Records one approval under a row lock.

        ``judge`` (pure) sees the request as it is now and decides; when its
        verdict is COMPLETE the request moves to ``executing`` in the same
        transaction, so exactly one click, on one replica, gets to run it.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            request = await _load_request(conn, request_id, lock=True)
            if request is None:
                return None
            decision = judge(request)
            if decision.verdict is Verdict.REJECTED:
                return decision, request
            await conn.execute(
                "INSERT INTO approvals (request_id, approver, at) VALUES ($1, $2, $3)",
                request_id,
                approver,
                at,
            )
            if decision.verdict is Verdict.COMPLETE:
                await conn.execute(
                    "UPDATE action_requests SET state = 'executing', executed_at = $2 "
                    "WHERE id = $1 AND state = 'pending'",
                    request_id,
                    at,
                )
            updated = await _load_request(conn, request_id, lock=False)
            assert updated is not None
            return decision, updated

    async def deny(
        self, request_id: UUID, user: str, at: datetime, check: Callable[[ActionRequest], str]
    ) -> tuple[str, ActionRequest] | None:
        """Denies a pending request; returns (refusal reason or "", request)."""
        async with self._pool.acquire() as conn, conn.transaction():
            request = await _load_request(conn, request_id, lock=True)
            if request is None:
                return None
            reason = check(request)
            if reason:
                return reason, request
            await conn.execute(
                "UPDATE action_requests SET state = 'denied', denied_by = $2, finished_at = $3 "
                "WHERE id = $1 AND state = 'pending'",
                request_id,
                user,
                at,
            )
            updated = await _load_request(conn, request_id, lock=False)
            assert updated is not None
            return "", updated

    async def expire_action(self, request_id: UUID, at: datetime) -> ActionRequest | None:
        """Marks a pending request past its expiry as expired; None if it was not."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE action_requests SET state = 'expired', finished_at = $2 "
                "WHERE id = $1 AND state = 'pending' AND expires_at <= $2",
                request_id,
                at,
            )
            if not status.endswith(" 1"):
                return None
            return await _load_request(conn, request_id, lock=False)

    async def fail_orphaned_actions(self, started_before: datetime, at: datetime) -> list[UUID]:
        """Fails requests still ``executing`` that started before ``started_before``: their
        process died mid-run (every executor gives up well before that). Never re-run."""
        rows = await self._pool.fetch(
            """
            UPDATE action_requests SET state = 'failed', finished_at = $2,
                   error = 'interrupted: the bot stopped while this ran; check the outcome by hand'
            WHERE state = 'executing' AND executed_at < $1
            RETURNING id
            """,
            started_before,
            at,
        )
        return [row["id"] for row in rows]

    async def finish_action(
        self,
        request_id: UUID,
        *,
        state: ActionState,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> ActionRequest:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                UPDATE action_requests SET state = $2, finished_at = $3, result = $4, error = $5
                WHERE id = $1 AND state = 'executing'
                """,
                request_id,
                state.value,
                at,
                dict(result or {}),
                error,
            )
            request = await _load_request(conn, request_id, lock=False)
            assert request is not None
            return request

    async def mark_mitigation_started(self, incident_id: int, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE incidents SET mitigation_started_at = COALESCE(mitigation_started_at, $2) "
            "WHERE id = $1",
            incident_id,
            at,
        )

    async def actions_for_incident(self, incident_id: int) -> list[ActionRequest]:
        async with self._pool.acquire() as conn:
            ids = await conn.fetch(
                "SELECT id FROM action_requests WHERE incident_id = $1 ORDER BY requested_at, id",
                incident_id,
            )
            requests = [await _load_request(conn, row["id"], lock=False) for row in ids]
        return [r for r in requests if r is not None]

    # ---- escalation pages -----------------------------------------------

    async def record_page(
        self, incident_id: int, tier: int, reason: str, at: datetime, by: str
    ) -> bool:
        """True when this call recorded the page (each tier is paged once per incident)."""
        row = await self._pool.fetchrow(
            "INSERT INTO pages (incident_id, tier, reason, paged_at, paged_by) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING tier",
            incident_id,
            tier,
            reason,
            at,
            by,
        )
        return row is not None

    async def forget_page(self, incident_id: int, tier: int) -> None:
        """Undoes :meth:`record_page` when the page could not be delivered."""
        await self._pool.execute(
            "DELETE FROM pages WHERE incident_id = $1 AND tier = $2", incident_id, tier
        )

    async def pages(self, incident_id: int) -> dict[int, datetime]:
        rows = await self._pool.fetch(
            "SELECT tier, paged_at FROM pages WHERE incident_id = $1 ORDER BY tier", incident_id
        )
        return {row["tier"]: row["paged_at"] for row in rows}

    # ---- samples ---------------------------------------------------------

    async def save_sample(self, playbook: str, sample: QueueSample) -> None:
        await self._pool.executemany(
            "INSERT INTO queue_samples (playbook, queue, at, depth) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            [(playbook, queue, sample.at, depth) for queue, depth in sample.depths.items()],
        )

    async def prune_samples(
        self, now: datetime, *, raw_for: timedelta, hourly_for: timedelta
    ) -> tuple[int, int]:
        """Folds raw samples older than ``raw_for`` into hourly rows and drops hourly
        rows older than ``hourly_for``; returns (raw rows folded, hourly rows dropped).

        One transaction: a crash leaves either the raw rows or their hourly fold.
        Several replicas may prune at once; the upsert keeps the fold correct.
        """
        cutoff = now - raw_for
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO queue_samples_hourly AS h (playbook, queue, hour, max_depth,
                                                       avg_depth, samples)
                SELECT playbook, queue, date_trunc('hour', at), max(depth), avg(depth), count(*)
                FROM queue_samples WHERE at < $1
                GROUP BY playbook, queue, date_trunc('hour', at)
                ON CONFLICT (playbook, queue, hour) DO UPDATE SET
                    max_depth = GREATEST(h.max_depth, EXCLUDED.max_depth),
                    avg_depth = (h.avg_depth * h.samples + EXCLUDED.avg_depth * EXCLUDED.samples)
                                / (h.samples + EXCLUDED.samples),
                    samples = h.samples + EXCLUDED.samples
                """,
                cutoff,
            )
            folded = await conn.execute("DELETE FROM queue_samples WHERE at < $1", cutoff)
            dropped = await conn.execute(
                "DELETE FROM queue_samples_hourly WHERE hour < $1", now - hourly_for
            )
        return int(folded.split()[-1]), int(dropped.split()[-1])

    async def hourly_samples(self, playbook: str, queue: str) -> list[tuple[datetime, int, float]]:
        rows = await self._pool.fetch(
            "SELECT hour, max_depth, avg_depth FROM queue_samples_hourly "
            "WHERE playbook = $1 AND queue = $2 ORDER BY hour",
            playbook,
            queue,
        )
        return [(row["hour"], row["max_depth"], row["avg_depth"]) for row in rows]

    async def samples_between(
        self, playbook: str, start: datetime, end: datetime
    ) -> list[QueueSample]:
        rows = await self._pool.fetch(
            "SELECT at, queue, depth FROM queue_samples WHERE playbook = $1 AND at BETWEEN $2 "
            "AND $3 ORDER BY at",
            playbook,
            start,
            end,
        )
        return _group_samples(rows)


def _group_samples(rows: Sequence[asyncpg.Record]) -> list[QueueSample]:
    by_time: dict[datetime, dict[str, int]] = {}
    for row in rows:
        by_time.setdefault(row["at"], {})[row["queue"]] = row["depth"]
    return [QueueSample(at=at, depths=depths) for at, depths in by_time.items()]


async def _load_request(
    conn: asyncpg.Connection, request_id: UUID, *, lock: bool
) -> ActionRequest | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow("SELECT * FROM action_requests WHERE id = $1" + suffix, request_id)
    if row is None:
        return None
    approvals = await conn.fetch(
        "SELECT approver, at FROM approvals WHERE request_id = $1 ORDER BY at, approver",
        request_id,
    )
    return ActionRequest(
        id=row["id"],
        incident_id=row["incident_id"],
        kind=ActionKind(row["kind"]),
        params=row["params"],
        summary=row["summary"],
        details=tuple(row["details"]),
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        state=ActionState(row["state"]),
        approvals=tuple(Approval(approver=a["approver"], at=a["at"]) for a in approvals),
        denied_by=row["denied_by"],
        executed_at=row["executed_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        error=row["error"],
        channel=row["channel"],
        message_ts=row["message_ts"],
    )


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"],
        playbook=row["playbook"],
        title=row["title"],
        severity=Severity(row["severity"]),
        state=IncidentState(row["state"]),
        rule=row["rule"],
        queue=row["queue"],
        detected_at=row["detected_at"],
        peak_depth=row["peak_depth"],
        peak_queue=row["peak_queue"],
        peak_at=row["peak_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        mitigation_started_at=row["mitigation_started_at"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        root_cause=row["root_cause"],
        channel=row["channel"],
        message_ts=row["message_ts"],
    )
