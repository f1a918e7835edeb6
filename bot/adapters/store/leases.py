"""Leases on running actions: who is executing what, known at once after a crash.

The process executing an action holds a session advisory lock keyed by the
action's id on a connection of its own for as long as the action runs. If the
process dies, PostgreSQL drops the lock with the connection, so any replica can
tell within seconds that an ``executing`` action is no longer running anywhere
(:meth:`ActionLeases.is_running`) and report it interrupted, without waiting
for the longest time an executor may take.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

# Advisory-lock namespace of "this process runs this action" (two-key form:
# namespace, hashtext(action id)).
_NAMESPACE = 0x4242414C  # "BBAL"


class Lease:
    """Held while an action runs; :meth:`release` when it has finished."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection, request_id: UUID) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = conn
        self.request_id = request_id

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))", _NAMESPACE, str(self.request_id)
            )
        finally:
            await self._pool.release(conn)


class ActionLeases:
    def __init__(self, dsn: str, *, max_running: int = 20) -> None:
        self._dsn = dsn
        self._max = max_running
        self._pool: asyncpg.Pool | None = None

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self._max)
        return self._pool

    async def take(self, request_id: UUID) -> Lease | None:
        """The lease on ``request_id``, or None when another process holds it."""
        pool = await self._connections()
        conn = await pool.acquire()
        try:
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _NAMESPACE, str(request_id)
            )
        except BaseException:
            await pool.release(conn)
            raise
        if not got:
            await pool.release(conn)
            return None
        return Lease(pool, conn, request_id)

    async def is_running(self, request_id: UUID) -> bool:
        """True while some process holds the lease on ``request_id``."""
        lease = await self.take(request_id)
        if lease is None:
            return True
        await lease.release()
        return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
