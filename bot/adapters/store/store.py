"""PostgreSQL persistence: the source of truth for everything that must survive.

State changes are conditional (``UPDATE … WHERE state = …``, unique keys, row
locks), so several replicas can run at once and an action runs exactly once.
:meth:`Store.transaction` binds every query of one unit of work to one
transaction, so a state change and the Slack messages it causes (the outbox)
are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bot.adapters.store.actions import ActionQueries, Judge
from bot.adapters.store.alerts import AlertQueries
from bot.adapters.store.base import init_connection
from bot.adapters.store.channel import ChannelQueries
from bot.adapters.store.effects import EffectQueries
from bot.adapters.store.events import EventQueries
from bot.adapters.store.gameday import GamedayQueries
from bot.adapters.store.incidents import IncidentQueries
from bot.adapters.store.measures import MeasureQueries
from bot.adapters.store.outbox import OutboxMessage, OutboxQueries
from bot.adapters.store.paging import PagingQueries
from bot.adapters.store.reports import ReportQueries
from bot.adapters.store.requeue_journal import RequeueJournalQueries
from bot.adapters.store.samples import PageQueries, SampleQueries
from bot.adapters.store.slack_events import Receipt, SlackEventQueries

__all__ = ["Judge", "OutboxMessage", "Receipt", "Store"]


class Store(
    IncidentQueries,
    EventQueries,
    ActionQueries,
    PageQueries,
    SampleQueries,
    OutboxQueries,
    AlertQueries,
    PagingQueries,
    MeasureQueries,
    RequeueJournalQueries,
    SlackEventQueries,
    ChannelQueries,
    ReportQueries,
    EffectQueries,
    GamedayQueries,
):
    """Typed queries over an asyncpg pool (or, inside :meth:`transaction`, one connection)."""

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Store:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=init_connection
        )
        return cls(pool)

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> bool:
        return bool(await self._db.fetchval("SELECT 1"))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """A store whose queries all run in one transaction, committed when the block
        ends and rolled back if it raises. Nested use opens a savepoint."""
        async with self._transaction() as conn:
            yield Store(self._pool, conn)
