"""Real servers for the tests.

Redis and PostgreSQL are the ones named by ``REDIS_URL`` / ``DATABASE_URL``
when set (CI points them at the machine's services), else embedded servers
started once per test session. Nothing here is a fake.
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
import redis.asyncio as aioredis

from bot.adapters.store import Store, migrate
from bot.domain.playbook import Playbook, load_playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bb-test-redis-")))
    yield server.start()
    server.stop()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on an empty database; emptied again afterwards."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
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
    "slack_events, channel_messages, channel_reactions"
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
