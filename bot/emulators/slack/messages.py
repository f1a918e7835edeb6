"""Message content as Slack checks it, and messages as Slack's JSON shows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.emulators.slack.records import MAX_TEXT_CHARS, JSONDict, StoredMessage, _SlackError
from bot.emulators.slack.validation import _json_list_arg, _validate_blocks
from bot.emulators.slack.workspace import Workspace

Content = tuple[str, list[JSONDict] | None, list[JSONDict] | None]


def has_content(args: Mapping[str, Any]) -> bool:
    return any(args.get(name) not in (None, "", []) for name in ("text", "blocks", "attachments"))


def content(args: JSONDict) -> Content:
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


def channel_type(ws: Workspace, channel_id: str) -> str:
    """``channel``, ``group`` or ``im``: the ``channel_type`` of message events."""
    return {"public": "channel", "private": "group", "im": "im"}[ws.kind(channel_id)]


def message_json(
    ws: Workspace, message: StoredMessage, *, include_metadata: bool = True, event: bool = False
) -> JSONDict:
    """A message as ``conversations.history`` (``event=False``) or a ``message`` event
    (``event=True``: with ``channel``, ``event_ts``, ``channel_type``; no thread summary,
    reactions or pins, which Slack sends as their own events) shows it."""
    body = _author_json(ws, message)
    if message.blocks is not None:
        body["blocks"] = message.blocks
    if message.attachments is not None:
        body["attachments"] = message.attachments
    if message.files:
        body["files"] = message.files
        body["upload"] = True
    if message.metadata is not None and include_metadata:
        body["metadata"] = message.metadata
    if message.edited_ts is not None:
        body["edited"] = {"user": message.edited_by or message.user, "ts": message.edited_ts}
    if message.thread_ts is not None:
        body["thread_ts"] = message.thread_ts
        if message.is_reply:
            parent = ws.find_message(message.channel, message.thread_ts)
            body["parent_user_id"] = parent.user if parent is not None else None
    if event:
        body.update(
            channel=message.channel,
            event_ts=message.ts,
            channel_type=channel_type(ws, message.channel),
        )
        return body
    _add_thread_summary(ws, message, body)
    if message.reactions:
        body["reactions"] = reactions_json(message)
    if message.pinned_to:
        body["pinned_to"] = list(message.pinned_to)
    return body


def _author_json(ws: Workspace, message: StoredMessage) -> JSONDict:
    body: JSONDict = {"type": "message"}
    if message.subtype is not None:
        body["subtype"] = message.subtype
    body.update(text=message.text, ts=message.ts)
    if message.user is not None:
        body["user"] = message.user
    if message.bot_id is not None:
        body.update(bot_id=message.bot_id, app_id=ws.app_id)
        body["bot_profile"] = {"id": message.bot_id, "name": ws.bot_name, "app_id": ws.app_id}
    body["team"] = ws.team_id
    body.update(message.extra)
    return body


def reactions_json(message: StoredMessage) -> list[JSONDict]:
    return [
        {"name": name, "users": list(users), "count": len(users)}
        for name, users in message.reactions.items()
    ]


def _add_thread_summary(ws: Workspace, message: StoredMessage, body: JSONDict) -> None:
    if message.is_reply:
        return
    replies = ws.replies_to(message)
    if not replies:
        return
    body["thread_ts"] = message.ts
    body["reply_count"] = len(replies)
    body["reply_users"] = sorted({m.user for m in replies if m.user is not None})
    body["reply_users_count"] = len(body["reply_users"])
    body["latest_reply"] = replies[-1].ts
