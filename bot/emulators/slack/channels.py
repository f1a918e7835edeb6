"""Managing channels: ``conversations.create``/``setTopic``/``setPurpose``/``invite``/
``archive``/``unarchive``/``join``, with the arguments, answers and errors of Slack's
reference pages for each method."""

from __future__ import annotations

import secrets

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.conversations import channel_json
from bot.emulators.slack.records import Channel, Handler, JSONDict, _SlackError, _truthy
from bot.emulators.slack.validation import _check_channel_name, _str_arg
from bot.emulators.slack.workspace import Workspace

MAX_TOPIC_CHARS = 250
"""``too_long`` beyond this (``conversations.setTopic``/``setPurpose`` reference)."""


class ChannelMethods:
    def __init__(self, workspace: Workspace, actions: Actions) -> None:
        self._ws = workspace
        self._actions = actions

    def handlers(self) -> dict[str, Handler]:
        return {
            "conversations.create": self.create,
            "conversations.setTopic": self.set_topic,
            "conversations.setPurpose": self.set_purpose,
            "conversations.invite": self.invite,
            "conversations.archive": self.archive,
            "conversations.unarchive": self.unarchive,
            "conversations.join": self.join,
        }

    def _channel(self, args: JSONDict, method: str) -> Channel:
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), method)
        channel = ws.channel(channel_id)
        if channel is None:
            raise _SlackError("method_not_supported_for_channel_type")
        return channel

    def _managed(self, args: JSONDict, method: str) -> Channel:
        """A channel the bot may change: it exists for the bot, is open, the bot is in it."""
        channel = self._channel(args, method)
        self._ws.require_open(channel.id)
        self._ws.require_member(channel.id)
        return channel

    def create(self, args: JSONDict) -> JSONDict:
        """A new channel with the bot as creator and only member.

        Errors: ``restricted_action`` when the workspace refuses (``refuse``),
        ``missing_scope`` (``channels:manage``/``groups:write``), the name's
        ``invalid_name_*``, then ``name_taken`` (archived channels keep their names).
        """
        ws = self._ws
        is_private = _truthy(args.get("is_private"))
        ws.require_scope("conversations.create", "private" if is_private else "public")
        name = _check_channel_name(_str_arg(args, "name"))
        if any(channel.name == name for channel in ws.channels.values()):
            raise _SlackError("name_taken")
        channel = ws.add_channel(
            "C" + secrets.token_hex(5).upper(),
            name,
            members=[],
            is_private=is_private,
            creator=ws.bot_user_id,
        )
        self._actions.create_channel(channel)
        return {"channel": channel_json(ws, channel, num_members=False)}

    def _set_text(self, args: JSONDict, method: str, which: str) -> JSONDict:
        channel = self._managed(args, method)
        value = _str_arg(args, which) or ""
        if len(value) > MAX_TOPIC_CHARS:
            raise _SlackError("too_long")
        self._actions.set_text(channel, self._ws.bot_user_id, which, value)
        return {"channel": channel_json(self._ws, channel)}

    def set_topic(self, args: JSONDict) -> JSONDict:
        return self._set_text(args, "conversations.setTopic", "topic")

    def set_purpose(self, args: JSONDict) -> JSONDict:
        return self._set_text(args, "conversations.setPurpose", "purpose")

    def invite(self, args: JSONDict) -> JSONDict:
        """Invite a comma-separated list of users.

        Each refused user is reported in ``errors`` as ``{"user", "ok": false, "error"}``
        (``cant_invite_self``, ``user_not_found``, ``already_in_channel``); without
        ``force`` one refusal fails the whole call with the first error and nobody is
        invited. With ``force=true`` the others are invited and the call succeeds with the
        ``errors`` listed (it fails only when nobody could be invited).
        """
        ws = self._ws
        channel = self._managed(args, "conversations.invite")
        users = [u.strip() for u in (_str_arg(args, "users") or "").split(",") if u.strip()]
        if not users:
            raise _SlackError("no_user")
        errors: list[JSONDict] = []
        valid: list[str] = []
        for user in dict.fromkeys(users):
            error = self._invite_error(channel, user)
            if error is None:
                valid.append(user)
            else:
                errors.append({"user": user, "ok": False, "error": error})
        if errors and (not _truthy(args.get("force")) or not valid):
            raise _SlackError(errors[0]["error"], errors=errors)
        for user in valid:
            self._actions.join(channel, user, inviter=ws.bot_user_id)
        body: JSONDict = {"channel": channel_json(ws, channel)}
        if errors:
            body["errors"] = errors
        return body

    def _invite_error(self, channel: Channel, user: str) -> str | None:
        if user == self._ws.bot_user_id:
            return "cant_invite_self"
        if user not in self._ws.users:
            return "user_not_found"
        if user in channel.members:
            return "already_in_channel"
        return None

    def archive(self, args: JSONDict) -> JSONDict:
        channel = self._channel(args, "conversations.archive")
        if channel.is_archived:
            raise _SlackError("already_archived")
        self._ws.require_member(channel.id)
        self._actions.archive(channel, self._ws.bot_user_id)
        return {}

    def unarchive(self, args: JSONDict) -> JSONDict:
        channel = self._channel(args, "conversations.unarchive")
        if not channel.is_archived:
            raise _SlackError("not_archived")
        self._actions.archive(channel, self._ws.bot_user_id, archived=False)
        return {}

    def join(self, args: JSONDict) -> JSONDict:
        """The bot joins a public channel; already in it is ``ok`` with a warning."""
        ws = self._ws
        channel = self._channel(args, "conversations.join")
        if channel.is_private:
            raise _SlackError("method_not_supported_for_channel_type")
        ws.require_open(channel.id)
        body: JSONDict = {}
        if ws.bot_user_id in channel.members:
            body = {"warning": "already_in_channel"}
            body["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            self._actions.join(channel, ws.bot_user_id)
        return {"channel": channel_json(ws, channel), **body}
