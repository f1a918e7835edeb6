"""The game day inside ``serve``: the cron trigger from the playbook, and a scheduled
drill that only pushes, observes and cleans up while the server's own loops sample,
page and deliver."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.models import system_clock
from bot.domain.playbook import load_playbook
from bot.gameday_schedule import gameday_trigger, run_scheduled_drill, schedule_gameday
from bot.startup import ConfigurationError
from tests.integration.test_gameday import PHISHNET, QUEUE, announcements, staging_text

STAGING = {"staging": {"namespace": "phishnet-staging", "queues": [QUEUE]}}


def _playbook(tmp_path: Path, section: dict[str, object], *, fast: bool = False):
    text = staging_text(section)
    if fast:
        text = text.replace("for: 10m", "for: 1s").replace("after: 30m", "after: 2s")
    path = tmp_path / "staging.yml"
    path.write_text(text, encoding="utf-8")
    return load_playbook(path)


def test_the_runbooks_monthly_schedule_fires_on_the_first_at_2am(tmp_path):
    playbook = _playbook(tmp_path, {**STAGING, "schedule": "0 2 1 * *"})
    trigger = gameday_trigger(playbook)
    assert trigger is not None
    after = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, after)
    assert first == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(first, first.replace(minute=1)) == datetime(
        2027, 1, 1, 2, 0, tzinfo=UTC
    )
    assert gameday_trigger(_playbook(tmp_path, STAGING)) is None


def test_a_schedule_apscheduler_refuses_stops_the_start(tmp_path):
    playbook = _playbook(tmp_path, {**STAGING, "schedule": "0 2 32 * *"})
    with pytest.raises(ConfigurationError, match=r"PLAYBOOK: gameday.schedule: '0 2 32 \* \*'"):
        gameday_trigger(playbook)


async def test_a_refused_scheduled_drill_is_said_in_the_announcement_channel(sandbox):
    assert await run_scheduled_drill(sandbox.runtime) is None
    await sandbox.settle()
    assert announcements(sandbox)[-1] == (
        ":warning: The scheduled game day did not run to the end: Playbook "
        "'phishnet-queue-backlog' has no gameday section: nothing is staging."
    )


async def test_a_scheduled_drill_observes_the_servers_own_loops(
    make_sandbox, tmp_path, redis_client
):
    """Real time: the rule fires after 1 s, the first tier pages after 2 s; a task
    plays serve's loops (monitor, escalation, outbox) every 0.2 s; two replicas fire
    the schedule at once."""
    section = {
        **STAGING,
        "schedule": "0 2 1 * *",
        "targets": {"detect": "2m", "post": "3m", "page": "4m"},
        "step": "0.2s",
    }
    box = await make_sandbox(playbook=_playbook(tmp_path, section, fast=True), clock=system_clock)
    scheduler = AsyncIOScheduler()
    assert schedule_gameday(scheduler, box.runtime) is not None
    assert scheduler.get_job("gameday") is not None
    await redis_client.lpush(QUEUE, "email-1")

    async def serve_loops() -> None:
        while True:
            await box.runtime.monitor.tick()
            await box.runtime.escalation.tick()
            await box.settle()
            await asyncio.sleep(0.2)

    loops = asyncio.create_task(serve_loops())
    try:
        # Both replicas' schedulers fire: one runs the drill, the other says nothing.
        results = await asyncio.wait_for(
            asyncio.gather(run_scheduled_drill(box.runtime), run_scheduled_drill(box.runtime)),
            60,
        )
    finally:
        loops.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loops
    await box.settle()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1
    result = ran[0]
    assert result.passed, result.lines
    assert not [t for t in announcements(box) if "did not run to the end" in t]
    assert await redis_client.lrange(QUEUE, 0, -1) == ["email-1"]
    assert f"Game day {result.run_id} PASSED" in announcements(box)[-1]


def test_phishnet_has_no_schedule():
    assert gameday_trigger(load_playbook(PHISHNET)) is None
