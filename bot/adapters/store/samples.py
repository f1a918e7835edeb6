"""Queue-depth samples (raw for 48 h, hourly for 90 days) and escalation pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from bot.adapters.store.base import Queries
from bot.domain.models import QueueSample


class SampleQueries(Queries):
    async def save_sample(self, playbook: str, sample: QueueSample) -> None:
        await self._db.executemany(
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
        async with self._transaction() as conn:
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
        rows = await self._db.fetch(
            "SELECT hour, max_depth, avg_depth FROM queue_samples_hourly "
            "WHERE playbook = $1 AND queue = $2 ORDER BY hour",
            playbook,
            queue,
        )
        return [(row["hour"], row["max_depth"], row["avg_depth"]) for row in rows]

    async def samples_between(
        self, playbook: str, start: datetime, end: datetime
    ) -> list[QueueSample]:
        rows = await self._db.fetch(
            "SELECT at, queue, depth FROM queue_samples WHERE playbook = $1 AND at BETWEEN $2 "
            "AND $3 ORDER BY at",
            playbook,
            start,
            end,
        )
        return _group_samples(rows)


class PageQueries(Queries):
    async def record_page(
        self,
        incident_id: int,
        tier: int,
        reason: str,
        at: datetime,
        by: str,
        *,
        due_at: datetime | None = None,
        cause: str = "manual",
    ) -> bool:
        """True when this call recorded the page (each tier is paged once per incident).
        ``due_at``: when it fell due; ``cause``: timer, trigger or manual."""
        row = await self._db.fetchrow(
            "INSERT INTO pages (incident_id, tier, reason, paged_at, paged_by, due_at, cause) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING tier",
            incident_id,
            tier,
            reason,
            at,
            by,
            due_at,
            cause,
        )
        return row is not None

    async def forget_page(self, incident_id: int, tier: int) -> None:
        """Undoes :meth:`record_page` when the page could not be delivered."""
        await self._db.execute(
            "DELETE FROM pages WHERE incident_id = $1 AND tier = $2", incident_id, tier
        )

    async def pages(self, incident_id: int) -> dict[int, datetime]:
        rows = await self._db.fetch(
            "SELECT tier, paged_at FROM pages WHERE incident_id = $1 ORDER BY tier", incident_id
        )
        return {row["tier"]: row["paged_at"] for row in rows}


def _group_samples(rows: Sequence[asyncpg.Record]) -> list[QueueSample]:
    by_time: dict[datetime, dict[str, int]] = {}
    for row in rows:
        by_time.setdefault(row["at"], {})[row["queue"]] = row["depth"]
    return [QueueSample(at=at, depths=depths) for at, depths in by_time.items()]
