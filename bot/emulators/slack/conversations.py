"""Reading conversations (``conversations.history``/``replies``/``info``/``open``) and people
(``auth.test``, ``users.info``, ``usergroups.users.list``)."""

from __future__ import annotations

from bot.emulators.slack.records import Handler, JSONDict, StoredMessage, _SlackError, _truthy
from bot.emulators.slack.validation import (
    _decode_cursor,
    _encode_cursor,
    _int_arg,
    _str_arg,
    _ts_key,
)
from bot.emulators.slack.workspace import Workspace


class ConversationMethods:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def handlers(self) -> dict[str, Handler]:
        return {
            "auth.test": self.auth_test,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "conversations.info": self.info,
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

    def _page(self, items: list[StoredMessage], args: JSONDict) -> JSONDict:
        limit = max(1, min(_int_arg(args, "limit", 100), 999))
        offset = _decode_cursor(_str_arg(args, "cursor"))
        page = items[offset : offset + limit]
        has_more = offset + limit < len(items)
        return {
            "messages": [self._ws.message_json(m) for m in page],
            "has_more": has_more,
            "response_metadata": {
                "next_cursor": _encode_cursor(offset + limit) if has_more else ""
            },
        }

    @staticmethod
    def _in_window(message: StoredMessage, args: JSONDict) -> bool:
        inclusive = _truthy(args.get("inclusive"))
        key = _ts_key(message.ts)
        oldest = _str_arg(args, "oldest")
        latest = _str_arg(args, "latest")
        if oldest is not None:
            low = _ts_key(oldest)
            if key < low or (key == low and not inclusive):
                return False
        if latest is not None:
            high = _ts_key(latest)
            if key > high or (key == high and not inclusive):
                return False
        return True

    def history(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        visible = [
            m
            for m in ws.messages.get(channel_id, [])
            if (not m.is_reply or m.reply_broadcast) and self._in_window(m, args)
        ]
        visible.reverse()  # newest first
        return {"pin_count": 0, **self._page(visible, args)}

    def replies(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        message = ws.find_message(channel_id, _str_arg(args, "ts"))
        if message is None:
            raise _SlackError("thread_not_found")
        root = message.thread_ts or message.ts
        thread = [
            m
            for m in ws.messages.get(channel_id, [])
            if (m.ts == root or m.thread_ts == root) and self._in_window(m, args)
        ]
        return self._page(thread, args)

    def info(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        is_im = channel_id in ws.dms
        info: JSONDict = {"id": channel_id, "is_im": is_im, "is_channel": not is_im}
        if is_im:
            info["user"] = ws.dms[channel_id]
        else:
            info.update(name=ws.channels[channel_id], is_member=True, is_archived=False)
        return {"channel": info}

    def open(self, args: JSONDict) -> JSONDict:
        ws = self._ws
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
        user_id = _str_arg(args, "user")
        info = ws.users.get(user_id) if user_id is not None else None
        if user_id is None or info is None:
            raise _SlackError("user_not_found")
        return {"user": info.to_slack(user_id, ws.team_id)}

    def usergroups_users_list(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        group = _str_arg(args, "usergroup")
        if group is None or group not in ws.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(ws.usergroups[group])}
