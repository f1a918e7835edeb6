from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.demo.clock import ManualClock
from bot.demo.sandbox import Sandbox

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def sandbox(
    playbook, redis_url, redis_client, migrated_database, clock, tmp_path
) -> AsyncIterator[Sandbox]:
    """The whole bot on loopback: Bolt over HTTP, Slack and Kubernetes API emulators,
    real Redis (emptied) and real PostgreSQL (emptied)."""
    box = Sandbox(
        playbook=playbook,
        redis_url=redis_url,
        database_url=migrated_database,
        work_dir=tmp_path,
        clock=clock,
    )
    await box.start()
    yield box
    await box.stop()
