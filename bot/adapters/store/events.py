"""The incident timeline and the audit log: append-only records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.adapters.store.base import Queries
from bot.domain.models import EventKind, TimelineEntry


class EventQueries(Queries):
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
        await self._db.execute(
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
        rows = await self._db.fetch(
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
        await self._db.execute(
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
        rows = await self._db.fetch(
            "SELECT at, actor, action, target, outcome, details FROM audit_log "
            "ORDER BY at, id LIMIT $1",
            limit,
        )
        return [dict(row) for row in rows]
