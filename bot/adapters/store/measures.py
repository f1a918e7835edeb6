"""What the escalation triggers measure besides depths: the age of each queue's oldest
job (read with every sample), vendors' calls seen in the workers' logs, and the
Alertmanager alerts still firing by name."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.adapters.store.base import Queries
from bot.domain.measures import FiringAlert, JobAgeReading, VendorObservation


class MeasureQueries(Queries):
    async def save_job_ages(self, playbook: str, readings: Sequence[JobAgeReading]) -> None:
        await self._db.executemany(
            "INSERT INTO job_ages (playbook, queue, at, age_seconds, error) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [
                (
                    playbook,
                    r.queue,
                    r.at,
                    r.age.total_seconds() if r.age is not None else None,
                    r.error,
                )
                for r in readings
            ],
        )

    async def job_ages_between(
        self, playbook: str, start: datetime, end: datetime
    ) -> list[JobAgeReading]:
        """Readings taken in [start, end], oldest first."""
        rows = await self._db.fetch(
            "SELECT queue, at, age_seconds, error FROM job_ages WHERE playbook = $1 "
            "AND at BETWEEN $2 AND $3 ORDER BY at, queue",
            playbook,
            start,
            end,
        )
        return [
            JobAgeReading(
                queue=row["queue"],
                at=row["at"],
                age=(
                    timedelta(seconds=row["age_seconds"])
                    if row["age_seconds"] is not None
                    else None
                ),
                error=row["error"],
            )
            for row in rows
        ]

    async def save_vendor_observations(
        self, playbook: str, observations: Sequence[VendorObservation]
    ) -> None:
        await self._db.executemany(
            "INSERT INTO vendor_observations (playbook, vendor, at, calls, failures, error) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            [(playbook, o.vendor, o.at, o.calls, o.failures, o.error) for o in observations],
        )

    async def vendor_observations_between(
        self, playbook: str, start: datetime, end: datetime
    ) -> list[VendorObservation]:
        rows = await self._db.fetch(
            "SELECT vendor, at, calls, failures, error FROM vendor_observations "
            "WHERE playbook = $1 AND at BETWEEN $2 AND $3 ORDER BY at, vendor",
            playbook,
            start,
            end,
        )
        return [
            VendorObservation(row["vendor"], row["at"], row["calls"], row["failures"], row["error"])
            for row in rows
        ]

    async def last_vendor_observation(self, playbook: str) -> datetime | None:
        value: datetime | None = await self._db.fetchval(
            "SELECT max(at) FROM vendor_observations WHERE playbook = $1", playbook
        )
        return value

    async def prune_measures(self, before: datetime) -> int:
        """Drops job ages and vendor observations older than ``before``; returns how many."""
        ages = await self._db.execute("DELETE FROM job_ages WHERE at < $1", before)
        seen = await self._db.execute("DELETE FROM vendor_observations WHERE at < $1", before)
        return int(ages.split()[-1]) + int(seen.split()[-1])

    async def firing_alerts_named(
        self, names: Collection[str], since: datetime
    ) -> list[FiringAlert]:
        """Alertmanager alerts called one of ``names`` that started after ``since``, fired
        and have not resolved since (a 'resolved' row with the same fingerprint and
        startsAt), oldest first."""
        if not names:
            return []
        rows = await self._db.fetch(
            """
            SELECT f.alertname, f.starts_at, f.received_at FROM alertmanager_alerts f
            WHERE f.alertname = ANY($1::text[]) AND f.status = 'firing' AND f.starts_at >= $2
              AND NOT EXISTS (
                SELECT 1 FROM alertmanager_alerts r
                WHERE r.fingerprint = f.fingerprint AND r.starts_at = f.starts_at
                  AND r.status = 'resolved')
            ORDER BY f.starts_at
            """,
            list(names),
            since,
        )
        return [FiringAlert(row["alertname"], row["starts_at"], row["received_at"]) for row in rows]
