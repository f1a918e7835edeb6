"""The test suite never touches data it does not own: a run of the suite's own
fixtures (a nested pytest) next to a Redis and a database that stand for the bot's
real ones (``REDIS_URL`` / ``DATABASE_URL``) leaves them exactly as they were."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

import asyncpg
import pytest

from tests.conftest import _with_database
from tests.integration.proc import ROOT, RedisServer, redis_servers

# Tests that empty the suite's Redis (redis_client) and database (migrated_database).
INNER_TESTS = [
    "tests/integration/test_monitor.py::test_depths_of_every_queue",
    "tests/integration/test_walking_skeleton.py::test_backlog_to_report",
]


async def _pytest(env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *INNER_TESTS,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode()


@pytest.fixture
async def bots_database(postgres_server_url):
    """A database standing for the bot's own, with a row in it."""
    name = f"bb_bots_own_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(postgres_server_url, name)
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE incidents (id int); INSERT INTO incidents VALUES (7)")
    await conn.close()
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _rows(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [row["id"] for row in await conn.fetch("SELECT id FROM incidents")]
    finally:
        await conn.close()


@pytest.mark.parametrize("tests_redis", ["TEST_REDIS_URL", "started by the suite"])
async def test_the_bots_redis_and_database_survive_the_suite(
    tmp_path, postgres_server_url, bots_database, tests_redis
):
    bots = RedisServer(tmp_path / "bots-redis").start()
    theirs = RedisServer(tmp_path / "tests-redis").start()
    with redis_servers(bots, theirs):
        own = bots.client()
        own.set("phishnet:config", "keep me")
        own.rpush("email_processing_queue", "job-1", "job-2")
        env = {k: v for k, v in os.environ.items() if k not in ("TEST_REDIS_URL",)}
        env.update(
            REDIS_URL=bots.url,  # what a developer's shell may hold: never the tests'
            DATABASE_URL=bots_database,
            TEST_DATABASE_URL=postgres_server_url,
        )
        if tests_redis == "TEST_REDIS_URL":
            env["TEST_REDIS_URL"] = theirs.url
        code, out = await _pytest(env)
        assert code == 0, out
        assert own.get("phishnet:config") == "keep me"
        assert own.lrange("email_processing_queue", 0, -1) == ["job-1", "job-2"]
        assert own.dbsize() == 2
        if tests_redis == "TEST_REDIS_URL":
            assert theirs.client().dbsize() == 0  # used, and emptied
    assert await _rows(bots_database) == [7]


async def test_a_test_redis_that_is_not_empty_is_refused(tmp_path, postgres_server_url):
    theirs = RedisServer(tmp_path / "tests-redis").start()
    with redis_servers(theirs):
        client = theirs.client()
        client.set("someone-else's", "data")
        env = {**os.environ, "TEST_REDIS_URL": theirs.url, "TEST_DATABASE_URL": postgres_server_url}
        code, out = await _pytest(env)
        assert code == 4, out
        assert "TEST_REDIS_URL names Redis database 0, which holds 1 key(s)" in out
        assert client.get("someone-else's") == "data"
