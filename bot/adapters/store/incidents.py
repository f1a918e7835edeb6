"""Incidents: opened once per playbook, acknowledged, resolved; their peak and times."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.adapters.store.base import Queries, changed
from bot.domain.models import Incident, IncidentState
from bot.domain.playbook import Severity


class IncidentQueries(Queries):
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
        row = await self._db.fetchrow(
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
        row = await self._db.fetchrow(
            "SELECT * FROM incidents WHERE playbook = $1 AND state <> 'resolved'", playbook
        )
        return _incident(row) if row else None

    async def lock_incident(self, incident_id: int) -> Incident | None:
        """The incident, row-locked until the transaction ends (``SELECT … FOR UPDATE``):
        an acknowledgement and a page decided under this lock cannot interleave."""
        row = await self._db.fetchrow(
            "SELECT * FROM incidents WHERE id = $1 FOR UPDATE", incident_id
        )
        return _incident(row) if row else None

    async def get_incident(self, incident_id: int) -> Incident | None:
        row = await self._db.fetchrow("SELECT * FROM incidents WHERE id = $1", incident_id)
        return _incident(row) if row else None

    async def latest_incident(self, playbook: str) -> Incident | None:
        row = await self._db.fetchrow(
            "SELECT * FROM incidents WHERE playbook = $1 ORDER BY detected_at DESC, id DESC "
            "LIMIT 1",
            playbook,
        )
        return _incident(row) if row else None

    async def set_incident_message(self, incident_id: int, channel: str, ts: str | None) -> None:
        """Where the incident's alert is (``ts`` once Slack has it)."""
        await self._db.execute(
            "UPDATE incidents SET channel = $2, message_ts = COALESCE($3, message_ts) "
            "WHERE id = $1",
            incident_id,
            channel,
            ts,
        )

    async def record_peak(self, incident_id: int, queue: str, depth: int, at: datetime) -> bool:
        """Raises the incident's peak if ``depth`` is above it; True when it did."""
        status = await self._db.execute(
            """
            UPDATE incidents SET peak_depth = $3, peak_queue = $2, peak_at = $4
            WHERE id = $1 AND state <> 'resolved' AND peak_depth < $3
            """,
            incident_id,
            queue,
            depth,
            at,
        )
        return bool(changed(status))

    async def acknowledge(self, incident_id: int, user: str, at: datetime) -> bool:
        status = await self._db.execute(
            """
            UPDATE incidents SET state = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2
            WHERE id = $1 AND state = 'open'
            """,
            incident_id,
            user,
            at,
        )
        return bool(changed(status))

    async def set_root_cause(self, incident_id: int, text: str) -> None:
        await self._db.execute(
            "UPDATE incidents SET root_cause = $2 WHERE id = $1", incident_id, text
        )

    async def resolve_incident(self, incident_id: int, user: str, at: datetime) -> bool:
        status = await self._db.execute(
            """
            UPDATE incidents SET state = 'resolved', resolved_at = $3, resolved_by = $2
            WHERE id = $1 AND state <> 'resolved'
            """,
            incident_id,
            user,
            at,
        )
        return bool(changed(status))

    async def mark_mitigation_started(self, incident_id: int, at: datetime) -> None:
        await self._db.execute(
            "UPDATE incidents SET mitigation_started_at = COALESCE(mitigation_started_at, $2) "
            "WHERE id = $1",
            incident_id,
            at,
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
