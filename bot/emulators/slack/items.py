"""Things attached to messages and channels: ``pins.*``, ``reactions.*``, ``bookmarks.*``."""

from __future__ import annotations

import re
import secrets
import string

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.messages import message_json
from bot.emulators.slack.records import Channel, Handler, JSONDict, StoredMessage, _SlackError
from bot.emulators.slack.validation import _str_arg
from bot.emulators.slack.workspace import Workspace

_EMOJI_NAME = re.compile(r"^[a-z0-9_+'-]+(::skin-tone-[2-6])?$")
_EMOJI_TAG = re.compile(r"^:[a-z0-9_+'-]+:$")


class ItemMethods:
    def __init__(self, workspace: Workspace, actions: Actions) -> None:
        self._ws = workspace
        self._actions = actions

    def handlers(self) -> dict[str, Handler]:
        return {
            "pins.add": self.pins_add,
            "pins.remove": self.pins_remove,
            "pins.list": self.pins_list,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "reactions.get": self.reactions_get,
            "bookmarks.add": self.bookmarks_add,
            "bookmarks.list": self.bookmarks_list,
        }

    def _channel(self, value: str | None, method: str) -> Channel:
        ws = self._ws
        channel = ws.channel(ws.bot_conversation(value, method))
        if channel is None:
            raise _SlackError("channel_not_found")
        return channel

    def _item(self, args: JSONDict, method: str) -> tuple[Channel, StoredMessage]:
        """The message named by ``channel`` + ``timestamp`` (``no_item_specified`` without)."""
        channel = self._channel(_str_arg(args, "channel"), method)
        if _str_arg(args, "timestamp") is None:
            raise _SlackError("no_item_specified")
        return channel, self._ws.message_at(args, channel_id=channel.id, ts_arg="timestamp")

    # ---------------------------------------------------------------- pins

    def pins_add(self, args: JSONDict) -> JSONDict:
        """Pin a message: ``already_pinned``, ``not_pinnable`` (Slack's own messages),
        ``is_archived``, ``not_in_channel``; then a ``pin_added`` event."""
        channel, message = self._item(args, "pins.add")
        self._ws.require_open(channel.id)
        self._ws.require_member(channel.id)
        self._actions.pin(channel, message, self._ws.bot_user_id)
        return {}

    def pins_remove(self, args: JSONDict) -> JSONDict:
        channel, message = self._item(args, "pins.remove")
        self._ws.require_open(channel.id)
        self._ws.require_member(channel.id)
        self._actions.unpin(channel, message, self._ws.bot_user_id)
        return {}

    def pins_list(self, args: JSONDict) -> JSONDict:
        """Every pin, the latest first (Slack does not paginate this method)."""
        ws = self._ws
        channel = self._channel(_str_arg(args, "channel"), "pins.list")
        items: list[JSONDict] = []
        for pin in reversed(channel.pins):
            message = ws.find_message(channel.id, pin.ts)
            if message is None:
                continue
            items.append(
                {
                    "type": "message",
                    "channel": channel.id,
                    "message": message_json(ws, message),
                    "created": pin.created,
                    "created_by": pin.created_by,
                }
            )
        return {"items": items}

    # ---------------------------------------------------------------- reactions

    def _reaction(self, args: JSONDict, method: str) -> tuple[StoredMessage, str]:
        name = _str_arg(args, "name")
        if name is None or not _EMOJI_NAME.match(name):
            raise _SlackError("invalid_name")
        channel, message = self._item(args, method)
        self._ws.require_open(channel.id)
        return message, name

    def reactions_add(self, args: JSONDict) -> JSONDict:
        """The bot reacts: ``invalid_name`` (a name, without colons), ``already_reacted``."""
        message, name = self._reaction(args, "reactions.add")
        self._actions.react(message, self._ws.bot_user_id, name)
        return {}

    def reactions_remove(self, args: JSONDict) -> JSONDict:
        message, name = self._reaction(args, "reactions.remove")
        self._actions.unreact(message, self._ws.bot_user_id, name)
        return {}

    def reactions_get(self, args: JSONDict) -> JSONDict:
        channel, message = self._item(args, "reactions.get")
        return {
            "type": "message",
            "channel": channel.id,
            "message": message_json(self._ws, message),
        }

    # ---------------------------------------------------------------- bookmarks

    def bookmarks_add(self, args: JSONDict) -> JSONDict:
        """A link bookmark: ``invalid_bookmark_type`` (only ``link``), ``invalid_link``
        (not ``http(s)://``), ``invalid_emoji`` (not ``:name:``), ``invalid_arguments``
        without a title."""
        ws = self._ws
        channel = self._channel(_str_arg(args, "channel_id"), "bookmarks.add")
        title = _str_arg(args, "title")
        link = _str_arg(args, "link") or ""
        emoji = _str_arg(args, "emoji")
        if title is None:
            raise _SlackError("invalid_arguments")
        if _str_arg(args, "type") != "link":
            raise _SlackError("invalid_bookmark_type")
        if not link.startswith(("http://", "https://")):
            raise _SlackError("invalid_link")
        if emoji is not None and not _EMOJI_TAG.match(emoji):
            raise _SlackError("invalid_emoji")
        ws.require_open(channel.id)
        bookmark: JSONDict = {
            "id": "Bk" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(10)),
            "channel_id": channel.id,
            "title": title,
            "link": link,
            "emoji": emoji,
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": ws.now(),
            "date_updated": 0,
            "rank": string.ascii_lowercase[len(channel.bookmarks) % 26],
            "last_updated_by_user_id": ws.bot_user_id,
            "last_updated_by_team_id": ws.team_id,
            "shortcut_id": None,
            "app_id": ws.app_id,
        }
        channel.bookmarks.append(bookmark)
        return {"bookmark": dict(bookmark)}

    def bookmarks_list(self, args: JSONDict) -> JSONDict:
        channel = self._channel(_str_arg(args, "channel_id"), "bookmarks.list")
        return {"bookmarks": [dict(b) for b in channel.bookmarks]}
