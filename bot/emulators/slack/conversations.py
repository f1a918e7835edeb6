"""Reading conversations (``conversations.history``/``replies``/``info``/``members``/``open``)
and people (``auth.test``, ``users.info``, ``usergroups.users.list``)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from bot.emulators.slack.messages import message_json
from bot.emulators.slack.records import (
    Channel,
    Handler,
    JSONDict,
    StoredMessage,
    _SlackError,
    _truthy,
)
from bot.emulators.slack.scopes import ConversationKind
from bot.emulators.slack.validation import _page, _str_arg, _ts_key
from bot.emulators.slack.workspace import Workspace


@functools.lru_cache(maxsize=65536)
def _message_key(ts: str) -> tuple[int, int]:
    """A stored message's ts as a sortable key (parsed once: channels are read often)."""
    return _ts_key(ts)


def channel_json(ws: Workspace, channel: Channel, *, num_members: bool = True) -> JSONDict:
    """A channel as ``conversations.info``/``create`` describe it, seen by the bot."""
    info: JSONDict = {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "is_archived": channel.is_archived,
        "is_general": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "created": channel.created,
        "creator": channel.creator,
        "is_member": ws.bot_user_id in channel.members,
        "topic": channel.topic.to_slack(),
        "purpose": channel.purpose.to_slack(),
        "previous_names": [],
    }
    if num_members:
        info["num_members"] = len(channel.members)
    return info


class ConversationMethods:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def handlers(self) -> dict[str, Handler]:
        return {
            "auth.test": self.auth_test,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "conversations.info": self.info,
            "conversations.members": self.members,
            "conversations.list": self.list,
            "conversations.open": self.open,
            "users.info": self.users_info,
            "usergroups.users.list": self.usergroups_users_list,
        }

    def auth_test(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        return {
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.bot_name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def _messages_page(self, items: list[StoredMessage], args: JSONDict, limit: int) -> JSONDict:
        page, cursor = _page(items, args, default=limit, maximum=max(limit, 999))
        metadata = _truthy(args.get("include_all_metadata"))
        return {
            "messages": [message_json(self._ws, m, include_metadata=metadata) for m in page],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    @staticmethod
    def _window(args: JSONDict) -> Callable[[StoredMessage], bool]:
        """Whether a message is within ``oldest``/``latest`` (``inclusive``); the
        arguments are read once per call, not once per message."""
        inclusive = _truthy(args.get("inclusive"))
        oldest = _str_arg(args, "oldest")
        latest = _str_arg(args, "latest")
        low = _ts_key(oldest) if oldest is not None else None
        high = _ts_key(latest) if latest is not None else None

        def inside(message: StoredMessage) -> bool:
            key = _message_key(message.ts)
            if low is not None and (key < low or (key == low and not inclusive)):
                return False
            return high is None or not (key > high or (key == high and not inclusive))

        return inside

    def _readable(self, args: JSONDict, method: str) -> str:
        """The channel, if the bot may read it: a bot reads only where it is a member."""
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), method)
        ws.require_member(channel_id)
        return channel_id

    def history(self, args: JSONDict) -> JSONDict:
        """Newest first; thread replies only when broadcast; metadata only when asked
        (``include_all_metadata``); pages of ``limit`` (default 100, at most 999)."""
        ws = self._ws
        channel_id = self._readable(args, "conversations.history")
        inside = self._window(args)
        visible = [
            m
            for m in ws.messages.get(channel_id, [])
            if (not m.is_reply or m.reply_broadcast) and inside(m)
        ]
        visible.reverse()
        channel = ws.channel(channel_id)
        pins = len(channel.pins) if channel is not None else 0
        return {"pin_count": pins, **self._messages_page(visible, args, 100)}

    def replies(self, args: JSONDict) -> JSONDict:
        """A thread, parent first; pages of ``limit`` (default 1000)."""
        ws = self._ws
        channel_id = self._readable(args, "conversations.replies")
        message = ws.find_message(channel_id, _str_arg(args, "ts"))
        if message is None:
            raise _SlackError("thread_not_found")
        root = message.thread_ts or message.ts
        parent = ws.find_message(channel_id, root)
        everyone = ([parent] if parent is not None else []) + (
            ws.replies_to(parent) if parent is not None else [message]
        )
        inside = self._window(args)
        thread = [m for m in everyone if inside(m)]
        return self._messages_page(thread, args, 1000)

    def info(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), "conversations.info")
        channel = ws.channel(channel_id)
        if channel is None:
            return {"channel": {"id": channel_id, "is_im": True, "user": ws.dms[channel_id]}}
        wanted = _truthy(args.get("include_num_members"))
        return {"channel": channel_json(ws, channel, num_members=wanted)}

    def members(self, args: JSONDict) -> JSONDict:
        """Member ids in the order they joined; pages of ``limit`` (default 100)."""
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), "conversations.members")
        channel = ws.channel(channel_id)
        everyone = channel.members if channel is not None else [ws.dms[channel_id]]
        page, cursor = _page(list(everyone), args)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def list(self, args: JSONDict) -> JSONDict:
        """The workspace's conversations of ``types`` (default ``public_channel``) that the
        bot can see (private ones only where it is a member); ``exclude_archived``;
        pages of ``limit`` (default 100, at most 1000). Each type needs its ``*:read``."""
        ws = self._ws
        types = (_str_arg(args, "types") or "public_channel").split(",")
        kinds: dict[str, ConversationKind] = {
            "public_channel": "public",
            "private_channel": "private",
            "im": "im",
        }
        for kind in types:
            if kind in kinds:
                ws.require_scope("conversations.info", kinds[kind])
        skip_archived = _truthy(args.get("exclude_archived"))
        found: list[JSONDict] = []
        for channel in ws.channels.values():
            wanted = "private_channel" if channel.is_private else "public_channel"
            if wanted not in types or (skip_archived and channel.is_archived):
                continue
            if channel.is_private and ws.bot_user_id not in channel.members:
                continue
            found.append(channel_json(ws, channel))
        if "im" in types:
            found += [{"id": dm, "is_im": True, "user": user} for dm, user in ws.dms.items()]
        page, cursor = _page(found, args)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def open(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        ws.require_scope("conversations.open")
        users = [u for u in (_str_arg(args, "users") or "").split(",") if u]
        if not users:
            raise _SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise _SlackError("not_implemented")
        if users[0] not in ws.users:
            raise _SlackError("user_not_found")
        return {"channel": {"id": ws.resolve_channel(users[0])}}

    def users_info(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        ws.require_scope("users.info")
        user_id = _str_arg(args, "user")
        info = ws.users.get(user_id) if user_id is not None else None
        if user_id is None or info is None:
            raise _SlackError("user_not_found")
        return {"user": info.to_slack(user_id, ws.team_id)}

    def usergroups_users_list(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        ws.require_scope("usergroups.users.list")
        group = _str_arg(args, "usergroup")
        if group is None or group not in ws.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(ws.usergroups[group])}
