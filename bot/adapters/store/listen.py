"""``LISTEN`` on a connection of its own: wake-ups at the commit of another transaction,
on any replica.

The page sender is woken when a page delivery is written, and every replica's
escalation timer when something that moves the next page changes (an
acknowledgement, a page). A lost connection is re-opened on the next
:meth:`Listener.check`; until then the callers' own timers still run, so a lost
wake-up delays, never loses, work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


class Listener:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._listening: set[str] = set()  # channels LISTENed on the current connection
        self._guard = asyncio.Lock()

    def on(self, channel: str, callback: Callable[[], None]) -> None:
        """Calls ``callback`` (in the event loop, must not block) at each NOTIFY on
        ``channel``; takes effect at the next :meth:`check`."""
        self._callbacks.setdefault(channel, []).append(callback)

    async def check(self) -> bool:
        """Connects if not already and listens on every channel asked for; False when
        PostgreSQL cannot be reached (logged; the next call tries again)."""
        async with self._guard:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn, self._listening = await asyncpg.connect(self._dsn), set()
                for channel in set(self._callbacks) - self._listening:
                    await self._conn.add_listener(channel, self._notified)
                    self._listening.add(channel)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for wake-ups", extra={"error": type(exc).__name__})
                return False
            return True

    def _notified(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        for callback in self._callbacks.get(channel, []):
            callback()

    async def close(self) -> None:
        async with self._guard:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.close()
            self._conn = None
