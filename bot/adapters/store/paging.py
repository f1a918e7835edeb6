"""Pages to pagers outside Slack (the ``page_deliveries`` outbox) and PagerDuty's
webhook events already processed.

Writers enqueue inside the transaction of the state change that causes the event
(the page, the acknowledgement, the resolution); a ``NOTIFY`` in the same
transaction wakes the page sender (bot/services/page_sender.py) at commit. The
sender claims the head row of each (incident, target) stream with a lease and
records the pager's answer here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.adapters.store.base import Queries, changed

#: Woken at commit: the page sender (a row to send) and the escalation timers of every
#: replica (something changed that may move the next page).
PAGES_CHANNEL = "backlog_bot_pages"
ESCALATION_CHANNEL = "backlog_bot_escalation"


@dataclass(frozen=True)
class PageDelivery:
    """One event for one pager: ``target_env`` names the variable holding the routing
    key or URL; ``content`` is what a trigger says (bot/services/paging.py)."""

    id: int
    incident_id: int
    tier: int | None
    target_kind: str  # "pagerduty" | "webhook"
    target_env: str
    action: str  # "trigger" | "acknowledge" | "resolve"
    dedup_key: str
    content: Mapping[str, Any]
    channel: str
    state: str
    attempts: int
    created_at: datetime
    not_before: datetime | None = None
    error: str | None = None
    delivered_at: datetime | None = None


# The head of every stream with rows to send: the oldest pending row of each
# (incident, target). Only a head may be claimed, so a stream goes out in order.
_CLAIM = """
UPDATE page_deliveries d
SET claimed_by = $1, claimed_until = $2::timestamptz + $3::interval, attempts = attempts + 1
WHERE d.id IN (
        SELECT DISTINCT ON (incident_id, target_kind, target_env) id
        FROM page_deliveries WHERE state = 'pending'
        ORDER BY incident_id, target_kind, target_env, id)
  AND d.state = 'pending'
  AND (d.not_before IS NULL OR d.not_before <= $2)
  AND (d.claimed_until IS NULL OR d.claimed_until <= $2)
RETURNING d.*
"""

# An acknowledge (or resolve) for each target triggered for the incident whose latest
# trigger has not been followed by one yet; PagerDuty drops a follow-up sent with
# another routing key than the trigger's, so every triggered key gets its own.
_FOLLOW_UPS = """
INSERT INTO page_deliveries (incident_id, target_kind, target_env, action, dedup_key,
                             channel, created_at)
SELECT DISTINCT ON (t.target_kind, t.target_env)
       t.incident_id, t.target_kind, t.target_env, $2, t.dedup_key, t.channel, $3
FROM page_deliveries t
WHERE t.incident_id = $1 AND t.action = 'trigger' AND t.state <> 'failed'
  AND NOT EXISTS (
      SELECT 1 FROM page_deliveries f
      WHERE f.incident_id = t.incident_id AND f.target_kind = t.target_kind
        AND f.target_env = t.target_env AND f.id > t.id
        AND f.action IN ($2, 'resolve'))
