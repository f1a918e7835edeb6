"""The page sender: delivers ``page_deliveries`` rows to PagerDuty and generic webhooks,
until the pager takes or refuses each one, once.

Rows are written in the transaction of the page, the acknowledgement or the
resolution that causes them (bot/services/paging.py, ``Store.enqueue_page_follow_ups``).
Each round claims the due head of every (incident, target) stream with a lease on
the bot's clock (``Store.claim_page_deliveries``), so two replicas never send the
same row and a stream goes out in order (trigger, acknowledge, resolve). The lease
outlasts the HTTP timeout several times; a sender that dies mid-call leaves its
row to be sent again when the lease ends, which PagerDuty absorbs (a trigger
repeated with the same dedup key lands on the same alert; acknowledge and resolve
are idempotent).

Outcomes (bot/adapters/pagerduty/outcome.py): accepted — done; retry later (429,
5xx, timeout, no connection) — again after the pager's ``Retry-After`` or our
backoff, whichever is later, said once in the channel if it keeps failing;
refused (400) — said in the incident's channel with the pager's own message,
never sent again. A missing secret at send time is a refusal too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot.adapters.pagerduty import (
    Accepted,
    HookUrl,
    Outcome,
    PagerDutyEvents,
    PagingNotConfigured,
    PagingWebhook,
    RetryLater,
    RoutingKey,
    hook_url,
    routing_key,
)
from bot.adapters.pagerduty.events import DEFAULT_EVENTS_URL, DEFAULT_TIMEOUT
from bot.adapters.store import Store
from bot.adapters.store.listen import Listener
from bot.adapters.store.paging import PAGES_CHANNEL, PageDelivery
from bot.domain.models import Clock
from bot.domain.paging import PagerDutyTarget
from bot.services.messages import Messages
from bot.services.paging import content_from, page_key, target_of

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
CONCURRENCY = 4
#: First retry after this; doubled at each attempt up to MAX_BACKOFF. A pager's
#: Retry-After is honoured when it asks for longer.
BASE_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=5)
#: After this many failed attempts the channel is told the page is late.
NOTICE_AFTER = 3


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: 5 s, 10 s, 20 s… at most 5 minutes."""
    factor: int = 2 ** max(attempts - 1, 0)
    return min(BASE_BACKOFF * factor, MAX_BACKOFF)


