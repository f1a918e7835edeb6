"""The Slack workspace the emulator serves: people, channels, messages and the clock.

Every API method module reads and changes this one object; the HTTP server only routes
calls to them. Everything runs on one event loop, so there is no locking.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.emulators.slack.records import (
    MAX_TEXT_CHARS,
    EmulatorEvent,
    EventKind,
    JSONDict,
    MessageVersion,
    SlackUserInfo,
    StoredMessage,
    _SlackError,
)
from bot.emulators.slack.validation import _json_list_arg, _str_arg, _validate_blocks

log = logging.getLogger(__name__)


class Workspace:
    """One team, its bot, its members, channels, DMs and what was said in them.

    Channels are given as ``{id: name}``; a method may name a channel by id, by name or by
    ``#name`` (Slack accepts names in ``chat.postMessage`` and answers with the id). Posting
    to a known user id opens a DM channel ``D<user id>``.
    """

    def __init__(
        self,
        *,
        team_id: str,
        team_name: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        bot_name: str,
        app_id: str,
        users: Mapping[str, SlackUserInfo] | None = None,
        channels: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        on_event: Callable[[EmulatorEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.on_event = on_event
        self.clock = clock
        self.users: dict[str, SlackUserInfo] = dict(users or {})
        self.channels: dict[str, str] = dict(channels or {})
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.dms: dict[str, str] = {}
        self.messages: dict[str, list[StoredMessage]] = {}
        self.ephemerals: list[StoredMessage] = []
        self._last_ts = 0

    # ---------------------------------------------------------------- time and names

    def next_ts(self) -> str:
        """A message ``ts`` from the clock, strictly increasing even when the clock stands."""
        micros = int(self.clock() * 1_000_000)
        if micros <= self._last_ts:
            micros = self._last_ts + 1
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def resolve_channel(self, value: str | None) -> str:
        """A channel id from an id, a name, ``#name`` or a user id (its DM)."""
        if not value:
            raise _SlackError("channel_not_found")
        if value in self.channels or value in self.dms:
            return value
        name = value.lstrip("#")
        for channel_id, channel_name in self.channels.items():
            if channel_name == name:
                return channel_id
        if value in self.users:
            dm_id = f"D{value}"
            self.dms[dm_id] = value
            return dm_id
        raise _SlackError("channel_not_found")

    def channel_name(self, channel_id: str) -> str | None:
        if channel_id in self.channels:
            return self.channels[channel_id]
        user_id = self.dms.get(channel_id)
        if user_id is None:
            return None
        user = self.users.get(user_id)
        return f"@{user.name if user else user_id}"

    # ---------------------------------------------------------------- messages

    def find_message(self, channel_id: str, ts: str | None) -> StoredMessage | None:
        if ts is None:
            return None
        return next((m for m in self.messages.get(channel_id, []) if m.ts == ts), None)

    def store_message(self, message: StoredMessage) -> None:
        self.messages.setdefault(message.channel, []).append(message)

    def remove_message(self, message: StoredMessage) -> None:
        self.messages[message.channel].remove(message)

    def replies_to(self, message: StoredMessage) -> list[StoredMessage]:
        return [
            m
            for m in self.messages.get(message.channel, [])
            if m.is_reply and m.thread_ts == message.ts
        ]

    def edit(
        self,
        message: StoredMessage,
        text: str,
        blocks: list[JSONDict] | None,
        attachments: list[JSONDict] | None,
    ) -> None:
        """Replace a message's content, keeping the old version in ``message.edits``."""
        message.edits.append(
            MessageVersion(message.text, message.blocks, message.attachments, message.edited_ts)
        )
        message.text = text
        message.blocks = blocks
        message.attachments = attachments
        message.edited_ts = self.next_ts()

    def emit(self, kind: EventKind, message: StoredMessage, tag: str | None = None) -> None:
        """Tell the observer (the demo's transcript) what a person would have seen."""
        if self.on_event is None:
            return
        event = EmulatorEvent(
            kind=kind,
            channel=message.channel or None,
            channel_name=self.channel_name(message.channel),
            user=message.user,
            is_bot=message.is_bot,
            text=message.text,
            blocks=message.blocks,
            ts=message.ts,
            thread_ts=message.thread_ts,
            visible_to=message.visible_to,
            tag=tag,
        )
        try:
            self.on_event(event)
        except Exception:
            log.exception("Slack emulator: on_event observer failed")

    # ---------------------------------------------------------------- content

    @staticmethod
    def has_content(args: Mapping[str, Any]) -> bool:
        return any(
            args.get(name) not in (None, "", []) for name in ("text", "blocks", "attachments")
        )

    @staticmethod
    def content(args: JSONDict) -> tuple[str, list[JSONDict] | None, list[JSONDict] | None]:
        """Validated text, blocks and attachments of a message-posting call.

        Errors as Slack's: ``no_text``, ``msg_too_long`` (over 40,000 characters),
        ``invalid_blocks`` (with the reasons in ``response_metadata.messages``),
        ``invalid_blocks_format``, ``invalid_attachments``.
        """
        blocks = _json_list_arg(args, "blocks", "invalid_blocks_format")
        attachments = _json_list_arg(args, "attachments", "invalid_attachments")
        text = args.get("text")
        text = "" if text is None else str(text)
        if not text and not blocks and not attachments:
            raise _SlackError("no_text")
        if len(text) > MAX_TEXT_CHARS:
            raise _SlackError("msg_too_long")
        if blocks is not None:
            errors = _validate_blocks(blocks)
            if errors:
                raise _SlackError("invalid_blocks", response_metadata={"messages": errors})
        return text, blocks, attachments

    def message_json(self, message: StoredMessage) -> JSONDict:
        """A message as ``conversations.history`` and ``chat.postMessage`` show it."""
        body: JSONDict = {"type": "message", "text": message.text, "ts": message.ts}
        if message.user is not None:
            body["user"] = message.user
        if message.bot_id is not None:
            body.update(bot_id=message.bot_id, app_id=self.app_id)
            body["bot_profile"] = {
                "id": message.bot_id,
                "name": self.bot_name,
                "app_id": self.app_id,
            }
        body["team"] = self.team_id
        if message.blocks is not None:
            body["blocks"] = message.blocks
        if message.attachments is not None:
            body["attachments"] = message.attachments
        if message.files:
            body["files"] = message.files
            body["upload"] = True
        if message.metadata is not None:
            body["metadata"] = message.metadata
        if message.edited_ts is not None:
            body["edited"] = {"user": message.user, "ts": message.edited_ts}
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
            if message.is_reply:
                parent = self.find_message(message.channel, message.thread_ts)
                body["parent_user_id"] = parent.user if parent is not None else None
        self._add_thread_summary(message, body)
        return body

    def _add_thread_summary(self, message: StoredMessage, body: JSONDict) -> None:
        if message.is_reply:
            return
        replies = self.replies_to(message)
        if not replies:
            return
        body["thread_ts"] = message.ts
        body["reply_count"] = len(replies)
        body["reply_users"] = sorted({m.user for m in replies if m.user is not None})
        body["reply_users_count"] = len(body["reply_users"])
        body["latest_reply"] = replies[-1].ts

    def own_message(self, args: JSONDict, cant: str) -> StoredMessage:
        """The bot's own message named by ``channel`` + ``ts``; ``cant`` when it is not."""
        channel_id = self.resolve_channel(_str_arg(args, "channel"))
        message = self.find_message(channel_id, _str_arg(args, "ts"))
        if message is None:
            raise _SlackError("message_not_found")
        if message.bot_id != self.bot_id:
            raise _SlackError(cant)
        return message
