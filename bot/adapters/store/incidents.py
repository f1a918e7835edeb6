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
        channel: str | None = None,
        channel_status: str = "fixed",
    ) -> tuple[Incident, bool]:
        """Opens the playbook's incident unless one is open; returns (incident, created).

        ``channel``/``channel_status``: where it lives from the start (fixed mode: the
        announcement channel; ``pending`` with no channel until its own is created)."""
        row = await self._db.fetchrow(
            """
            INSERT INTO incidents (playbook, title, severity, state, rule, queue,
                                   detected_at, peak_depth, peak_queue, peak_at,
                                   channel, channel_status)
            VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $5, $6, $8, $9)
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
            channel,
            channel_status,
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
                channel=channel,
                channel_status=channel_status,
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
        """Where the incident's alert is (``ts`` once Slack has it): the channel id Slack
        answered with replaces a ``#name`` it lives in, never a channel of its own."""
        await self._db.execute(
            "UPDATE incidents SET channel = CASE WHEN channel_status = 'pending' THEN channel "
            "ELSE $2 END, message_ts = COALESCE($3, message_ts) WHERE id = $1",
            incident_id,
            channel,
            ts,
        )

    async def set_incident_channel(
        self, incident_id: int, channel: str, status: str, *, name: str | None, note: str | None
    ) -> bool:
        """Where the incident lives from now on: its own channel (``dedicated``), or the
        announcement channel after creation was refused (``fallback``, ``note`` says
        why). Only once: False when it was already decided."""
        status_tag = await self._db.execute(
            "UPDATE incidents SET channel = $2, channel_status = $3, channel_name = $4, "
            "channel_note = $5 WHERE id = $1 AND channel_status = 'pending'",
            incident_id,
            channel,
            status,
            name,
            note,
        )
        return bool(changed(status_tag))

    async def incident_with_channel(self, channel: str) -> Incident | None:
        """The latest incident living in its own channel ``channel`` (a channel id)."""
        row = await self._db.fetchrow(
            "SELECT * FROM incidents WHERE channel = $1 AND channel_status = 'dedicated' "
            "ORDER BY id DESC LIMIT 1",
            channel,
        )
        return _incident(row) if row else None

    async def set_recovery(
        self, incident_id: int, clear_since: datetime | None, announced_at: datetime | None
    ) -> None:
        """Recovery's state (see bot/domain/alert_state.py)."""
        await self._db.execute(
            "UPDATE incidents SET clear_since = $2, recovery_announced_at = $3 "
            "WHERE id = $1 AND state <> 'resolved'",
            incident_id,
            clear_since,
            announced_at,
        )

    async def set_alert_phase(self, incident_id: int, phase: str) -> bool:
        """Records the phase the alert shows; True when it changed."""
        status = await self._db.execute(
            "UPDATE incidents SET alert_phase = $2 WHERE id = $1 AND alert_phase <> $2",
            incident_id,
            phase,
        )
        return bool(changed(status))

    async def set_report_link(self, incident_id: int, link: str) -> None:
        await self._db.execute(
            "UPDATE incidents SET report_link = $2 WHERE id = $1", incident_id, link
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
        channel_status=row["channel_status"],
        channel_name=row["channel_name"],
        channel_note=row["channel_note"],
        clear_since=row["clear_since"],
        recovery_announced_at=row["recovery_announced_at"],
        alert_phase=row["alert_phase"],
        report_link=row["report_link"],
    )
