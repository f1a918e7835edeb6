"""People's messages in incident channels, as the Events API described them.

Each :class:`~bot.domain.report.ChannelChange` is applied as an upsert, so a
change applied twice, or before the message it is about, leaves the same row: the
text is replaced only by a newer version (``text_at``), a deletion or pin keeps its
time, and a deleted message's text is dropped (people delete what should not stay).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import asyncpg

from bot.adapters.store.base import Queries
from bot.domain.report import ChangeKind, ChannelChange, ChannelMessage, ts_time

_UPSERT = """
INSERT INTO channel_messages AS m (channel, ts, thread_ts, user_id, text, text_at, posted_at,
                                   edited_at, deleted_at, pinned_at, pinned_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (channel, ts) DO UPDATE SET
    thread_ts  = COALESCE(EXCLUDED.thread_ts, m.thread_ts),
    user_id    = COALESCE(m.user_id, EXCLUDED.user_id),
    text       = CASE WHEN EXCLUDED.deleted_at IS NOT NULL OR m.deleted_at IS NOT NULL
                      THEN NULL
                      WHEN EXCLUDED.text IS NOT NULL
                       AND (m.text_at IS NULL OR EXCLUDED.text_at >= m.text_at)
                      THEN EXCLUDED.text ELSE m.text END,
    text_at    = CASE WHEN EXCLUDED.text IS NOT NULL
                       AND (m.text_at IS NULL OR EXCLUDED.text_at >= m.text_at)
                      THEN EXCLUDED.text_at ELSE m.text_at END,
    edited_at  = GREATEST(m.edited_at, EXCLUDED.edited_at),
    deleted_at = COALESCE(m.deleted_at, EXCLUDED.deleted_at),
    pinned_at  = COALESCE(EXCLUDED.pinned_at, m.pinned_at),
    pinned_by  = COALESCE(EXCLUDED.pinned_by, m.pinned_by),
    updated_at = EXCLUDED.updated_at
"""


class ChannelQueries(Queries):
    async def followed_channel(self, channel: str) -> bool:
        """Whether ``channel`` belongs to an incident whose report is still open to
        change (the incident is open, or resolved and its report not final)."""
        return bool(
            await self._db.fetchval(
                """
                SELECT EXISTS (
                    SELECT 1 FROM incidents i WHERE i.channel = $1 AND (
                        i.state <> 'resolved' OR NOT EXISTS (
                            SELECT 1 FROM incident_reports r
                            WHERE r.incident_id = i.id AND r.state = 'final')))
                """,
                channel,
            )
        )

    async def apply_channel_change(self, change: ChannelChange, at: datetime) -> None:
        """Records one change (``at``: when the bot learnt of it)."""
        kind = change.kind
        if kind in (ChangeKind.REACTED, ChangeKind.UNREACTED):
            await self._upsert(change, at)
            await self._reaction(change)
            return
        if kind is ChangeKind.UNPINNED:
            await self._upsert(change, at)
            await self._db.execute(
                "UPDATE channel_messages SET pinned_at = NULL, pinned_by = NULL "
                "WHERE channel = $1 AND ts = $2 AND (pinned_at IS NULL OR pinned_at <= $3)",
                change.channel,
                change.ts,
                change.at,
            )
            return
        await self._upsert(change, at)

    async def _upsert(self, change: ChannelChange, at: datetime) -> None:
        kind = change.kind
        carries_text = kind in (ChangeKind.POSTED, ChangeKind.EDITED, ChangeKind.PINNED)
        author = change.user if kind in (ChangeKind.POSTED, ChangeKind.EDITED) else change.author
        # A pin carries the message as it is when pinned: as new as an edit then.
        text_at = (
            change.at if kind in (ChangeKind.EDITED, ChangeKind.PINNED) else ts_time(change.ts)
        )
        await self._db.execute(
            _UPSERT,
            change.channel,
            change.ts,
            change.thread_ts,
            author,
            change.text if carries_text else None,
            text_at,
            ts_time(change.ts),
            change.at if kind is ChangeKind.EDITED else None,
            change.at if kind is ChangeKind.DELETED else None,
            change.at if kind is ChangeKind.PINNED else None,
            change.user if kind is ChangeKind.PINNED else None,
            at,
        )

    async def _reaction(self, change: ChannelChange) -> None:
        if change.reaction is None or change.user is None:
            return
        if change.kind is ChangeKind.REACTED:
            await self._db.execute(
                "INSERT INTO channel_reactions (channel, ts, reaction, user_id, at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                change.channel,
                change.ts,
                change.reaction,
                change.user,
                change.at,
            )
        else:
            await self._db.execute(
                "DELETE FROM channel_reactions WHERE channel = $1 AND ts = $2 "
                "AND reaction = $3 AND user_id = $4 AND at <= $5",
                change.channel,
                change.ts,
                change.reaction,
                change.user,
                change.at,
            )

    async def channel_record(
        self, channel: str, start: datetime, end: datetime
    ) -> list[ChannelMessage]:
        """The recorded messages of ``channel`` posted, pinned or reacted to between
        ``start`` and ``end``, oldest first."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                """
                SELECT * FROM channel_messages m WHERE m.channel = $1 AND (
                    m.posted_at BETWEEN $2 AND $3 OR m.pinned_at BETWEEN $2 AND $3
                    OR EXISTS (SELECT 1 FROM channel_reactions r WHERE r.channel = m.channel
                               AND r.ts = m.ts AND r.at BETWEEN $2 AND $3))
                ORDER BY m.posted_at
                """,
                channel,
                start,
                end,
            )
            reactions = await conn.fetch(
                "SELECT ts, reaction, user_id FROM channel_reactions "
                "WHERE channel = $1 AND ts = ANY($2::text[]) ORDER BY at, user_id",
                channel,
                [row["ts"] for row in rows],
            )
        by_ts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for row in reactions:
            by_ts[row["ts"]][row["reaction"]].append(row["user_id"])
        return [_message(row, by_ts.get(row["ts"], {})) for row in rows]


def _message(row: asyncpg.Record, reactions: dict[str, list[str]]) -> ChannelMessage:
    return ChannelMessage(
        channel=row["channel"],
        ts=row["ts"],
        user=row["user_id"],
        text=row["text"],
        thread_ts=row["thread_ts"],
        edited_at=row["edited_at"],
        deleted=row["deleted_at"] is not None,
        deleted_at=row["deleted_at"],
        pinned=row["pinned_at"] is not None,
        pinned_by=row["pinned_by"],
        pinned_at=row["pinned_at"],
        reactions={name: tuple(users) for name, users in reactions.items()},
    )
