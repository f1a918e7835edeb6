"""The outbox: every Slack message the bot owes, as it should look now.

Writers call :meth:`OutboxQueries.enqueue_message` / :meth:`update_message`
inside the transaction of the state change that causes the message; a
``NOTIFY`` in the same transaction wakes the sender at commit. The sender
(bot/services/delivery.py) claims a channel with an advisory lock, delivers its
due rows oldest first and records each outcome here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.adapters.store.base import Queries, changed

NOTIFY_CHANNEL = "backlog_bot_outbox"
INCIDENT_PREFIX = "incident:"
"""A row addressed to ``incident:<id>`` goes wherever that incident lives (its own
channel once created, else the announcement channel); it waits until that is known."""
# Advisory-lock namespace of "this sender is delivering this Slack channel"
# (the two-key form: namespace, hashtext(channel)).
CHANNEL_LOCK_NAMESPACE = 0x42424F58  # "BBOX"


@dataclass(frozen=True)
class OutboxMessage:
    """One row of ``slack_messages`` with what the sender needs of its parent."""

    id: int
    key: str
    channel: str
    kind: str
    payload: Mapping[str, Any]
    content: bytes | None
    version: int
    delivered_version: int
    attempt_version: int
    state: str
    ts: str | None
    posted_channel: str | None
    attempts: int
    unconfirmed: bool
    created_at: datetime
    incident_id: int | None = None
    thread_key: str | None = None
    parent_ts: str | None = None
    parent_channel: str | None = None
    parent_state: str | None = None
    notify_user: str | None = None
    notify_channel: str | None = None
    error: str | None = None
    incident_channel: str | None = None
    incident_channel_status: str | None = None
    min_interval_s: int | None = None
    edited_at: datetime | None = None
    delivered_at: datetime | None = None
    urgent: bool = False

    @property
    def posted(self) -> bool:
        return self.ts is not None

    @property
    def routed(self) -> bool:
        """Addressed to an incident (``incident:<id>``) rather than to a channel."""
        return self.channel.startswith(INCIDENT_PREFIX)

    @property
    def destination(self) -> str | None:
        """The Slack channel this row is for; None while its incident's channel is not
        known yet."""
        if not self.routed:
            return self.channel
        return self.incident_channel

    @property
    def target_channel(self) -> str:
        """Where Slack holds it: the id Slack answered with, else the channel given."""
        return self.posted_channel or self.parent_channel or self.destination or self.channel

    @property
    def dedicated_only(self) -> bool:
        """To be done only in a channel of the incident's own (a topic, a pin, an invite,
        an archive button): skipped where the incident lives in a shared channel."""
        return bool(self.payload.get("dedicated_only"))


def incident_destination(incident_id: int) -> str:
    """The outbox address of "wherever incident ``incident_id`` lives"."""
    return f"{INCIDENT_PREFIX}{incident_id}"


_SELECT = """
    SELECT m.*, p.ts AS parent_ts, p.posted_channel AS parent_channel, p.state AS parent_state,
           i.channel AS incident_channel, i.channel_status AS incident_channel_status
    FROM slack_messages m LEFT JOIN slack_messages p ON p.key = m.thread_key
    LEFT JOIN incidents i ON m.channel LIKE 'incident:%' AND i.id = m.incident_id