class PageSender:
    def __init__(
        self,
        store: Store,
        messages: Messages,
        *,
        clock: Clock,
        events_url: str = DEFAULT_EVENTS_URL,
        environ: Mapping[str, str] | None = None,
        listener: Listener | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._store = store
        self._messages = messages
        self._clock = clock
        self._environ = environ
        self._listener = listener
        self._pagerduty = PagerDutyEvents(events_url, timeout=timeout, clock=clock)
        self._webhooks = PagingWebhook(timeout=timeout, clock=clock)
        # Several times the HTTP timeout: a slow pager never lets a second sender in.
        self._lease = timedelta(seconds=max(60.0, 4 * timeout))
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._inflight = 0  # rows this process is sending now
        self._idle = asyncio.Event()  # set while _inflight is 0
        self._idle.set()
        self.last_error: str | None = None
        self._listening = False

    # ---- running -------------------------------------------------------------

    async def start(self) -> None:
        if self._listener is not None:
            if not self._listening:  # started again after a takeover: one callback
                self._listener.on(PAGES_CHANNEL, self.wake)
                self._listening = True
            await self._listener.check()
        self._task = asyncio.create_task(self._run(), name="page-sender")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._pagerduty.close()
        await self._webhooks.close()

    async def _run(self) -> None:
        while True:
            try:
                if self._listener is not None:
                    await self._listener.check()
                await self.deliver_due()
                self.last_error = None
            except Exception as exc:  # outlive any one failure; said in the log and /readyz
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("page delivery round failed")
            # Not wait_for: it can swallow stop()'s cancel in Python 3.11 (delivery.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def deliver_due(self) -> int:
        """One round: claims the due head of every stream and sends it; returns how many
        rows this round claimed."""
        claimed = await self._store.claim_page_deliveries(self.owner, self._clock(), self._lease)
        self._inflight += len(claimed)
        if claimed:
            self._idle.clear()
        await asyncio.gather(*(self._guarded(delivery) for delivery in claimed))
        return len(claimed)

    async def flush(self, within: float = 10.0) -> None:
        """Sends until nothing more is due now, waiting for what this process is already
        sending (tests, the demo); rows waiting for a retry later than now are left."""
        async with asyncio.timeout(within):
            while await self.deliver_due() or self._inflight:
                await self._idle.wait()

    async def _guarded(self, delivery: PageDelivery) -> None:
        try:
            async with self._limit:
                await self._deliver(delivery)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    # ---- one row ---------------------------------------------------------------

    async def _deliver(self, delivery: PageDelivery) -> None:
        target = target_of(delivery.target_kind, delivery.target_env)
        environ = os.environ if self._environ is None else self._environ
        try:
            if isinstance(target, PagerDutyTarget):
                key = routing_key(target, environ)
                outcome = await self._pagerduty_call(delivery, key)
            else:
                url = hook_url(target, environ)
                outcome = await self._webhook_call(delivery, url)
        except PagingNotConfigured as exc:
            await self._refused(delivery, f"{target.label} was not paged: {exc}")
            return
        now = self._clock()
        if isinstance(outcome, Accepted):
            await self._accepted(delivery, outcome)
        elif isinstance(outcome, RetryLater):
            # The pager's Retry-After, or our backoff when that is longer; said as waited.
            delay = max(outcome.retry_after, backoff(delivery.attempts))
            await self._retry(delivery, replace(outcome, retry_after=delay), now + delay)
        else:
            await self._refused(delivery, outcome.sentence)

    async def _pagerduty_call(self, delivery: PageDelivery, key: RoutingKey) -> Outcome:
        if delivery.action == "trigger":
            page = content_from(delivery.dedup_key, delivery.content)
            return await self._pagerduty.trigger(key, page)
        if delivery.action == "acknowledge":
            return await self._pagerduty.acknowledge(key, delivery.dedup_key)
        return await self._pagerduty.resolve(key, delivery.dedup_key)

    async def _webhook_call(self, delivery: PageDelivery, url: HookUrl) -> Outcome:
        if delivery.action == "trigger":
            page = content_from(delivery.dedup_key, delivery.content)
            return await self._webhooks.trigger(url, page)
        if delivery.action == "acknowledge":
            return await self._webhooks.acknowledge(url, delivery.dedup_key)
        return await self._webhooks.resolve(url, delivery.dedup_key)

    async def _accepted(self, delivery: PageDelivery, outcome: Accepted) -> None:
        async with self._store.transaction() as tx:
            if not await tx.page_delivered(delivery.id, self.owner, self._clock()):
                log.warning("page delivery lease lost", extra={"delivery": delivery.id})
                return
            if delivery.attempts > NOTICE_AFTER:
                await self._say(
                    tx,
                    delivery,
                    "delivered",
                    f":white_check_mark: {outcome.target} took the {delivery.action} for "
                    f"incident #{delivery.incident_id} at attempt {delivery.attempts}.",
                )
        log.info(
            "pager took the event",
            extra={"delivery": delivery.id, "action": delivery.action, "target": outcome.target},
        )

    async def _retry(self, delivery: PageDelivery, outcome: RetryLater, when: datetime) -> None:
        async with self._store.transaction() as tx:
            if not await tx.page_retry(
                delivery.id, self.owner, not_before=when, error=outcome.sentence
            ):
                return
            if delivery.attempts == NOTICE_AFTER:
                await self._say(
                    tx,
                    delivery,
                    "delayed",
                    f":hourglass_flowing_sand: {outcome.sentence} "
                    f"({delivery.attempts} attempts so far; the bot keeps trying.)",
                )
        log.warning(
            "pager did not take the event yet",
            extra={"delivery": delivery.id, "reason": outcome.reason, "retry_at": when.isoformat()},
        )

    async def _refused(self, delivery: PageDelivery, sentence: str) -> None:
        async with self._store.transaction() as tx:
            if not await tx.page_failed(delivery.id, self.owner, sentence):
                return
            # At the top of the channel, not in a thread: a page that will never arrive.
            await self._say(tx, delivery, "refused", f":warning: {sentence}", threaded=False)
        log.error("pager refused the event", extra={"delivery": delivery.id})

    async def _say(
        self, tx: Store, delivery: PageDelivery, what: str, text: str, *, threaded: bool = True
    ) -> None:
        """In the incident's channel: in the thread of the page that caused it, if any
        and ``threaded``, else at the top."""
        thread = page_key(delivery.incident_id, delivery.tier) if delivery.tier else None
        await self._messages.say(
            tx,
            f"paging/{delivery.id}/{what}",
            delivery.channel,
            text,
            thread_key=thread if threaded else None,
            incident_id=delivery.incident_id,
        )
