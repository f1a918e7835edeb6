"""Events API deliveries, stored on receipt and processed once by ``event_id``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.store.base import Queries


@dataclass(frozen=True)
class Receipt:
    """What the store knew of an event when a delivery of it arrived: ``first`` (this
    is the first delivery seen) and ``processed`` (an earlier one finished it)."""

    first: bool
    processed: bool


class SlackEventQueries(Queries):
    async def receive_slack_event(
        self, event_id: str, kind: str, payload: Mapping[str, Any], at: datetime
    ) -> Receipt:
        """Stores a delivery (the first one of ``event_id``) or counts a repeat."""
        row = await self._db.fetchrow(
            """
            INSERT INTO slack_events (event_id, type, payload, received_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (event_id) DO UPDATE SET deliveries = slack_events.deliveries + 1
            RETURNING (xmax = 0) AS first, processed_at IS NOT NULL AS processed
            """,
            event_id,
            kind,
            dict(payload),
            at,
        )
        return Receipt(first=bool(row["first"]), processed=bool(row["processed"]))

    async def claim_slack_event(
        self, event_id: str, at: datetime, lease: timedelta
    ) -> Mapping[str, Any] | None:
        """The event's payload if it is unprocessed and nobody is processing it (then
        it is ours for ``lease``), else None."""
        row = await self._db.fetchrow(
            """
            UPDATE slack_events SET claimed_until = $2::timestamptz + $3::interval,
                                    attempts = attempts + 1
            WHERE event_id = $1 AND processed_at IS NULL
              AND (claimed_until IS NULL OR claimed_until <= $2)
            RETURNING payload
            """,
            event_id,
            at,
            lease,
        )
        return row["payload"] if row else None

    async def finish_slack_event(self, event_id: str, at: datetime, error: str | None) -> None:
        """Marks the event processed, or (``error``) releases it for another try."""
        if error is None:
            await self._db.execute(
                "UPDATE slack_events SET processed_at = $2, claimed_until = NULL, error = NULL "
                "WHERE event_id = $1",
                event_id,
                at,
            )
            return
        await self._db.execute(
            "UPDATE slack_events SET claimed_until = NULL, error = $2 WHERE event_id = $1",
            event_id,
            error,
        )

    async def unprocessed_slack_events(
        self, received_before: datetime, now: datetime, max_attempts: int, limit: int = 100
    ) -> list[str]:
        """Events received before ``received_before`` that no delivery finished and
        nobody is processing, tried fewer than ``max_attempts`` times, oldest first."""
        rows = await self._db.fetch(
            """
            SELECT event_id FROM slack_events
            WHERE processed_at IS NULL AND received_at <= $1
              AND (claimed_until IS NULL OR claimed_until <= $2) AND attempts < $3
            ORDER BY received_at LIMIT $4
            """,
            received_before,
            now,
            max_attempts,
            limit,
        )
        return [row["event_id"] for row in rows]

    async def slack_event_state(self, event_id: str) -> dict[str, Any] | None:
        """The stored row of ``event_id`` (deliveries, attempts, processed_at, error)."""
        row = await self._db.fetchrow(
            "SELECT event_id, type, received_at, deliveries, attempts, processed_at, error "
            "FROM slack_events WHERE event_id = $1",
            event_id,
        )
        return dict(row) if row else None

    async def prune_slack_events(self, processed_before: datetime) -> int:
        """Forgets events processed before ``processed_before`` (Slack stops retrying
        an event within minutes, so a day's memory is plenty)."""
        status = await self._db.execute(
            "DELETE FROM slack_events WHERE processed_at < $1", processed_before
        )
        return int(status.split()[-1])