"""


class OutboxQueries(Queries):
    async def enqueue_message(
        self,
        key: str,
        channel: str,
        payload: Mapping[str, Any],
        *,
        at: datetime,
        thread_key: str | None = None,
        incident_id: int | None = None,
        kind: str = "message",
        content: bytes | None = None,
        notify_user: str | None = None,
        notify_channel: str | None = None,
        min_interval: timedelta | None = None,
    ) -> bool:
        """Adds a message to deliver; False when ``key`` was already enqueued (writers
        may repeat themselves safely: a key names one message forever).

        ``channel`` may be :func:`incident_destination` (then ``incident_id`` is
        required); ``min_interval``: later edits are delivered at most that often."""
        if channel.startswith(INCIDENT_PREFIX) and incident_id is None:
            raise ValueError(f"{key}: a message to {channel} needs its incident_id")
        row = await self._db.fetchrow(
            """
            INSERT INTO slack_messages (key, channel, payload, created_at, thread_key,
                                        incident_id, kind, content, notify_user, notify_channel,
                                        min_interval_s)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (key) DO NOTHING RETURNING id
            """,
            key,
            channel,
            dict(payload),
            at,
            thread_key,
            incident_id,
            kind,
            content,
            notify_user,
            notify_channel,
            int(min_interval.total_seconds()) if min_interval else None,
        )
        await self._wake_sender()
        return row is not None

    async def update_message(
        self,
        key: str,
        payload: Mapping[str, Any],
        *,
        not_before: datetime | None = None,
        urgent: bool = False,
    ) -> bool:
        """Gives the message ``key`` new content; the sender edits it (or posts it with
        this content if it was not posted yet). ``not_before`` delays the edit (rate
        limits: updates in between coalesce). ``urgent`` delivers this version without
        waiting for the message's ``min_interval`` (a change of state, not of numbers).
        False when no such message exists."""
        status = await self._db.execute(
            """
            UPDATE slack_messages SET payload = $2, version = version + 1,
                   state = CASE WHEN state = 'failed' AND ts IS NULL THEN 'failed'
                                ELSE 'pending' END,
                   urgent = urgent OR $4,
                   not_before = CASE WHEN $4 THEN $3
                                     WHEN $3::timestamptz IS NULL THEN not_before
                                     ELSE GREATEST(COALESCE(not_before, $3), $3) END
            WHERE key = $1
            """,
            key,
            dict(payload),
            not_before,
            urgent,
        )
        await self._wake_sender()
        return changed(status)

    async def _wake_sender(self) -> None:
        # Delivered at commit (or at once outside a transaction).
        await self._db.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)

    async def outbox_message(self, key: str) -> OutboxMessage | None:
        row = await self._db.fetchrow(_SELECT + " WHERE m.key = $1", key)
        return _message(row) if row else None

    async def outbox_messages(self, incident_id: int | None = None) -> list[OutboxMessage]:
        if incident_id is None:
            rows = await self._db.fetch(_SELECT + " ORDER BY m.id")
        else:
            rows = await self._db.fetch(
                _SELECT + " WHERE m.incident_id = $1 ORDER BY m.id", incident_id
            )
        return [_message(row) for row in rows]

    async def channels_due(self, now: datetime) -> list[str]:
        """Channels (or incident streams) with something the sender can do now: an edit
        of a posted message that is due, or a post at the head of its channel's order
        that is due and whose thread's parent is posted (or failed). A post queued
        behind one that waits is not due: nothing can be done for it yet."""
        rows = await self._db.fetch(
            """
            WITH heads AS (
                SELECT DISTINCT ON (channel) id FROM slack_messages
                WHERE state = 'pending' AND ts IS NULL ORDER BY channel, id
            )
            SELECT DISTINCT m.channel FROM slack_messages m
            WHERE m.state = 'pending' AND (m.not_before IS NULL OR m.not_before <= $1)
              AND (m.ts IS NOT NULL OR (
                    m.id IN (SELECT id FROM heads)
                    AND (m.thread_key IS NULL OR EXISTS (
                        SELECT 1 FROM slack_messages p WHERE p.key = m.thread_key
                          AND (p.ts IS NOT NULL OR p.state = 'failed')))))
            """,
            now,
        )
        return [row["channel"] for row in rows]

    async def due_in_channel(self, channel: str, now: datetime) -> list[OutboxMessage]:
        """The channel's pending rows, oldest first (delivery order)."""
        rows = await self._db.fetch(
            _SELECT + " WHERE m.channel = $1 AND m.state = 'pending' "
            "AND (m.not_before IS NULL OR m.not_before <= $2) ORDER BY m.id LIMIT 100",
            channel,
            now,
        )
        return [_message(row) for row in rows]

    async def mark_attempt(self, message_id: int, version: int) -> None:
        """Committed before the call to Slack: a crash during the call leaves the row
        ``unconfirmed``, so the next sender looks for the message before posting."""
        await self._db.execute(
            "UPDATE slack_messages SET attempts = attempts + 1, attempt_version = $2, "
            "unconfirmed = (ts IS NULL) WHERE id = $1",
            message_id,
            version,
        )

    async def mark_delivered(
        self, message_id: int, version: int, *, ts: str, channel: str, at: datetime
    ) -> None:
        await self._db.execute(
            """
            UPDATE slack_messages SET
                edited_at = CASE WHEN ts IS NULL THEN edited_at ELSE $5 END,
                urgent = urgent AND version > $2,
                ts = COALESCE(ts, $3), posted_channel = COALESCE(posted_channel, $4),
                delivered_version = GREATEST(delivered_version, $2),
                state = CASE WHEN version > $2 THEN 'pending' ELSE 'delivered' END,
                unconfirmed = false, error = NULL,
                not_before = CASE WHEN version > $2 THEN not_before ELSE NULL END,
                delivered_at = COALESCE(delivered_at, $5)
            WHERE id = $1
            """,
            message_id,
            version,
            ts,
            channel,
            at,
        )

    async def mark_retry(
        self, message_id: int, *, not_before: datetime, error: str, unconfirmed: bool
    ) -> None:
        await self._db.execute(
            "UPDATE slack_messages SET not_before = $2, error = $3, "
            "unconfirmed = (ts IS NULL) AND $4 WHERE id = $1",
            message_id,
            not_before,
            error,
            unconfirmed,
        )

    async def mark_failed(self, message_id: int, error: str) -> None:
        """A permanent refusal: the message is not retried until it gets new content
        (and, if it was never posted, not even then)."""
        await self._db.execute(
            "UPDATE slack_messages SET state = 'failed', error = $2, unconfirmed = false "
            "WHERE id = $1",
            message_id,
            error,
        )

    async def outbox_counts(self) -> dict[str, int]:
        """Rows per state, for /metrics and /readyz."""
        rows = await self._db.fetch("SELECT state, count(*) AS n FROM slack_messages GROUP BY 1")
        return {row["state"]: int(row["n"]) for row in rows}


def _message(row: asyncpg.Record) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        key=row["key"],
        channel=row["channel"],
        kind=row["kind"],
        payload=row["payload"],
        content=bytes(row["content"]) if row["content"] is not None else None,
        version=row["version"],
        delivered_version=row["delivered_version"],
        attempt_version=row["attempt_version"],
        state=row["state"],
        ts=row["ts"],
        posted_channel=row["posted_channel"],
        attempts=row["attempts"],
        unconfirmed=row["unconfirmed"],
        created_at=row["created_at"],
        incident_id=row["incident_id"],
        thread_key=row["thread_key"],
        parent_ts=row["parent_ts"],
        parent_channel=row["parent_channel"],
        parent_state=row["parent_state"],
        notify_user=row["notify_user"],
        notify_channel=row["notify_channel"],
        error=row["error"],
        incident_channel=row["incident_channel"],
        incident_channel_status=row["incident_channel_status"],
        min_interval_s=row["min_interval_s"],
        edited_at=row["edited_at"],
        delivered_at=row["delivered_at"],
        urgent=row["urgent"],
    )