ORDER BY t.target_kind, t.target_env, t.id DESC
RETURNING id
"""


class PagingQueries(Queries):
    async def enqueue_page_delivery(
        self,
        *,
        incident_id: int,
        tier: int | None,
        target_kind: str,
        target_env: str,
        action: str,
        dedup_key: str,
        channel: str,
        at: datetime,
        content: Mapping[str, Any] | None = None,
        failed: str | None = None,
    ) -> bool:
        """Adds one event to send; False when this tier's trigger to this target is
        already there. ``failed``: stored as refused with that error (a target whose
        secret is missing), so it is seen and never sent."""
        row = await self._db.fetchrow(
            """
            INSERT INTO page_deliveries (incident_id, tier, target_kind, target_env, action,
                                         dedup_key, content, channel, created_at, state, error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT DO NOTHING RETURNING id
            """,
            incident_id,
            tier,
            target_kind,
            target_env,
            action,
            dedup_key,
            dict(content or {}),
            channel,
            at,
            "failed" if failed else "pending",
            failed,
        )
        await self._notify(PAGES_CHANNEL)
        return row is not None

    async def enqueue_page_follow_ups(self, incident_id: int, action: str, at: datetime) -> int:
        """``acknowledge`` or ``resolve`` to every target triggered for the incident that
        has not had one since its latest trigger; returns how many were added. Also
        wakes every replica's escalation timer at commit (the incident changed)."""
        if action not in ("acknowledge", "resolve"):
            raise ValueError(f"not a follow-up: {action!r}")
        rows = await self._db.fetch(_FOLLOW_UPS, incident_id, action, at)
        await self._notify(PAGES_CHANNEL)
        await self.escalation_changed()
        return len(rows)

    async def escalation_changed(self) -> None:
        """Wakes every replica's escalation timer (at commit, inside a transaction)."""
        await self._notify(ESCALATION_CHANNEL)

    async def _notify(self, channel: str) -> None:
        await self._db.execute("SELECT pg_notify($1, '')", channel)

    async def claim_page_deliveries(
        self, owner: str, now: datetime, lease: timedelta
    ) -> list[PageDelivery]:
        """Claims the due head of every stream for ``lease`` (two senders never claim the
        same row: the second one's UPDATE re-checks the lease after the first commits)."""
        rows = await self._db.fetch(_CLAIM, owner, now, lease)
        return sorted((_delivery(row) for row in rows), key=lambda d: d.id)

    async def page_delivered(self, delivery_id: int, owner: str, at: datetime) -> bool:
        status = await self._db.execute(
            "UPDATE page_deliveries SET state = 'delivered', delivered_at = $3, error = NULL, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
            delivery_id,
            owner,
            at,
        )
        return changed(status)

    async def page_retry(
        self, delivery_id: int, owner: str, *, not_before: datetime, error: str
    ) -> bool:
        status = await self._db.execute(
            "UPDATE page_deliveries SET not_before = $3, error = $4, claimed_by = NULL, "
            "claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
            delivery_id,
            owner,
            not_before,
            error,
        )
        return changed(status)

    async def page_failed(self, delivery_id: int, owner: str, error: str) -> bool:
        """A refusal: never sent again; the rows after it in its stream go on."""
        status = await self._db.execute(
            "UPDATE page_deliveries SET state = 'failed', error = $3, claimed_by = NULL, "
            "claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
            delivery_id,
            owner,
            error,
        )
        return changed(status)

    async def page_deliveries(self, incident_id: int | None = None) -> list[PageDelivery]:
        if incident_id is None:
            rows = await self._db.fetch("SELECT * FROM page_deliveries ORDER BY id")
        else:
            rows = await self._db.fetch(
                "SELECT * FROM page_deliveries WHERE incident_id = $1 ORDER BY id", incident_id
            )
        return [_delivery(row) for row in rows]

    async def page_delivery_counts(self) -> dict[str, int]:
        """Rows per state (pending, delivered, failed)."""
        rows = await self._db.fetch("SELECT state, count(*) AS n FROM page_deliveries GROUP BY 1")
        return {row["state"]: int(row["n"]) for row in rows}

    async def record_webhook_event(
        self, event_id: str, event_type: str, at: datetime, incident_id: int | None, result: str
    ) -> bool:
        """True when this call recorded the event; False for a redelivery."""
        row = await self._db.fetchrow(
            "INSERT INTO pagerduty_webhook_events (event_id, event_type, received_at, "
            "incident_id, result) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING "
            "RETURNING event_id",
            event_id,
            event_type,
            at,
            incident_id,
            result,
        )
        return row is not None

    async def set_webhook_result(
        self, event_id: str, result: str, incident_id: int | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE pagerduty_webhook_events SET result = $2, incident_id = $3 WHERE event_id = $1",
            event_id,
            result,
            incident_id,
        )

    async def webhook_event_result(self, event_id: str) -> str | None:
        """What processing the event ``event_id`` did the first time, if it was."""
        result = await self._db.fetchval(
            "SELECT result FROM pagerduty_webhook_events WHERE event_id = $1", event_id
        )
        return str(result) if result is not None else None


def _delivery(row: asyncpg.Record) -> PageDelivery:
    return PageDelivery(
        id=row["id"],
        incident_id=row["incident_id"],
        tier=row["tier"],
        target_kind=row["target_kind"],
        target_env=row["target_env"],
        action=row["action"],
        dedup_key=row["dedup_key"],
        content=row["content"],
        channel=row["channel"],
        state=row["state"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        not_before=row["not_before"],
        error=row["error"],
        delivered_at=row["delivered_at"],
    )
