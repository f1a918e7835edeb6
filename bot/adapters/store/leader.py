"""One sampler among replicas: a PostgreSQL session advisory lock.

Every replica serves Slack, but only the holder of this lock samples the
queues, so two replicas never record duplicate samples or double timeline
entries. The lock lives as long as its connection: if the holder dies,
PostgreSQL releases it and another replica takes over on its next tick.
"""

from __future__ import annotations

import asyncpg

_SAMPLER_LOCK = 0x424B4C48  # "BKLH"


class LeaderLock:
    def __init__(self, dsn: str, key: int = _SAMPLER_LOCK) -> None:
        self._dsn = dsn
        self._key = key
        self._conn: asyncpg.Connection | None = None

    async def held(self) -> bool:
        """True when this process holds the lock (acquiring it if it is free).

        Re-asking while holding it succeeds (session locks stack), and doubles as
        the liveness check of the connection that keeps it.
        """
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn)
            return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key))
        except (OSError, asyncpg.PostgresError):
            await self.release()
            return False

    async def release(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None
