"""Events from the incident channel: stored on receipt, processed once, never dropped.

Slack retries an event it got no 2xx for within 3 seconds (``X-Slack-Retry-Num``
1..3, "Events API: Retries"), and Bolt does not de-duplicate. So every delivery is
stored by ``event_id`` before it is acknowledged (:meth:`ChannelEvents.receive`); the
listener acks, then processes (:meth:`process`): claim, apply, mark processed. A
delivery of an event already processed is acknowledged and skipped; one of an event
stored but never processed (the first try never arrived, or the process died or
failed while processing) is processed. :meth:`sweep` processes what was stored but
left unprocessed when no retry comes (Slack stops after three), and forgets old ones.

What processing does: a person's message, edit, deletion, reaction or pin in a
followed channel (an incident's whose report is not final) is recorded for the
report; everything else is acknowledged and left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.adapters.slack.channel_events import channel_changes, event_channel
from bot.adapters.store import Store
from bot.adapters.store.slack_events import Receipt
from bot.domain.models import Clock

log = logging.getLogger(__name__)

#: How long one processing may hold an event before another may try.
LEASE = timedelta(seconds=60)
#: An event stored this long ago and not processed is the sweep's.
SWEEP_AFTER = timedelta(seconds=30)
MAX_ATTEMPTS = 5
#: How long processed event ids are remembered (Slack's last retry comes ~6 min in).
KEEP_FOR = timedelta(days=1)

BotIds = Callable[[], Awaitable[tuple[str | None, str | None]]]


class ChannelEvents:
    def __init__(self, store: Store, clock: Clock, bot_ids: BotIds) -> None:
        """``bot_ids``: the bot's ``(bot_id, user_id)`` (``auth.test``), to leave its own
        messages out."""
        self._store = store
        self._clock = clock
        self._bot_ids = bot_ids
        # Deliveries received and not yet processed by this process, so that
        # :meth:`idle` also waits for a listener that has not started yet.
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _enter(self) -> None:
        self._busy += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._busy -= 1
        if not self._busy:
            self._idle.set()

    async def receive(self, body: Mapping[str, Any]) -> Receipt:
        """Stores one delivery (an ``event_callback`` envelope) before it is acked.
        Raises when it cannot be stored: the caller answers non-2xx so Slack retries.
        Unless the event is processed already, the caller must then call
        :meth:`process` with ``received=True``."""
        event = body.get("event") or {}
        receipt = await self._store.receive_slack_event(
            str(body["event_id"]), str(event.get("type") or "unknown"), body, self._clock()
        )
        if not receipt.processed:
            self._enter()
        return receipt

    async def process(self, event_id: str, *, received: bool = False) -> bool:
        """Processes a stored event unless it is processed or being processed; True
        when this call processed it. A failure is recorded on the event (and logged)
        for the next try; it never escapes, since the delivery was acknowledged.
        ``received``: this follows :meth:`receive` of the same delivery."""
        if not received:
            self._enter()
        try:
            return await self._process(event_id)
        finally:
            self._leave()

    async def _process(self, event_id: str) -> bool:
        now = self._clock()
        payload = await self._store.claim_slack_event(event_id, now, LEASE)
        if payload is None:
            return False
        try:
            await self._apply(payload)
        except Exception as exc:  # recorded on the event and retried by the sweep
            log.exception("slack event not processed", extra={"event_id": event_id})
            await self._store.finish_slack_event(event_id, self._clock(), f"{exc!r}"[:500])
            return False
        await self._store.finish_slack_event(event_id, self._clock(), None)
        return True

    async def _apply(self, payload: Mapping[str, Any]) -> None:
        event = payload.get("event") or {}
        bot_id, bot_user = await self._bot_ids()
        changes = channel_changes(event, bot_id=bot_id, bot_user_id=bot_user)
        channel = event_channel(event)
        if not changes or channel is None or not await self._store.followed_channel(channel):
            return
        async with self._store.transaction() as tx:
            for change in changes:
                await tx.apply_channel_change(change, self._clock())

    async def sweep(self) -> int:
        """Processes events stored but left unprocessed; forgets old processed ones.
        Returns how many it processed."""
        now = self._clock()
        done = 0
        for event_id in await self._store.unprocessed_slack_events(
            now - SWEEP_AFTER, now, MAX_ATTEMPTS
        ):
            done += await self.process(event_id)
        await self._store.prune_slack_events(now - KEEP_FOR)
        return done

    async def idle(self) -> None:
        """Waits until no event is being processed (tests: after the emulator settles)."""
        await self._idle.wait()
