"""Leadership on a real PostgreSQL: one replica at a time runs the background work,
and it moves when the holder's session ends (cut by the server, or given up)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bot.adapters.store.leader import LeaderLock
from bot.services.leadership import Leadership


class Replica:
    """A Leadership whose work is a record of being told to start and stop."""

    def __init__(self, dsn: str, *, retry_seconds: float = 1.0, fail_lead: bool = False) -> None:
        self.lock = LeaderLock(dsn)
        self.told: list[str] = []
        self._fail_lead = fail_lead
        self.leadership = Leadership(
            self.lock, lead=self._lead, follow=self._follow, retry_seconds=retry_seconds
        )

    async def _lead(self) -> None:
        self.told.append("lead")
        if self._fail_lead:
            raise RuntimeError("the outbox sender cannot connect")

    async def _follow(self) -> None:
        self.told.append("follow")


async def _terminate(dsn: str, backend_pid: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", backend_pid)
    finally:
        await conn.close()


async def _eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert time.monotonic() < deadline, "condition not met in time"  # a liveness bound
        await asyncio.sleep(0.05)


async def test_one_leads_and_the_other_takes_over_when_its_connection_is_killed(
    migrated_database,
):
    a, b = Replica(migrated_database), Replica(migrated_database)
    try:
        assert await a.leadership.check() is True
        assert await b.leadership.check() is False
        assert await a.leadership.check() is True  # still held: nothing started twice
        assert (a.told, b.told) == (["lead"], [])
        backend = a.lock.backend_pid
        assert backend is not None
        await _terminate(migrated_database, backend)  # PostgreSQL cuts A's session
        assert await b.leadership.check() is True  # the lock went with the session
        assert await a.leadership.check() is False  # A notices, and stops its work
        assert (a.told, b.told) == (["lead", "follow"], ["lead"])
        assert a.leadership.leading is False and b.leadership.leading is True
    finally:
        await a.leadership.stop()
        await b.leadership.stop()


async def test_the_holder_stops_its_work_when_postgres_drops_it_even_before_a_takeover(
    migrated_database,
):
    """The holder does not wait for someone else to take the lock to stop working."""
    a = Replica(migrated_database, retry_seconds=0.05)
    try:
        await a.leadership.start()
        assert a.leadership.leading
        backend = a.lock.backend_pid
        assert backend is not None
        await _terminate(migrated_database, backend)
        # Re-acquired by the background loop on a new connection: stopped, then started.
        await _eventually(lambda: a.told == ["lead", "follow", "lead"])
        assert a.leadership.leading and a.lock.backend_pid not in (None, backend)
    finally:
        await a.leadership.stop()
    assert a.told == ["lead", "follow", "lead", "follow"]


async def test_stop_gives_the_lock_up_at_once(migrated_database):
    a = Replica(migrated_database)
    b = Replica(migrated_database, retry_seconds=0.05)
    try:
        await a.leadership.start()
        await b.leadership.start()
        assert a.leadership.leading and not b.leadership.leading
        await a.leadership.stop()  # SIGTERM: work stopped, lock released
        assert a.told == ["lead", "follow"]
        await _eventually(lambda: b.leadership.leading)
        assert b.told == ["lead"]
    finally:
        await a.leadership.stop()
        await b.leadership.stop()


async def test_work_that_cannot_start_gives_the_lock_to_another(migrated_database):
    broken = Replica(migrated_database, fail_lead=True)
    healthy = Replica(migrated_database)
    try:
        assert await broken.leadership.check() is False
        assert broken.told == ["lead", "follow"]  # the half-started work is stopped
        assert await healthy.leadership.check() is True
    finally:
        await broken.leadership.stop()
        await healthy.leadership.stop()


async def test_unreachable_postgres_means_standing_by():
    lock = LeaderLock("postgresql://postgres@127.0.0.1:1/none", timeout_seconds=1.0)
    assert await lock.acquire() is False
    assert lock.backend_pid is None
    await lock.release()
