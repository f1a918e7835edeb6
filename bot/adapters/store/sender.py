"""The outbox sender's own PostgreSQL connection: channel locks and wake-ups.

A session advisory lock per Slack channel makes one sender at a time deliver a
channel's messages, in order, across replicas; PostgreSQL drops the locks the
moment this connection dies, so another replica takes over at once. The same
connection LISTENs for the outbox's NOTIFY, so a message is sent as soon as
its transaction commits rather than on the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from bot.adapters.store.outbox import CHANNEL_LOCK_NAMESPACE, NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class SenderConnection:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._guard = asyncio.Lock()  # one statement at a time on the connection
        self._on_notify: Callable[[], None] | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn)
            if self._on_notify is not None:
                await self._conn.add_listener(NOTIFY_CHANNEL, self._notified)
        return self._conn

    def _notified(self, *_: Any) -> None:
        if self._on_notify is not None:
            self._on_notify()

    async def listen(self, on_notify: Callable[[], None]) -> None:
        """Calls ``on_notify`` whenever a transaction that wrote to the outbox commits."""
        self._on_notify = on_notify
        async with self._guard:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.add_listener(NOTIFY_CHANNEL, self._notified)
            else:
                await self._connection()

    async def try_lock(self, channel: str) -> bool:
        async with self._guard:
            conn = await self._connection()
            return bool(
                await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    CHANNEL_LOCK_NAMESPACE,
                    channel,
                )
            )

    async def unlock(self, channel: str) -> None:
        async with self._guard:
            if self._conn is None or self._conn.is_closed():
                return  # the locks went with the connection
            await self._conn.execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))", CHANNEL_LOCK_NAMESPACE, channel
            )

    async def close(self) -> None:
        async with self._guard:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.close()
            self._conn = None
