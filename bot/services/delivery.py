"""The outbox sender: delivers what the bot must say, until Slack takes it, once.

Rows come from the ``slack_messages`` outbox (written in the same transaction
as the state change that caused them). For each Slack channel with due rows
the sender takes a PostgreSQL advisory lock, so across replicas one sender at
a time serves a channel and delivers its messages in the order they were
written. An attempt is recorded before the call; when its outcome is unknown
(a timeout, a dropped connection, a 5xx, a crash mid-call) the next attempt
first looks for the message by its metadata, so nothing is ever posted twice.
A permanent refusal is said where people will see it: to the person whose
command caused the message, in the announcement channel, in the log and in
the outbox's ``failed`` count (``/metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.adapters.store import Store
from bot.adapters.store.outbox import OutboxMessage
from bot.adapters.store.sender import SenderConnection
from bot.domain.delivery import (
    Delivered,
    Delivery,
    Refused,
    RetryLater,
    explain_refusal,
    retry_delay,
)
from bot.domain.models import Clock
from bot.services.delivery_ports import TokenBucket, Transport
from bot.services.delivery_setup import SetupDelivery

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
CHANNEL_CONCURRENCY = 4
# chat.update is a Tier 3 method: "50+ per minute" per workspace. Keep well under.
UPDATES_PER_MINUTE = 45


@dataclass
class SenderHealth:
    """What /readyz and the logs say about delivery."""

    last_error: str | None = None
    refused: int = 0
    delivered: int = 0


class SlackSender:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        locks: SenderConnection,
        *,
        clock: Clock,
        announcement_channel: str,
        setup: SetupDelivery | None = None,
        updates: TokenBucket | None = None,
    ) -> None:
        self._store = store
        self._transport = transport
        self._setup = setup
        self._locks = locks
        self._clock = clock
        self._announcement = announcement_channel
        # On the bot's clock, like every other wait: tests and the demo move it.
        self._updates = updates or TokenBucket(
            UPDATES_PER_MINUTE, monotonic=lambda: clock().timestamp()
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(CHANNEL_CONCURRENCY)
        self._busy: set[str] = set()
        self._contended: set[str] = set()  # held by another replica in the last round
        self.health = SenderHealth()
        self.on_delivered: list[Callable[[OutboxMessage, Delivered], Awaitable[None]]] = []
        self.on_refused: list[Callable[[OutboxMessage, str], Awaitable[None]]] = []

    # ---- running -----------------------------------------------------------

    async def start(self) -> None:
        await self._locks.listen(self.wake)
        self._task = asyncio.create_task(self._run(), name="slack-sender")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._locks.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
                self.health.last_error = None
            except Exception as exc:  # the sender must outlive any one failure: said in /readyz
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("outbox delivery round failed")
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for swallows a cancel
            # that lands as the wake-up does (gh-86296), and stop() then waited forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def deliver_due(self) -> int:
        """One round: every channel with due messages; returns how many were delivered."""
        channels = await self._store.channels_due(self._clock())
        counts = await asyncio.gather(*(self._deliver_channel(c) for c in channels))
        return sum(counts)

    async def flush(self, within: float = 10.0) -> None:
        """Delivers until nothing is due now (tests, the demo, shutdown); messages
        waiting for a retry later than now are left for later."""
        async with asyncio.timeout(within):
            while self._busy or await self._store.channels_due(self._clock()):
                self._contended.clear()
                if await self.deliver_due():
                    continue
                if not self._busy and not self._contended:
                    return  # what is due cannot go yet (e.g. replies to an unsent message)
                # This process's other round, or another replica, holds a channel.
                await asyncio.sleep(0.01)

    async def _deliver_channel(self, channel: str) -> int:
        if channel in self._busy:
            return 0  # this process is already delivering it (advisory locks are
            # re-entrant within one connection, so they cannot tell)
        self._busy.add(channel)
        try:
            return await self._deliver_locked(channel)
        finally:
            self._busy.discard(channel)

    async def _deliver_locked(self, channel: str) -> int:
        async with self._limit:
            if not await self._locks.try_lock(channel):
                self._contended.add(channel)
                return 0  # another replica is delivering this channel
            try:
                return await self._deliver_rows(channel)
            finally:
                await self._locks.unlock(channel)

    async def _deliver_rows(self, channel: str) -> int:
        delivered = 0
        rows = await self._store.due_in_channel(channel, self._clock())
        while rows:
            message, rows = rows[0], rows[1:]
            outcome = await self._deliver(message)
            if isinstance(outcome, Delivered):
                delivered += 1
            elif not message.posted and not isinstance(outcome, Refused):
                # Keep the channel's order: a post that must wait holds back the
                # posts written after it (edits of posted messages go on).
                break
            if message.kind == "channel":
                # The incident's channel is decided: the rows after it read where to go.
                rows = await self._store.due_in_channel(channel, self._clock())
        return delivered

    # ---- one message -------------------------------------------------------

    async def _deliver(self, message: OutboxMessage) -> Delivery | None:
        """None: not ready (its incident's channel is not known yet, or its thread's
        parent is not posted yet)."""
        setup = self._setup
        if message.kind in ("channel", "call") and setup is None:
            return await self._record(message, message.version, Refused("no_setup"))
        if message.kind == "channel" and setup is not None:
            return await setup.create(message, self._record)
        if message.destination is None:
            return None
        if message.dedicated_only and message.incident_channel_status != "dedicated":
            return await self._skip(message)
        if message.kind == "call" and setup is not None:
            return await setup.call(message, self._record)
        if message.posted:
            return await self._edit(message)
        return await self._post(message)

    async def _edit(self, message: OutboxMessage) -> Delivery:
        """A newer version of a posted message: ``chat.update``, within the message's
        minimum interval and the workspace's rate for the method."""
        held = self._edit_interval(message)
        if held is not None:
            await self._store.mark_retry(
                message.id,
                not_before=held,
                error=f"coalescing edits (one every {message.min_interval_s}s)",
                unconfirmed=False,
            )
            return RetryLater("coalescing", ambiguous=False)
        if message.kind != "message":
            # A file is shared once; a newer version of it has nothing to edit.
            shared: Delivery = Delivered(message.target_channel, message.ts or "")
            return await self._record(message, message.version, shared)
        wait = self._updates.take()
        if wait > 0:
            await self._store.mark_retry(
                message.id,
                not_before=self._clock() + timedelta(seconds=wait),
                error="waiting for chat.update's rate limit",
                unconfirmed=False,
            )
            return RetryLater("rate limit", ambiguous=False)
        version = message.version
        outcome = await self._transport.update(
            message.target_channel, message.ts or "", dict(message.payload)
        )
        return await self._record(message, version, outcome)

    async def _post(self, message: OutboxMessage) -> Delivery | None:
        thread_ts: str | None = None
        if message.thread_key is not None:
            if message.parent_ts is None and message.parent_state != "failed":
                return None
            thread_ts = message.parent_ts  # a failed parent: said at the top level instead
        if message.unconfirmed:
            found = await self._transport.find(
                message.target_channel,
                thread_ts=thread_ts,
                message_id=message.id,
                since=message.created_at,
                filename=_filename(message),
            )
            if isinstance(found, RetryLater):
                return await self._record(message, message.attempt_version, found)
            if found is not None:
                log.info("found an unconfirmed message in Slack", extra={"key": message.key})
                # Its content is that of the attempt; a newer version is then an edit.
                return await self._record(message, message.attempt_version, found)
        version = message.version
        await self._store.mark_attempt(message.id, version)
        outcome = await self._send(message, thread_ts)
        return await self._record(message, version, outcome)

    async def _skip(self, message: OutboxMessage) -> Delivery:
        """A row meant only for a channel of the incident's own, where it has none."""
        outcome = Delivered(message.target_channel, "skipped")
        await self._store.mark_delivered(
            message.id, message.version, ts="skipped", channel=outcome.channel, at=self._clock()
        )
        return outcome

    def _edit_interval(self, message: OutboxMessage) -> datetime | None:
        """When this edit may go, if the message's minimum interval holds it back."""
        last = message.edited_at or message.delivered_at
        interval = message.min_interval_s
        if message.urgent or not interval or last is None:
            return None
        due = last + timedelta(seconds=interval)
        return due if due > self._clock() else None

    async def _send(self, message: OutboxMessage, thread_ts: str | None) -> Delivery:
        payload = dict(message.payload)
        if message.kind == "file":
            return await self._transport.upload(
                message.target_channel,
                thread_ts=thread_ts,
                filename=str(payload.get("filename", "file.txt")),
                title=str(payload.get("title", "")),
                content=message.content or b"",
                initial_comment=str(payload.get("text", "")),
            )
        outcome = await self._transport.post(
            message.target_channel, payload, thread_ts=thread_ts, message_id=message.id
        )
        if isinstance(outcome, Delivered) and payload.get("permalink"):
            link = await self._transport.permalink(outcome.channel, outcome.ts)
            outcome = dataclasses.replace(outcome, permalink=link)
        return outcome

    async def _record(self, message: OutboxMessage, version: int, outcome: Delivery) -> Delivery:
        now = self._clock()
        if isinstance(outcome, Delivered):
            await self._store.mark_delivered(
                message.id, version, ts=outcome.ts, channel=outcome.channel, at=now
            )
            self.health.delivered += 1
            for hook in self.on_delivered:
                await hook(message, outcome)
        elif isinstance(outcome, RetryLater):
            delay = retry_delay(message.attempts + 1, outcome.retry_after)
            await self._store.mark_retry(
                message.id,
                not_before=now + delay,
                error=outcome.error,
                unconfirmed=outcome.ambiguous,
            )
            log.warning(
                "slack delivery will be retried",
                extra={"key": message.key, "error": outcome.error, "in_seconds": delay.seconds},
            )
        else:
            await self._store.mark_failed(message.id, outcome.error)
            await self._report_refusal(message, outcome)
        return outcome

    async def _report_refusal(self, message: OutboxMessage, refused: Refused) -> None:
        self.health.refused += 1
        channel = message.target_channel
        where = f"<#{channel}>" if not channel.startswith("#") else f"`{channel}`"
        why = explain_refusal(refused, where)
        log.error(
            "slack refused a message",
            extra={"key": message.key, "channel": channel, "error": refused.error},
        )
        what = _first_line(message)
        sentence = f":warning: Backlog Bot could not post “{what}” in {where}: {why}."
        for hook in self.on_refused:
            await hook(message, f"Slack refused its message: {why}")
        if message.notify_user and message.notify_channel:
            told = await self._transport.ephemeral(
                message.notify_channel, message.notify_user, sentence
            )
            if not isinstance(told, Delivered):
                log.error("could not tell the requester", extra={"user": message.notify_user})
        if message.payload.get("no_report") or message.destination == self._announcement:
            return
        async with self._store.transaction() as tx:
            await tx.enqueue_message(
                f"refused/{message.id}",
                self._announcement,
                {"text": sentence, "no_report": True},
                at=self._clock(),
                incident_id=message.incident_id,
            )


def _first_line(message: OutboxMessage) -> str:
    text = str(message.payload.get("title") or message.payload.get("text") or message.key)
    line = text.strip().splitlines()[0] if text.strip() else message.key
    return line if len(line) <= 120 else line[:119] + "…"


def _filename(message: OutboxMessage) -> str | None:
    return str(message.payload.get("filename")) if message.kind == "file" else None
