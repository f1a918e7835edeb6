"""Incident reports: every version, drafts and the one final version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from bot.adapters.store.base import Queries
from bot.domain.report import ReportState, StoredReport


class ReportQueries(Queries):
    async def save_report(
        self,
        incident_id: int,
        *,
        state: ReportState,
        markdown: str,
        document: Mapping[str, Any],
        at: datetime,
        by: str | None,
    ) -> StoredReport | None:
        """Stores the next version; None when the report is already final (nothing is
        stored then). Versions of one incident are numbered under the incident's row
        lock, so two replicas never write the same number."""
        async with self._transaction() as conn:
            await conn.execute("SELECT id FROM incidents WHERE id = $1 FOR UPDATE", incident_id)
            row = await conn.fetchrow(
                """
                INSERT INTO incident_reports (incident_id, version, state, markdown, document,
                                              built_at, built_by)
                SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6
                FROM incident_reports WHERE incident_id = $1
                HAVING NOT bool_or(state = 'final') OR count(*) = 0
                RETURNING *
                """,
                incident_id,
                state.value,
                markdown,
                dict(document),
                at,
                by,
            )
        return _report(row) if row else None

    async def latest_report(self, incident_id: int) -> StoredReport | None:
        """The final version if there is one, else the newest draft."""
        row = await self._db.fetchrow(
            "SELECT * FROM incident_reports WHERE incident_id = $1 "
            "ORDER BY (state = 'final') DESC, version DESC LIMIT 1",
            incident_id,
        )
        return _report(row) if row else None

    async def final_report(self, incident_id: int) -> StoredReport | None:
        row = await self._db.fetchrow(
            "SELECT * FROM incident_reports WHERE incident_id = $1 AND state = 'final'",
            incident_id,
        )
        return _report(row) if row else None


def _report(row: asyncpg.Record) -> StoredReport:
    return StoredReport(
        incident_id=row["incident_id"],
        version=row["version"],
        state=ReportState(row["state"]),
        markdown=row["markdown"],
        data=row["document"],
        built_at=row["built_at"],
        built_by=row["built_by"],
    )
