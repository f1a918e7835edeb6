"""Wakes the escalation when the next page falls due, and after every change.

One APScheduler ``date`` job (id ``escalation``) runs :meth:`EscalationTimer.replan`
at the time :meth:`EscalationService.tick` says the next page could fall due; each
run pages what is due and plans the next run, so a page goes out within the
scheduler's lag (milliseconds) of its due time rather than on a poll. Changes that
can bring a page forward re-plan at once: a sample (the monitor's hook: an incident
opened, a depth or job age crossed a trigger), and — on every replica, through
PostgreSQL's NOTIFY — an acknowledgement or a page. On start the plan is rebuilt
from the database, so pages that fell due while the bot was down go out once,
marked late. Only the leading replica plans (bot/lifecycle.py attaches the timer
when it takes the lead and detaches it when it loses it); a stand-by's pokes do
nothing.

PostgreSQL decides (bot/services/escalation.py); this only wakes it up, so two
replicas waking at once still page once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

from bot.adapters.store.listen import Listener
from bot.adapters.store.paging import ESCALATION_CHANNEL
from bot.domain.models import Clock, system_clock
from bot.services.escalation import EscalationService

log = logging.getLogger(__name__)

JOB_ID = "escalation"
#: When a re-plan fails (PostgreSQL unreachable), try again this soon; /readyz says why.
RETRY_AFTER = timedelta(seconds=10)


class EscalationTimer:
    def __init__(
        self,
        escalation: EscalationService,
        clock: Clock,
        *,
        wall: Clock = system_clock,
        listener: Listener | None = None,
    ) -> None:
        """``clock`` is the bot's clock (due times are on it); ``wall`` is the clock
        APScheduler runs on. They are the same in production; the demo's simulated
        clock runs faster, so a due time is turned into a delay first."""
        self._escalation = escalation
        self._clock = clock
        self._wall = wall
        self._listener = listener
        self._scheduler: BaseScheduler | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[Any] | None = None
        self._listening = False
        # True once detached (a stand-by): pokes then do nothing. Before any attach
        # (the demo, the tests' sandbox) a poke still re-plans next_due.
        self._detached = False
        self.next_due: datetime | None = None  #: on the bot's clock; None: nothing planned
        #: The scheduler's job id (one per playbook when one bot runs several).
        self.job_id = JOB_ID

    async def attach(self, scheduler: BaseScheduler) -> None:
        """Plans on ``scheduler`` from now on (``serve()`` calls it once), listening for
        other replicas' changes, and pages at once whatever fell due while down."""
        self._scheduler = scheduler
        self._detached = False
        if self._listener is not None:
            if not self._listening:  # attached again after a takeover: one callback
                self._listener.on(ESCALATION_CHANNEL, self.poke)
                self._listening = True
            await self._listener.check()
        await self.replan()

    async def detach(self) -> None:
        """Stops planning (this replica no longer leads): the planned run is removed and
        pokes are ignored; a re-plan already running finishes first."""
        scheduler, self._scheduler = self._scheduler, None
        self._detached = True
        if scheduler is not None and scheduler.get_job(self.job_id) is not None:
            scheduler.remove_job(self.job_id)
        async with self._lock:
            self.next_due = None

    def poke(self) -> None:
        """Re-plans soon, from a callback that cannot await (a NOTIFY); several pokes
        before it runs are one re-plan. Ignored while detached (a stand-by)."""
        if self._detached:
            return
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self.replan())

    async def after_sample(self, _sample: object = None) -> None:
        """The monitor's hook: a new sample (and job ages) may make a trigger fire."""
        await self.replan()

    async def replan(self) -> datetime | None:
        """Pages what is due now and schedules the next run; returns the next due time."""
        async with self._lock:
            try:
                next_due = await self._escalation.tick()
            except Exception:  # never lose the timer: PostgreSQL down shows in /readyz
                log.exception("escalation tick failed; trying again shortly")
                next_due = self._clock() + RETRY_AFTER
            self.next_due = next_due
            self._schedule(next_due)
            return next_due

    async def _fire(self) -> None:
        await self.replan()

    def _schedule(self, due: datetime | None) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        if due is None:
            if scheduler.get_job(self.job_id) is not None:
                scheduler.remove_job(self.job_id)
            return
        delay = max(due - self._clock(), timedelta(0))
        scheduler.add_job(
            self._fire,
            "date",
            run_date=self._wall() + delay,
            id=self.job_id,
            replace_existing=True,
            misfire_grace_time=None,  # late is better than never (e.g. a suspended host)
            coalesce=True,
            # A run re-plans this same job while it still runs; replan's lock serialises.
            max_instances=3,
        )
