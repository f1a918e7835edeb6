"""What every group of queries shares: a pool, or one connection inside a transaction.

:class:`~bot.adapters.store.store.Store` combines the query groups. Outside a
transaction each statement takes a connection from the pool; inside
``async with store.transaction() as tx`` every statement of ``tx`` runs on the
transaction's connection, so a state change and the messages it causes
(the outbox) commit or roll back together.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Queries:
    """Base of the query groups: runs statements on the pool or the bound connection."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection | None = None) -> None:
        self._pool = pool
        self._conn = conn

    @property
    def _db(self) -> Any:  # asyncpg.Pool or asyncpg.Connection: the same query methods
        return self._conn if self._conn is not None else self._pool

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The bound connection, or one from the pool for the block."""
        if self._conn is not None:
            yield self._conn
            return
        async with self._pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction (a savepoint when one is already open)."""
        async with self._connection() as conn, conn.transaction():
            yield conn


def changed(status: str) -> bool:
    """True when an UPDATE/DELETE status tag (``UPDATE 1``) reports a row changed."""
    return not status.endswith(" 0")
