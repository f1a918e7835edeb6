"""The leader lock: a PostgreSQL session advisory lock on a connection of its own.

Every replica serves Slack; only the holder of this lock runs the background work
(sampling, escalation, the outbox senders, effect checks; bot/services/leadership.py).
The lock lives exactly as long as its session: when the holder's process dies, its
connection is cut (``pg_terminate_backend``) or PostgreSQL restarts, PostgreSQL
releases it and the next replica to ask gets it.
"""

from __future__ import annotations

import asyncpg

#: One bigint key ("BKLH"): the outbox sender's per-channel locks and the action
#: leases use two int keys, so the three never collide.
LEADER_LOCK_KEY = 0x424B4C48
#: A check that takes longer than this counts as a lost connection (a half-open TCP
#: connection would otherwise keep a replica believing it leads after PostgreSQL
#: gave the lock away).
CHECK_TIMEOUT_SECONDS = 2.0

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class LeaderLock:
    def __init__(
        self,
        dsn: str,
        key: int = LEADER_LOCK_KEY,
        *,
        timeout_seconds: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._key = key
        self._timeout = timeout_seconds
        self._conn: asyncpg.Connection | None = None
        self._held = False

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend that holds the lock (None when not held)."""
        return self._conn.get_server_pid() if self._held and self._conn is not None else None

    @property
    def held(self) -> bool:
        return self._held

    async def acquire(self) -> bool:
        """Opens a session and asks for the lock; True when it was free and is now
        this process's. False when another session holds it or PostgreSQL cannot be
        reached; a stand-by keeps no connection open between calls."""
        await self._drop()
        try:
            self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            self._held = bool(
                await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._timeout
                )
            )
        except _ERRORS:
            await self._drop()
            return False
        if not self._held:
            await self._drop()
        return self._held

    async def confirm(self) -> bool:
        """True while the lock is still this process's: its session answers (the lock
        lives exactly as long as the session). False — and the connection dropped — once
        the session ended (cut by the server, PostgreSQL restarted) or does not answer
        within the timeout; the lock must then be asked for again with :meth:`acquire`,
        since another replica may hold it now."""
        if not self._held or self._conn is None or self._conn.is_closed():
            await self._drop()
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=self._timeout)
        except _ERRORS:
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Gives the lock up at once (closing the session releases it)."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=self._timeout)
            except _ERRORS:
                conn.terminate()
