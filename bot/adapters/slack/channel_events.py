"""Events API events from an incident channel, as domain changes to people's messages.

Subscriptions (manifest.yml's ``event_subscriptions.bot_events``, kept equal to
:data:`SUBSCRIBED_EVENTS` by a test): ``message.channels`` / ``message.groups`` (posts,
and the ``message_changed`` / ``message_deleted`` subtypes), ``reaction_added`` /
``reaction_removed`` and ``pin_added`` / ``pin_removed`` (Slack's event reference pages).
The bot's own messages (its ``bot_id``, its user id, or the outbox metadata it
attaches) are never a person's and are left out; so are Slack's system messages
(joins, topic changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.adapters.slack.transport import METADATA_EVENT
from bot.domain.report import ChangeKind, ChannelChange, ts_time
from bot.domain.text import slack_unescape

#: What the app subscribes to (the manifest's ``bot_events``).
SUBSCRIBED_EVENTS = (
    "message.channels",
    "message.groups",
    "reaction_added",
    "reaction_removed",
    "pin_added",
    "pin_removed",
)
#: Message subtypes that are a person saying something (others are Slack's notices).
PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})

Json = Mapping[str, Any]


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def is_from_bot(message: Json, bot_id: str | None, bot_user_id: str | None) -> bool:
    """A bot's message: ours (by ``bot_id``, user id or our metadata) or another app's."""
    if message.get("bot_id") or message.get("subtype") == "bot_message":
        return True
    if bot_user_id and message.get("user") == bot_user_id:
        return True
    metadata = message.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("event_type") == METADATA_EVENT


def channel_changes(
    event: Json, *, bot_id: str | None, bot_user_id: str | None
) -> list[ChannelChange]:
    """What ``event`` (the envelope's ``event``) changed about people's messages;
    empty for anything else (the bot's own messages, system messages, other events)."""
    kind = event.get("type")
    if kind == "message":
        return _message_changes(event, bot_id, bot_user_id)
    if kind in ("reaction_added", "reaction_removed"):
        return _reaction(event, bot_user_id)
    if kind in ("pin_added", "pin_removed"):
        return _pin(event, bot_id, bot_user_id)
    return []


def _message_changes(
    event: Json, bot_id: str | None, bot_user_id: str | None
) -> list[ChannelChange]:
    channel = _str(event.get("channel"))
    subtype = event.get("subtype")
    if channel is None:
        return []
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        deleted = _str(event.get("deleted_ts"))
        if deleted is None or is_from_bot(previous, bot_id, bot_user_id):
            return []
        at = ts_time(str(event.get("event_ts") or event.get("ts") or deleted))
        return [
            ChannelChange(
                ChangeKind.DELETED, channel, deleted, at, author=_str(previous.get("user"))
            )
        ]
    if subtype == "message_changed":
        message = event.get("message") or {}
        if (
            is_from_bot(message, bot_id, bot_user_id)
            or message.get("subtype") not in PERSON_SUBTYPES
        ):
            return []
        edited = message.get("edited") or {}
        # message_changed also reports changes that are not edits (a thread's reply
        # count, an unfurl): only an ``edited`` stamp makes it an edit.
        kind = ChangeKind.EDITED if edited.get("ts") else ChangeKind.POSTED
        return [_posted(message, channel, kind, edited.get("ts"))]
    if subtype not in PERSON_SUBTYPES or is_from_bot(event, bot_id, bot_user_id):
        return []
    return [_posted(event, channel, ChangeKind.POSTED, None)]


def _posted(message: Json, channel: str, kind: ChangeKind, edited_ts: object) -> ChannelChange:
    ts = str(message.get("ts"))
    return ChannelChange(
        kind,
        channel,
        ts,
        ts_time(str(edited_ts)) if edited_ts else ts_time(ts),
        user=_str(message.get("user")),
        author=_str(message.get("user")),
        text=slack_unescape(str(message.get("text") or "")),
        thread_ts=_str(message.get("thread_ts")),
    )


def _reaction(event: Json, bot_user_id: str | None) -> list[ChannelChange]:
    item = event.get("item") or {}
    if item.get("type") != "message" or (bot_user_id and event.get("item_user") == bot_user_id):
        return []
    channel, ts = _str(item.get("channel")), _str(item.get("ts"))
    if channel is None or ts is None:
        return []
    kind = ChangeKind.REACTED if event.get("type") == "reaction_added" else ChangeKind.UNREACTED
    return [
        ChannelChange(
            kind,
            channel,
            ts,
            ts_time(str(event.get("event_ts") or ts)),
            user=_str(event.get("user")),
            author=_str(event.get("item_user")),
            reaction=_str(event.get("reaction")),
        )
    ]


def _pin(event: Json, bot_id: str | None, bot_user_id: str | None) -> list[ChannelChange]:
    item = event.get("item") or {}
    message = item.get("message") or {}
    channel = _str(event.get("channel_id") or item.get("channel"))
    ts = _str(message.get("ts"))
    if item.get("type") != "message" or channel is None or ts is None:
        return []
    if is_from_bot(message, bot_id, bot_user_id):
        return []
    pinned = event.get("type") == "pin_added"
    return [
        ChannelChange(
            ChangeKind.PINNED if pinned else ChangeKind.UNPINNED,
            channel,
            ts,
            ts_time(str(event.get("event_ts") or ts)),
            user=_str(event.get("user")),
            author=_str(message.get("user")),
            text=slack_unescape(str(message.get("text") or "")) if pinned else None,
            thread_ts=_str(message.get("thread_ts")),
        )
    ]


def event_channel(event: Json) -> str | None:
    """The channel an event is about (for deciding whether the bot follows it)."""
    item = event.get("item")
    if isinstance(item, Mapping) and item.get("channel"):
        return str(item["channel"])
    return _str(event.get("channel_id") or event.get("channel"))
