"""Alertmanager notifications, stored before they are acknowledged.

Alertmanager retries a notification until it gets a 2xx and re-sends firing
alerts every ``repeat_interval``. Each alert is stored under (fingerprint,
startsAt, status); a second arrival of the same triple — to another replica,
after a restart, after the incident was resolved — finds the row and changes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.adapters.store.base import Queries


class AlertQueries(Queries):
    async def store_alert(
        self,
        *,
        fingerprint: str,
        starts_at: datetime,
        status: str,
        alertname: str,
        labels: Mapping[str, str],
        at: datetime,
    ) -> bool:
        """True when this call stored the alert; False for a re-send already stored."""
        row = await self._db.fetchrow(
            """
            INSERT INTO alertmanager_alerts (fingerprint, starts_at, status, alertname,
                                             received_at, labels)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING fingerprint
            """,
            fingerprint,
            starts_at,
            status,
            alertname,
            at,
            dict(labels),
        )
        return row is not None

    async def link_alert(
        self, fingerprint: str, starts_at: datetime, status: str, incident_id: int
    ) -> None:
        await self._db.execute(
            "UPDATE alertmanager_alerts SET incident_id = $4 "
            "WHERE fingerprint = $1 AND starts_at = $2 AND status = $3",
            fingerprint,
            starts_at,
            status,
            incident_id,
        )

    async def firing_alerts(self, incident_id: int) -> list[str]:
        """Fingerprints of the incident's Prometheus alerts that fired and have not
        resolved since (an alert resolves when a 'resolved' row with the same
        fingerprint and startsAt is stored)."""
        rows = await self._db.fetch(
            """
            SELECT f.fingerprint FROM alertmanager_alerts f
            WHERE f.incident_id = $1 AND f.status = 'firing' AND NOT EXISTS (
                SELECT 1 FROM alertmanager_alerts r
                WHERE r.fingerprint = f.fingerprint AND r.starts_at = f.starts_at
                  AND r.status = 'resolved')
            ORDER BY f.fingerprint
            """,
            incident_id,
        )
        return [row["fingerprint"] for row in rows]
