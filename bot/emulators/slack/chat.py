"""``chat.*``: post, update, delete, ephemeral messages and permalinks."""

from __future__ import annotations

from bot.emulators.slack.records import Handler, JSONDict, StoredMessage, _SlackError, _truthy
from bot.emulators.slack.validation import _str_arg
from bot.emulators.slack.workspace import Workspace


class ChatMethods:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def handlers(self) -> dict[str, Handler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        text, blocks, attachments = ws.content(args)
        metadata = args.get("metadata")
        message = StoredMessage(
            channel=channel_id,
            ts=ws.next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=_str_arg(args, "thread_ts"),
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            reply_broadcast=_truthy(args.get("reply_broadcast")),
            metadata=metadata if isinstance(metadata, dict) else None,
        )
        ws.store_message(message)
        ws.emit("post", message)
        return {"channel": channel_id, "ts": message.ts, "message": ws.message_json(message)}

    def update(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        message = ws.own_message(args, "cant_update_message")
        if not ws.has_content(args):
            raise _SlackError("no_text")
        # Slack keeps the previous blocks/attachments unless the call passes new ones.
        merged = {
            "text": args.get("text", message.text),
            "blocks": args.get("blocks", message.blocks),
            "attachments": args.get("attachments", message.attachments),
        }
        text, blocks, attachments = ws.content(merged)
        ws.edit(message, text, blocks, attachments)
        ws.emit("update", message)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": ws.message_json(message),
        }

    def delete(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        message = ws.own_message(args, "cant_delete_message")
        ws.remove_message(message)
        ws.emit("delete", message)
        return {"channel": message.channel, "ts": message.ts}

    def post_ephemeral(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        channel_id = ws.resolve_channel(_str_arg(args, "channel"))
        user = _str_arg(args, "user")
        if user is None:
            raise _SlackError("user_not_found")
        if ws.users and user not in ws.users:
            raise _SlackError("user_not_in_channel")
        text, blocks, attachments = ws.content(args)
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
        message = ws.find_message(channel_id, _str_arg(args, "message_ts"))
        if message is None:
            raise _SlackError("message_not_found")
        link = (
            f"https://{ws.team_domain}.slack.com/archives/{channel_id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel_id}"
        return {"channel": channel_id, "permalink": link}
