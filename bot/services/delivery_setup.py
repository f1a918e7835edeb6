"""The outbox rows that set an incident's channel up: ``channel`` (create it) and
``call`` (topic, purpose, invitations, the alert's pin, the runbook bookmark, archive).

They travel in the incident's stream of rows (``incident:<id>``), in order: the
creation comes first, so every message after it waits until the channel exists,
then goes there; if Slack refuses to create it (missing scope, workspace
restrictions such as ``restricted_action``), the incident falls back to the
announcement channel, says so once, and the rows meant only for a channel of
its own are skipped. Creation whose answer was lost is never repeated blindly:
the bot's own channels of that name are looked at first, and one no other
incident holds is adopted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from bot.adapters.slack.setup import CreatedChannel
from bot.adapters.store import Store
from bot.adapters.store.outbox import OutboxMessage
from bot.domain.delivery import Delivered, Delivery, Refused, RetryLater, explain_refusal
from bot.domain.models import Clock

log = logging.getLogger(__name__)

Record = Callable[[OutboxMessage, int, Delivery], Awaitable[Delivery]]


class SetupTransport(Protocol):
    """What the setup rows need of Slack (bot/adapters/slack/setup.py)."""

    async def create_channel(
        self, base: str, *, private: bool
    ) -> CreatedChannel | RetryLater | Refused: ...

    async def own_channels(self, base: str) -> list[CreatedChannel] | RetryLater: ...

    async def call(
        self, channel: str, payload: Mapping[str, Any], *, parent_ts: str | None
    ) -> Delivery: ...

    async def find_bookmark(self, channel: str, link: str) -> Delivered | RetryLater | None: ...


class ChannelHooks(Protocol):
    """What the incident service does when its channel is decided, in the same
    transaction as the row's outcome (bot/services/channels.py)."""

    async def created(self, tx: Store, message: OutboxMessage, channel: CreatedChannel) -> None: ...

    async def refused(self, tx: Store, message: OutboxMessage, refused: Refused) -> None: ...


class SetupDelivery:
    def __init__(
        self, store: Store, transport: SetupTransport, hooks: ChannelHooks, clock: Clock
    ) -> None:
        self._store = store
        self._transport = transport
        self._hooks = hooks
        self._clock = clock

    async def create(self, message: OutboxMessage, record: Record) -> Delivery:
        """The incident's channel: adopted if an earlier attempt made it, else created."""
        base = str(message.payload.get("name", ""))
        if message.unconfirmed:
            adopted = await self._adoptable(base)
            if isinstance(adopted, RetryLater):
                return await record(message, message.attempt_version, adopted)
            if adopted is not None:
                log.info("adopted a channel an earlier attempt created", extra={"key": message.key})
                return await self._created(message, adopted)
        await self._store.mark_attempt(message.id, message.version)
        outcome = await self._transport.create_channel(
            base, private=bool(message.payload.get("private"))
        )
        if isinstance(outcome, CreatedChannel):
            return await self._created(message, outcome)
        if isinstance(outcome, RetryLater):
            return await record(message, message.version, outcome)
        log.warning("incident channel refused", extra={"key": message.key, "error": outcome.error})
        async with self._store.transaction() as tx:
            await tx.mark_failed(message.id, outcome.error)
            await self._hooks.refused(tx, message, outcome)
        return outcome

    async def _adoptable(self, base: str) -> CreatedChannel | RetryLater | None:
        own = await self._transport.own_channels(base)
        if isinstance(own, RetryLater):
            return own
        for channel in own:
            if await self._store.incident_with_channel(channel.id) is None:
                return channel
        return None

    async def _created(self, message: OutboxMessage, channel: CreatedChannel) -> Delivery:
        async with self._store.transaction() as tx:
            await tx.mark_delivered(
                message.id, message.version, ts=channel.id, channel=channel.id, at=self._clock()
            )
            await self._hooks.created(tx, message, channel)
        return Delivered(channel.id, channel.id)

    async def call(self, message: OutboxMessage, record: Record) -> Delivery | None:
        """One idempotent call on the incident's channel (the caller has checked it is
        known and is the incident's own). None: its message is not posted yet."""
        payload = message.payload
        parent_ts = None
        if payload.get("call") == "pin":
            if message.parent_ts is None:
                if message.parent_state == "failed":  # nothing to pin
                    return await record(message, message.version, Delivered(message.channel, "-"))
                return None
            parent_ts = message.parent_ts
        channel = message.destination or message.channel
        if payload.get("call") == "bookmark" and message.unconfirmed:
            found = await self._transport.find_bookmark(channel, str(payload.get("link", "")))
            if found is not None:
                return await record(message, message.attempt_version, found)
        version = message.version
        await self._store.mark_attempt(message.id, version)
        outcome = await self._transport.call(channel, payload, parent_ts=parent_ts)
        if isinstance(outcome, Refused):
            return await self._refused(message, channel, outcome)
        recorded = await record(message, version, outcome)
        if isinstance(outcome, Delivered) and outcome.note:
            await self._say(message, f"{message.key}/note/{version}", f":warning: {outcome.note}.")
        return recorded

    async def _refused(self, message: OutboxMessage, channel: str, refused: Refused) -> Delivery:
        """Said in the incident's channel (the setup is about it), never retried."""
        what = str(message.payload.get("what") or message.payload.get("call"))
        why = explain_refusal(refused, f"<#{channel}>")
        log.error("slack refused a setup call", extra={"key": message.key, "error": refused.error})
        await self._store.mark_failed(message.id, refused.error)
        await self._say(
            message, f"refused/{message.id}", f":warning: Backlog Bot could not {what}: {why}."
        )
        return refused

    async def _say(self, message: OutboxMessage, key: str, text: str) -> None:
        async with self._store.transaction() as tx:
            await tx.enqueue_message(
                key,
                message.channel,
                {"text": text, "no_report": True},
                at=self._now(),
                incident_id=message.incident_id,
            )

    def _now(self) -> datetime:
        return self._clock()
