"""``response_url``: what Bolt's ``respond()`` posts, and what Slack does with it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.messages import content, has_content
from bot.emulators.slack.records import (
    _RESPONSE_PATH,
    RecordedResponse,
    StoredMessage,
    _Fault,
    _ResponseTarget,
    _SlackError,
    _truthy,
)
from bot.emulators.slack.validation import _str_arg
from bot.emulators.slack.workspace import Workspace


class ResponseUrls:
    def __init__(self, workspace: Workspace, actions: Actions) -> None:
        self._ws = workspace
        self._actions = actions
        self.responses: list[RecordedResponse] = []
        self._targets: dict[str, _ResponseTarget] = {}

    def url(
        self,
        base_url: str,
        tag: str,
        *,
        channel: str | None,
        user: str | None,
        message_ts: str | None,
        thread_ts: str | None,
    ) -> str:
        channel_id = self._ws.resolve_channel(channel) if channel is not None else None
        self._targets[tag] = _ResponseTarget(channel_id, user, message_ts, thread_ts)
        return f"{base_url}{_RESPONSE_PATH}{quote(tag, safe='')}"

    async def handle(self, request: web.Request, tag: str, fault: _Fault | None) -> web.Response:
        raw = await request.text()
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = None
        if fault is not None:
            status, error = fault.status, fault.error or "internal_error"
        elif not isinstance(payload, dict):
            status, error = 400, "invalid_payload"
        elif not has_content(payload) and not _truthy(payload.get("delete_original")):
            status, error = 400, "no_text"
        else:
            status, error = 200, ""
        record = RecordedResponse(
            tag, payload if isinstance(payload, dict) else {"raw": raw}, status
        )
        self.responses.append(record)
        if status == 200:
            self._apply(record)
            return web.json_response({"ok": True})
        return web.Response(status=status, text=error, content_type="text/plain")

    def _apply(self, record: RecordedResponse) -> None:
        ws = self._ws
        target = self._targets.get(record.tag)
        if target is None or target.channel is None:
            self._emit_response_only(record)
            return
        original = ws.find_message(target.channel, target.message_ts)
        if record.delete_original and original is not None:
            self._actions.delete(original, tag=record.tag)
            return
        try:
            text, blocks, attachments = content(dict(record.payload))
        except _SlackError:
            return
        if record.replace_original and original is not None:
            by = ws.bot_user_id
            self._actions.edit(original, text, blocks, attachments, by=by, tag=record.tag)
            return
        thread_ts = _str_arg(record.payload, "thread_ts") or target.thread_ts
        message = StoredMessage(
            channel=target.channel,
            ts=ws.next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
        )
        if record.response_type == "in_channel":
            self._actions.post(message, kind="response", tag=record.tag)
            return
        message.visible_to = target.user
        ws.ephemerals.append(message)
        ws.emit("response", message, record.tag)

    def _emit_response_only(self, record: RecordedResponse) -> None:
        if self._ws.on_event is None:
            return
        placeholder = StoredMessage(
            channel="",
            ts="",
            text=record.text,
            blocks=record.blocks,
            user=self._ws.bot_user_id,
            bot_id=self._ws.bot_id,
        )
        self._ws.emit("response", placeholder, record.tag)
