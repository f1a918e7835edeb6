"""``chat.*``: post, update, delete, ephemeral messages and permalinks."""

from __future__ import annotations

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.messages import content, has_content, message_json
from bot.emulators.slack.records import Handler, JSONDict, StoredMessage, _SlackError, _truthy
from bot.emulators.slack.validation import _metadata_arg, _str_arg
from bot.emulators.slack.workspace import Workspace


def _with_warning(body: JSONDict, warning: str | None) -> JSONDict:
    if warning is not None:
        body["warning"] = warning
        body["response_metadata"] = {"warnings": [warning]}
    return body


class ChatMethods:
    def __init__(self, workspace: Workspace, actions: Actions) -> None:
        self._ws = workspace
        self._actions = actions

    def handlers(self) -> dict[str, Handler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, args: JSONDict) -> JSONDict:
        """A message from the bot: stored, shown, and a ``message`` event with ``bot_id``.

        Refused as Slack does: ``channel_not_found``, ``is_archived``, ``not_in_channel``
        (a channel the bot is not in, unless public and ``chat:write.public`` is granted),
        then the content's errors and ``invalid_metadata_format``.
        """
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), "chat.postMessage")
        ws.require_can_post(channel_id)
        text, blocks, attachments = content(args)
        metadata, warning = _metadata_arg(args)
        thread_ts = _str_arg(args, "thread_ts")
        broadcast = thread_ts is not None and _truthy(args.get("reply_broadcast"))
        message = StoredMessage(
            channel=channel_id,
            ts=ws.next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            reply_broadcast=broadcast,
            metadata=metadata,
            subtype="thread_broadcast" if broadcast else None,
        )
        self._actions.post(message)
        body = {"channel": channel_id, "ts": message.ts, "message": message_json(ws, message)}
        return _with_warning(body, warning)

    def _own_message(self, args: JSONDict, method: str, cant: str) -> StoredMessage:
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), method)
        message = ws.message_at(args, channel_id=channel_id)
        if message.bot_id != ws.bot_id:
            raise _SlackError(cant)
        ws.require_open(channel_id)
        return message

    def update(self, args: JSONDict) -> JSONDict:
        """Edit the bot's message; blocks/attachments/metadata not passed are kept."""
        ws = self._ws
        message = self._own_message(args, "chat.update", "cant_update_message")
        if not has_content(args):
            raise _SlackError("no_text")
        merged = {
            "text": args.get("text", message.text),
            "blocks": args.get("blocks", message.blocks),
            "attachments": args.get("attachments", message.attachments),
        }
        text, blocks, attachments = content(merged)
        metadata, warning = _metadata_arg(args)
        if metadata is not None:
            message.metadata = metadata
        self._actions.edit(message, text, blocks, attachments, by=ws.bot_user_id)
        body = {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message_json(ws, message),
        }
        return _with_warning(body, warning)

    def delete(self, args: JSONDict) -> JSONDict:
        message = self._own_message(args, "chat.delete", "cant_delete_message")
        self._actions.delete(message)
        return {"channel": message.channel, "ts": message.ts}

    def post_ephemeral(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.bot_conversation(_str_arg(args, "channel"), "chat.postEphemeral")
        ws.require_can_post(channel_id)
        user = _str_arg(args, "user")
        if user is None:
            raise _SlackError("user_not_found")
        if not ws.is_member(channel_id, user):
            raise _SlackError("user_not_in_channel")
        text, blocks, attachments = content(args)
        message = StoredMessage(
            channel=channel_id,
            ts=ws.next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=_str_arg(args, "thread_ts"),
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            visible_to=user,
        )
        ws.ephemerals.append(message)
        ws.emit("ephemeral", message)
        return {"message_ts": message.ts}

    def get_permalink(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        message = ws.message_at(args, channel_id=channel_id, ts_arg="message_ts")
        link = (
            f"https://{ws.team_domain}.slack.com/archives/{channel_id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel_id}"
        return {"channel": channel_id, "permalink": link}
