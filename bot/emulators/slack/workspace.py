"""The Slack workspace the emulator serves: people, channels, messages, scopes and the clock.

Every API method module reads and changes this one object; the HTTP server only routes
calls to them. Everything runs on one event loop, so there is no locking.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from bot.emulators.slack.records import (
    Channel,
    EmulatorEvent,
    EventKind,
    JSONDict,
    SlackUserInfo,
    StoredMessage,
    _SlackError,
)
from bot.emulators.slack.render import Directory, render_for_people
from bot.emulators.slack.scopes import (
    POST_TO_PUBLIC_WITHOUT_JOINING,
    ConversationKind,
    all_scopes,
    needed_scopes,
)
from bot.emulators.slack.validation import _str_arg

log = logging.getLogger(__name__)


class Workspace:
    """One team, its bot, its members, channels, DMs and what was said in them.

    A method may name a channel by id, by name or by ``#name`` (Slack accepts names in
    ``chat.postMessage`` and answers with the id). Posting to a known user id opens a DM
    channel ``D<user id>``.
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
        usergroups: Mapping[str, Sequence[str]] | None = None,
        on_event: Callable[[EmulatorEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        scopes: Iterable[str] | None = None,
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
        self.scopes: frozenset[str] = all_scopes() if scopes is None else frozenset(scopes)
        self.refusals: dict[str, str] = {}
        """Method -> the error it answers every time (a workspace preference)."""
        self.users: dict[str, SlackUserInfo] = dict(users or {})
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.usergroup_handles: dict[str, str] = {}
        self.dms: dict[str, str] = {}
        self.messages: dict[str, list[StoredMessage]] = {}
        # Indexes over ``messages`` (kept by store/remove_message), so a channel of
        # thousands of messages is read as fast as Slack reads it.
        self._by_ts: dict[tuple[str, str], StoredMessage] = {}
        self._replies: dict[tuple[str, str], list[StoredMessage]] = {}
        self.ephemerals: list[StoredMessage] = []
        self._last_ts = 0

    # ---------------------------------------------------------------- time and people

    def next_ts(self) -> str:
        """A message ``ts`` from the clock, strictly increasing even when the clock stands."""
        micros = int(self.clock() * 1_000_000)
        if micros <= self._last_ts:
            micros = self._last_ts + 1
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def now(self) -> int:
        return int(self.clock())

    def add_user(self, user_id: str, info: SlackUserInfo) -> None:
        """A new member; they are in every channel declared without a member list."""
        self.users[user_id] = info
        for channel in self.channels.values():
            if channel.everyone and user_id not in channel.members:
                channel.members.append(user_id)

    def user_name(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        if user_id == self.bot_user_id:
            return self.bot_name
        info = self.users.get(user_id)
        return info.name if info is not None else None

    def directory(self) -> Directory:
        users = {uid: info.name for uid, info in self.users.items()}
        users[self.bot_user_id] = self.bot_name
        return Directory(
            users=users,
            channels={cid: c.name for cid, c in self.channels.items()},
            usergroups=dict(self.usergroup_handles),
        )

    # ---------------------------------------------------------------- channels

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] | None = None,
        bot_is_member: bool = True,
        is_private: bool = False,
        creator: str = "",
    ) -> Channel:
        """A channel; without ``members`` every workspace member (now and later) is in it."""
        listed = list(self.users) if members is None else list(dict.fromkeys(members))
        if bot_is_member and self.bot_user_id not in listed:
            listed.insert(0, self.bot_user_id)
        channel = Channel(
            id=channel_id,
            name=name.lstrip("#"),
            is_private=is_private,
            members=listed,
            created=self.now(),
            creator=creator,
            everyone=members is None,
        )
        self.channels[channel_id] = channel
        return channel

    def channel(self, channel_id: str) -> Channel | None:
        return self.channels.get(channel_id)

    def resolve_channel(self, value: str | None) -> str:
        """A channel id from an id, a name, ``#name`` or a user id (its DM)."""
        if not value:
            raise _SlackError("channel_not_found")
        if value in self.channels or value in self.dms:
            return value
        name = value.lstrip("#")
        for channel_id, channel in self.channels.items():
            if channel.name == name:
                return channel_id
        if value in self.users:
            dm_id = f"D{value}"
            self.dms[dm_id] = value
            return dm_id
        raise _SlackError("channel_not_found")

    def channel_name(self, channel_id: str) -> str | None:
        if channel_id in self.channels:
            return self.channels[channel_id].name
        user_id = self.dms.get(channel_id)
        if user_id is None:
            return None
        user = self.users.get(user_id)
        return f"@{user.name if user else user_id}"

    def kind(self, channel_id: str) -> ConversationKind:
        channel = self.channels.get(channel_id)
        if channel is None:
            return "im"
        return "private" if channel.is_private else "public"

    def is_member(self, channel_id: str, user_id: str) -> bool:
        channel = self.channels.get(channel_id)
        if channel is None:
            return self.dms.get(channel_id) == user_id or user_id == self.bot_user_id
        return user_id in channel.members

    # ---------------------------------------------------------------- what the bot may do

    def bot_conversation(self, value: str | None, method: str) -> str:
        """The channel id ``value`` names, as the bot's token sees it, with ``method``'s scope.

        A private channel the bot is not in does not exist for it (``channel_not_found``,
        as Slack answers); then the scope for the conversation's kind (``missing_scope``).
        """
        channel_id = self.resolve_channel(value)
        channel = self.channels.get(channel_id)
        if (
            channel is not None
            and channel.is_private
            and not self.is_member(channel_id, self.bot_user_id)
        ):
            raise _SlackError("channel_not_found")
        self.require_scope(method, self.kind(channel_id))
        return channel_id

    def require_scope(self, method: str, kind: ConversationKind | None = None) -> None:
        """``missing_scope`` with Slack's ``needed``/``provided`` fields, unless granted."""
        refusal = self.refusals.get(method)
        if refusal is not None:
            raise _SlackError(refusal)
        needed = needed_scopes(method, kind)
        if needed and not self.scopes.intersection(needed):
            raise _SlackError(
                "missing_scope", needed=needed[0], provided=",".join(sorted(self.scopes))
            )

    def require_member(self, channel_id: str) -> Channel | None:
        """``not_in_channel`` unless the bot is in the channel (a DM always counts)."""
        channel = self.channels.get(channel_id)
        if channel is not None and self.bot_user_id not in channel.members:
            raise _SlackError("not_in_channel")
        return channel

    def require_open(self, channel_id: str) -> None:
        channel = self.channels.get(channel_id)
        if channel is not None and channel.is_archived:
            raise _SlackError("is_archived")

    def require_can_post(self, channel_id: str) -> None:
        """Slack's order for ``chat.postMessage``: archived, then membership.

        A bot may post into a public channel it is not in only with ``chat:write.public``.
        """
        self.require_open(channel_id)
        channel = self.channels.get(channel_id)
        if channel is None or self.bot_user_id in channel.members:
            return
        if channel.is_private or POST_TO_PUBLIC_WITHOUT_JOINING not in self.scopes:
            raise _SlackError("not_in_channel")

    # ---------------------------------------------------------------- messages

    def find_message(self, channel_id: str, ts: str | None) -> StoredMessage | None:
        if ts is None:
            return None
        return self._by_ts.get((channel_id, ts))

    def message_at(self, args: JSONDict, *, channel_id: str, ts_arg: str = "ts") -> StoredMessage:
        message = self.find_message(channel_id, _str_arg(args, ts_arg))
        if message is None:
            raise _SlackError("message_not_found")
        return message

    def store_message(self, message: StoredMessage) -> None:
        self.messages.setdefault(message.channel, []).append(message)
        self._by_ts[(message.channel, message.ts)] = message
        if message.is_reply and message.thread_ts is not None:
            self._replies.setdefault((message.channel, message.thread_ts), []).append(message)

    def remove_message(self, message: StoredMessage) -> None:
        self.messages[message.channel].remove(message)
        self._by_ts.pop((message.channel, message.ts), None)
        if message.is_reply and message.thread_ts is not None:
            replies = self._replies.get((message.channel, message.thread_ts), [])
            if message in replies:
                replies.remove(message)

    def replies_to(self, message: StoredMessage) -> list[StoredMessage]:
        """The replies in ``message``'s thread, oldest first."""
        return list(self._replies.get((message.channel, message.ts), []))

    def emit(
        self,
        kind: EventKind,
        message: StoredMessage,
        tag: str | None = None,
        *,
        actor: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Tell the observer (the demo's transcript) what a person would have seen."""
        if self.on_event is None:
            return
        display = render_for_people(message.blocks, message.text, self.directory())
        if kind in ("update", "response") and message.edited_ts is not None:
            display += " (edited)"
        for shared in message.files:  # an upload shows its files under the comment
            line = f"[file: {shared.get('title') or shared.get('name')}]"
            display = f"{display}\n{line}" if display else line
        user = actor or message.user
        event = EmulatorEvent(
            kind=kind,
            channel=message.channel or None,
            channel_name=self.channel_name(message.channel),
            user=user,
            is_bot=message.is_bot if actor is None else actor == self.bot_user_id,
            text=message.text,
            blocks=message.blocks,
            ts=message.ts,
            thread_ts=message.thread_ts,
            visible_to=message.visible_to,
            tag=tag,
            display=display,
            user_name=self.user_name(user),
            detail=detail,
        )
        try:
            self.on_event(event)
        except Exception:
            log.exception("Slack emulator: on_event observer failed")
