"""Which replica runs the background work: the holder of the leader lock.

Every replica serves Slack (commands, buttons, events, webhooks). The background
work — sampling the queues and what follows each sample (job ages, vendor watch,
effect checks, the escalation's re-plan), the escalation timer, the Slack outbox
and page senders, the sweeps of interrupted actions, expired approvals and
unprocessed channel events — runs on one replica at a time: the one holding the
PostgreSQL advisory lock (bot/adapters/store/leader.py).

:class:`Leadership` asks for the lock every :data:`RETRY_SECONDS`: a stand-by
takes it within about that long of the holder's session ending, and the holder
notices within about that long that its session ended (its connection cut,
PostgreSQL restarted), and stops its work. It is told to start with ``lead`` and
to stop with ``follow``. On SIGTERM :meth:`Leadership.stop` stops the work and
gives the lock up at once, so a stand-by takes over within one retry.

Nothing the work does lives only in this process: outbox rows, due pages, effect
checks and running actions are rows in PostgreSQL, which the next leader picks up
(the senders deliver pending rows, the escalation timer re-plans from the database,
``recover_interrupted`` reports actions a dead process left). The state changes
themselves are conditional (row locks, unique keys, per-channel locks), so even
the moment two replicas both believe they lead — a holder whose connection died
and has not noticed yet — does nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.adapters.store.leader import LeaderLock
from bot.domain.models import Clock, system_clock

log = logging.getLogger(__name__)

#: How often a stand-by asks for the lock and the leader checks it still holds it.
RETRY_SECONDS = 1.0
#: The longest starting or stopping the work may take before it is logged as stuck.
TRANSITION_SECONDS = 10.0

Work = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(
        self,
        lock: LeaderLock,
        *,
        lead: Work,
        follow: Work,
        retry_seconds: float = RETRY_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        """``lead`` starts the background work, ``follow`` stops it (both awaited,
        never concurrently)."""
        self._lock = lock
        self._lead = lead
        self._follow = follow
        self._retry = retry_seconds
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()
        self.leading = False
        self.since: datetime | None = None  #: when this replica last became leader or stand-by

    async def start(self) -> None:
        """Asks for the lock once now (so a lone replica leads before it serves), then
        keeps asking in the background."""
        await self.check()
        self._task = asyncio.create_task(self._run(), name="leadership")

    async def check(self) -> bool:
        """One round: confirms the lock (leading) or asks for it (standing by), and
        starts or stops the work when that changed; returns whether this replica leads.

        A lost lock always stops the work first, even when it can be taken again at
        once (PostgreSQL restarted): another replica may have led in between.
        """
        async with self._turn:
            if self.leading:
                if await self._lock.confirm():
                    return True
                log.warning("lost the leader lock (its connection ended): stopping background work")
                await self._step_down()
            if await self._lock.acquire():
                await self._become_leader()
            return self.leading

    async def stop(self) -> None:
        """Stops asking; when leading, stops the work and gives the lock up at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._turn:
            if self.leading:
                await self._step_down()
                log.info("leader lock released: another replica takes over")
            await self._lock.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._retry)
            try:
                await self.check()
            except Exception:  # never stop watching the lock; the next round tries again
                log.exception("leadership round failed")

    async def _become_leader(self) -> None:
        self.leading, self.since = True, self._clock()
        log.info(
            "took the leader lock: running background work here",
            extra={"backend_pid": self._lock.backend_pid},
        )
        try:
            async with asyncio.timeout(TRANSITION_SECONDS):
                await self._lead()
        except Exception:
            # Half-started work is stopped and the lock given up, so a replica that
            # can start it (or this one, next round) leads instead.
            log.exception("background work did not start: giving the leader lock up")
            await self._step_down()
            await self._lock.release()

    async def _step_down(self) -> None:
        self.leading, self.since = False, self._clock()
        try:
            async with asyncio.timeout(TRANSITION_SECONDS):
                await self._follow()
        except Exception:
            log.exception("background work did not stop cleanly")
