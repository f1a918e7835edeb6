"""The game day inside ``serve``: an APScheduler cron job from the playbook's
``gameday.schedule`` (the runbook's monthly stress test: ``0 2 1 * *``, "first day of
month at 2 AM", in the playbook's ``time_zone``).

Inside ``serve`` the drill only pushes, observes and cleans up: the server's own
monitor samples on its interval, its escalation timer pages, its outbox sender
delivers — the very machinery being drilled, not a second copy stepping beside it.
A refusal (the serving playbook is not the staging one) or a failure is said in the
announcement channel through the outbox, never only in a log.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.adapters.queues.errors import RedisFailure
from bot.app import Runtime
from bot.domain.errors import BotError
from bot.domain.playbook import Playbook
from bot.domain.playbook_gameday import DrillBusy, DrillRefused
from bot.services.gameday import DrillParts, DrillResult, GameDay
from bot.services.messages import Messages
from bot.startup import ConfigurationError

log = logging.getLogger(__name__)

JOB_ID = "gameday"
#: A drill the scheduler could not start on time (the bot was down at 02:00) still
#: runs if it is at most this late; later, it waits for the next date.
MISFIRE_GRACE = timedelta(hours=1)


def gameday_trigger(playbook: Playbook) -> CronTrigger | None:
    """The cron trigger of ``playbook``'s ``gameday.schedule`` in its time zone (None:
    no schedule). Raises ``ConfigurationError`` naming the field for an expression
    APScheduler refuses."""
    section = playbook.gameday
    if section is None or section.schedule is None:
        return None
    try:
        return CronTrigger.from_crontab(section.schedule, timezone=playbook.tz)
    except ValueError as exc:
        raise ConfigurationError(
            f"PLAYBOOK: gameday.schedule: {section.schedule!r} is not a cron expression "
            f"APScheduler accepts ({exc})"
        ) from exc


def schedule_gameday(scheduler: BaseScheduler, runtime: Runtime) -> CronTrigger | None:
    """Adds the drill's cron job to ``scheduler`` (``serve`` calls it at start)."""
    trigger = gameday_trigger(runtime.playbook)
    if trigger is None:
        return None

    async def job() -> None:
        await run_scheduled_drill(runtime)

    scheduler.add_job(
        job,
        trigger,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
    )
    log.info(
        "game day scheduled", extra={"next": str(trigger.get_next_fire_time(None, runtime.clock()))}
    )
    return trigger


async def run_scheduled_drill(runtime: Runtime) -> DrillResult | None:
    """One drill on the server's machinery; its outcome (or why it could not run) goes
    to the announcement channel."""
    playbook = runtime.playbook
    messages = Messages(runtime.clock, alert_refresh=playbook.slack.alert_refresh)
    try:
        auth: Any = await runtime.slack.auth_test()
        game = GameDay(
            DrillParts(
                store=runtime.store,
                redis=runtime.redis,
                incidents=runtime.incidents,
                messages=messages,
                sample=_served,
                escalate=_nothing,
                deliver=_nothing,
                pace=_sleep,
            ),
            playbook,
            runtime.clock,
            actor=str(auth["user_id"]),
            production=[playbook],
            progress=lambda line: log.info("game day: %s", line),
        )
        return await game.run()
    except DrillBusy:
        # Every replica's scheduler fires; the one holding the game-day lock runs it.
        log.info("scheduled game day already running on another replica")
        return None
    except (DrillRefused, RedisFailure, BotError) as exc:
        why = str(exc)
    except Exception as exc:  # the scheduler would only log it: say it in Slack too
        log.exception("scheduled game day failed")
        why = f"{type(exc).__name__}: {exc}"
    key = f"gameday/scheduled/{runtime.clock():%Y%m%dT%H%M%S}"
    async with runtime.store.transaction() as tx:
        await messages.say(
            tx,
            key,
            playbook.slack.announcement_channel,
            f":warning: The scheduled game day did not run to the end: {why}",
        )
    return None


async def _nothing() -> None:
    """The server's own loops page and deliver."""


async def _served() -> bool:
    """The server's own monitor samples (True: nothing to say about it)."""
    return True


async def _sleep(step: timedelta) -> None:
    await asyncio.sleep(step.total_seconds())
