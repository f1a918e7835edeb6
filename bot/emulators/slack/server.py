"""A Slack Web API emulator on loopback for tests and the demo.

The real ``slack_sdk`` client talks to it over HTTP (pass :attr:`SlackEmulator.api_url` as
``base_url``). It answers the way Slack does, errors included: ``ok: false`` bodies with
Slack's error codes on HTTP 200, ``429`` with ``Retry-After`` when told to rate limit, and
``5xx`` when told to fail. Every call is recorded; messages, ephemerals, ``response_url``
posts and file uploads are kept so tests can assert what a user would have seen.

Everything runs on the event loop that started the emulator; there is no locking.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from bot.emulators.slack.records import (
    _RESPONSE_PATH,
    _UPLOAD_PATH,
    MAX_TEXT_CHARS,
    EmulatorEvent,
    EventKind,
    JSONDict,
    MessageVersion,
    RecordedCall,
    RecordedResponse,
    SlackUserInfo,
    StoredMessage,
    StoredUpload,
    _Fault,
    _ResponseTarget,
    _SlackError,
    _truthy,
)
from bot.emulators.slack.socket_mode import SocketModeGateway
from bot.emulators.slack.validation import (
    _decode_cursor,
    _encode_cursor,
    _int_arg,
    _json_list_arg,
    _str_arg,
    _ts_key,
    _validate_blocks,
)

log = logging.getLogger(__name__)

# Methods Slack authenticates with the app-level (xapp-) token, not the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

# --------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------


Handler = Callable[[JSONDict], JSONDict]


class SlackEmulator:
    """Slack's Web API (the methods the bot uses), served by aiohttp on loopback.

    Channels are given as ``{id: name}``; a method may name a channel by id, by name or by
    ``#name`` (Slack accepts names in ``chat.postMessage`` and answers with the id). Posting
    to a known user id opens a DM channel ``D<user id>``.
    """

    def __init__(
        self,
        *,
        bot_token: str,
        team_id: str = "T0001",
        team_name: str = "Backlog Bot Demo",
        team_domain: str = "backlog-bot-demo",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0001",
        bot_name: str = "backlog-bot",
        app_id: str = "A0001",
        users: Mapping[str, SlackUserInfo] | None = None,
        channels: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        on_event: Callable[[EmulatorEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        app_token: str | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.socket_mode = SocketModeGateway(lambda: self.base_url, app_id)
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.on_event = on_event
        self._clock = clock
        self._users: dict[str, SlackUserInfo] = dict(users or {})
        self._channels: dict[str, str] = dict(channels or {})
        self._usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self._dms: dict[str, str] = {}
        self.calls: list[RecordedCall] = []
        self.uploads: list[StoredUpload] = []
        self._messages: dict[str, list[StoredMessage]] = {}
        self._ephemerals: list[StoredMessage] = []
        self._responses: list[RecordedResponse] = []
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._last_ts = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self.socket_mode.open_connection,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("the Slack emulator is already running")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post(_RESPONSE_PATH + "{tag}", self._handle_response_url)
        app.router.add_get("/socket-mode/{connection}", self.socket_mode.handle)
        app.router.add_post(_UPLOAD_PATH + "{key}", self._handle_upload)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self._base_url = f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        await self.socket_mode.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the Slack emulator is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: give it to ``AsyncWebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    def response_url(
        self,
        tag: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """An absolute URL that records what is POSTed to it, under ``tag``.

        With ``channel`` (and ``user`` for ephemeral replies, ``message_ts`` for
        ``replace_original``/``delete_original``) the post also acts the way Slack's
        response_url does: ``in_channel`` posts a message, ``ephemeral`` (the default)
        shows one to ``user``, ``replace_original`` updates and ``delete_original`` removes
        the message at ``message_ts``.
        """
        channel_id = self._resolve_channel(channel) if channel is not None else None
        self._response_targets[tag] = _ResponseTarget(channel_id, user, message_ts, thread_ts)
        return f"{self.base_url}{_RESPONSE_PATH}{quote(tag, safe='')}"

    # ---------------------------------------------------------------- setup helpers

    def add_channel(self, channel_id: str, name: str) -> None:
        self._channels[channel_id] = name.lstrip("#")

    def add_user(self, user_id: str, info: SlackUserInfo) -> None:
        self._users[user_id] = info

    def set_usergroup(self, usergroup_id: str, user_ids: Sequence[str]) -> None:
        self._usergroups[usergroup_id] = list(user_ids)

    def add_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """Put a message from a person into a channel (e.g. humans talking in an incident)."""
        channel_id = self._resolve_channel(channel)
        message = StoredMessage(
            channel=channel_id, ts=self._next_ts(), text=text, thread_ts=thread_ts, user=user
        )
        self._store_message(message)
        self._emit("post", message)
        return message

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self, method: str, error: str = "ratelimited", *, status: int = 200, times: int = 1
    ) -> None:
        """The next ``times`` calls to ``method`` answer ``{"ok": false, "error": error}``.

        ``method`` may also be ``"*"`` (any API method), ``"response_url"`` or ``"upload"``.
        """
        self._add_fault(method, _Fault(status=status, error=error), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        """The next ``times`` calls get HTTP 429, ``Retry-After: retry_after``."""
        fault = _Fault(status=429, error="ratelimited", retry_after=retry_after)
        self._add_fault(method, fault, times)

    def server_error_next(self, method: str, status: int = 500, *, times: int = 1) -> None:
        """The next ``times`` calls get an HTML error page with HTTP ``status``."""
        self._add_fault(method, _Fault(status=status, error=None), times)

    def _add_fault(self, method: str, fault: _Fault, times: int) -> None:
        queue = self._faults.setdefault(method, deque())
        queue.extend(_Fault(fault.status, fault.error, fault.retry_after) for _ in range(times))

    def _take_fault(self, method: str, *, api: bool) -> _Fault | None:
        for key in (method, "*") if api else (method,):
            queue = self._faults.get(key)
            if queue:
                return queue.popleft()
        return None

    # ---------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[StoredMessage]:
        """Messages in a channel (by id or name), oldest first, thread replies included."""
        return list(self._messages.get(self._resolve_channel(channel), []))

    def thread(self, channel: str, thread_ts: str) -> list[StoredMessage]:
        """A thread's parent followed by its replies."""
        channel_id = self._resolve_channel(channel)
        return [
            m
            for m in self._messages.get(channel_id, [])
            if m.ts == thread_ts or m.thread_ts == thread_ts
        ]

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        return self._find_message(self._resolve_channel(channel), ts)

    def ephemerals(self, channel: str, user: str | None = None) -> list[StoredMessage]:
        channel_id = self._resolve_channel(channel)
        return [
            m
            for m in self._ephemerals
            if m.channel == channel_id and (user is None or m.visible_to == user)
        ]

    def responses(self, tag: str | None = None) -> list[RecordedResponse]:
        return [r for r in self._responses if tag is None or r.tag == tag]

    def channel_name(self, channel_id: str) -> str | None:
        if channel_id in self._channels:
            return self._channels[channel_id]
        user_id = self._dms.get(channel_id)
        if user_id is None:
            return None
        user = self._users.get(user_id)
        return f"@{user.name if user else user_id}"

    async def wait_for(self, predicate: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every recorded request."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._waiters.append(waiter)
                    try:
                        await waiter
                    finally:
                        if waiter in self._waiters:
                            self._waiters.remove(waiter)
        except TimeoutError:
            raise TimeoutError(f"Slack emulator: condition not met within {within}s") from None

    async def wait_for_calls(self, method: str, count: int = 1, *, within: float = 5.0) -> None:
        """Wait until ``method`` has been called at least ``count`` times."""
        await self.wait_for(lambda: len(self.calls_to(method)) >= count, within=within)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ---------------------------------------------------------------- HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await self._read_args(request)
        except _SlackError as exc:
            return self._reply(method, {}, request.method, {"ok": False, "error": exc.code})
        token = self._token_of(request, args)

        fault = self._take_fault(method, api=True)
        if fault is not None:
            return self._fault_reply(method, args, request.method, fault)
        handler = self._handlers.get(method)
        if handler is None:
            body: JSONDict = {"ok": False, "error": "unknown_method", "req_method": method}
        elif token is None:
            body = {"ok": False, "error": "not_authed"}
        elif token != (self.app_token if method in _APP_TOKEN_METHODS else self.bot_token):
            body = {"ok": False, "error": "invalid_auth"}
        else:
            try:
                body = {"ok": True, **handler(args)}
            except _SlackError as exc:
                body = {"ok": False, "error": exc.code, **exc.extra}
        return self._reply(method, args, request.method, body)

    def _reply(self, method: str, args: JSONDict, http_method: str, body: JSONDict) -> web.Response:
        self.calls.append(RecordedCall(method, args, 200, body, http_method))
        self._notify()
        return web.json_response(body, headers=self._slack_headers())

    def _fault_reply(
        self, method: str, args: JSONDict, http_method: str, fault: _Fault
    ) -> web.Response:
        headers = self._slack_headers()
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body: JSONDict | None = None
        if fault.error is not None:
            body = {"ok": False, "error": fault.error}
        self.calls.append(RecordedCall(method, args, fault.status, body, http_method))
        self._notify()
        if body is None:
            return web.Response(
                status=fault.status,
                text=f"<html><body><h1>{fault.status} Server Error</h1></body></html>",
                content_type="text/html",
                headers=headers,
            )
        return web.json_response(body, status=fault.status, headers=headers)

    def _slack_headers(self) -> dict[str, str]:
        return {"X-Slack-Req-Id": secrets.token_hex(16)}

    @staticmethod
    async def _read_args(request: web.Request) -> JSONDict:
        args: JSONDict = dict(request.query)
        if not request.can_read_body:
            return args
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                raise _SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise _SlackError("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    @staticmethod
    def _token_of(request: web.Request, args: JSONDict) -> str | None:
        form_token = args.pop("token", None)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip() or None
        return str(form_token) if form_token else None

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        tag = unquote(request.match_info["tag"])
        fault = self._take_fault("response_url", api=False)
        raw = await request.text()
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = None
        if fault is not None:
            status, error = fault.status, fault.error or "internal_error"
        elif not isinstance(payload, dict):
            status, error = 400, "invalid_payload"
        elif not self._has_content(payload) and not _truthy(payload.get("delete_original")):
            status, error = 400, "no_text"
        else:
            status, error = 200, ""
        record = RecordedResponse(
            tag, payload if isinstance(payload, dict) else {"raw": raw}, status
        )
        self._responses.append(record)
        if status == 200:
            self._apply_response(record)
        self._notify()
        if status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, text=error, content_type="text/plain")

    async def _handle_upload(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        upload = next((u for u in self.uploads if u.upload_key == key), None)
        fault = self._take_fault("upload", api=False)
        if fault is not None:
            return web.Response(status=fault.status, text="error", content_type="text/plain")
        if upload is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            data = b""
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):  # nested multipart: not from Slack SDKs
                    continue
                data = bytes(await part.read())
                break
        else:
            data = await request.read()
        upload.content = data
        self._notify()
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    # ---------------------------------------------------------------- shared logic

    def _next_ts(self) -> str:
        micros = int(self._clock() * 1_000_000)
        if micros <= self._last_ts:
            micros = self._last_ts + 1
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, value: str | None) -> str:
        if not value:
            raise _SlackError("channel_not_found")
        if value in self._channels or value in self._dms:
            return value
        name = value.lstrip("#")
        for channel_id, channel_name in self._channels.items():
            if channel_name == name:
                return channel_id
        if value in self._users:
            dm_id = f"D{value}"
            self._dms[dm_id] = value
            return dm_id
        raise _SlackError("channel_not_found")

    def _find_message(self, channel_id: str, ts: str | None) -> StoredMessage | None:
        if ts is None:
            return None
        return next((m for m in self._messages.get(channel_id, []) if m.ts == ts), None)

    def _store_message(self, message: StoredMessage) -> None:
        self._messages.setdefault(message.channel, []).append(message)

    def _emit(self, kind: EventKind, message: StoredMessage, tag: str | None = None) -> None:
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

    @staticmethod
    def _has_content(args: Mapping[str, Any]) -> bool:
        return any(
            args.get(name) not in (None, "", []) for name in ("text", "blocks", "attachments")
        )

    def _content(self, args: JSONDict) -> tuple[str, list[JSONDict] | None, list[JSONDict] | None]:
        """Validated text, blocks and attachments of a message-posting call."""
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

    def _message_json(self, message: StoredMessage) -> JSONDict:
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
                body["parent_user_id"] = self._parent_user(message)
        self._add_thread_summary(message, body)
        return body

    def _parent_user(self, reply: StoredMessage) -> str | None:
        parent = self._find_message(reply.channel, reply.thread_ts)
        return parent.user if parent is not None else None

    def _add_thread_summary(self, message: StoredMessage, body: JSONDict) -> None:
        if message.is_reply:
            return
        replies = [
            m
            for m in self._messages.get(message.channel, [])
            if m.is_reply and m.thread_ts == message.ts
        ]
        if not replies:
            return
        body["thread_ts"] = message.ts
        body["reply_count"] = len(replies)
        body["reply_users"] = sorted({m.user for m in replies if m.user is not None})
        body["reply_users_count"] = len(body["reply_users"])
        body["latest_reply"] = replies[-1].ts

    def _own_message(self, args: JSONDict, cant: str) -> StoredMessage:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        message = self._find_message(channel_id, _str_arg(args, "ts"))
        if message is None:
            raise _SlackError("message_not_found")
        if message.bot_id != self.bot_id:
            raise _SlackError(cant)
        return message

    def _edit(
        self,
        message: StoredMessage,
        text: str,
        blocks: list[JSONDict] | None,
        attachments: list[JSONDict] | None,
    ) -> None:
        message.edits.append(
            MessageVersion(message.text, message.blocks, message.attachments, message.edited_ts)
        )
        message.text = text
        message.blocks = blocks
        message.attachments = attachments
        message.edited_ts = self._next_ts()

    # ---------------------------------------------------------------- API methods

    def _auth_test(self, args: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        text, blocks, attachments = self._content(args)
        metadata = args.get("metadata")
        message = StoredMessage(
            channel=channel_id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=_str_arg(args, "thread_ts"),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            reply_broadcast=_truthy(args.get("reply_broadcast")),
            metadata=metadata if isinstance(metadata, dict) else None,
        )
        self._store_message(message)
        self._emit("post", message)
        return {"channel": channel_id, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, args: JSONDict) -> JSONDict:
        message = self._own_message(args, "cant_update_message")
        if not self._has_content(args):
            raise _SlackError("no_text")
        # Slack keeps the previous blocks/attachments unless the call passes new ones.
        merged = {
            "text": args.get("text", message.text),
            "blocks": args.get("blocks", message.blocks),
            "attachments": args.get("attachments", message.attachments),
        }
        text, blocks, attachments = self._content(merged)
        self._edit(message, text, blocks, attachments)
        self._emit("update", message)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_delete(self, args: JSONDict) -> JSONDict:
        message = self._own_message(args, "cant_delete_message")
        self._messages[message.channel].remove(message)
        self._emit("delete", message)
        return {"channel": message.channel, "ts": message.ts}

    def _chat_post_ephemeral(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        user = _str_arg(args, "user")
        if user is None:
            raise _SlackError("user_not_found")
        if self._users and user not in self._users:
            raise _SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(args)
        message = StoredMessage(
            channel=channel_id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=_str_arg(args, "thread_ts"),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            visible_to=user,
        )
        self._ephemerals.append(message)
        self._emit("ephemeral", message)
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        message = self._find_message(channel_id, _str_arg(args, "message_ts"))
        if message is None:
            raise _SlackError("message_not_found")
        link = (
            f"https://{self.team_domain}.slack.com/archives/{channel_id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel_id}"
        return {"channel": channel_id, "permalink": link}

    def _page(self, items: list[StoredMessage], args: JSONDict) -> JSONDict:
        limit = max(1, min(_int_arg(args, "limit", 100), 999))
        offset = _decode_cursor(_str_arg(args, "cursor"))
        page = items[offset : offset + limit]
        has_more = offset + limit < len(items)
        return {
            "messages": [self._message_json(m) for m in page],
            "has_more": has_more,
            "response_metadata": {
                "next_cursor": _encode_cursor(offset + limit) if has_more else ""
            },
        }

    def _in_window(self, message: StoredMessage, args: JSONDict) -> bool:
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

    def _conversations_history(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        visible = [
            m
            for m in self._messages.get(channel_id, [])
            if (not m.is_reply or m.reply_broadcast) and self._in_window(m, args)
        ]
        visible.reverse()  # newest first
        return {"pin_count": 0, **self._page(visible, args)}

    def _conversations_replies(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        message = self._find_message(channel_id, _str_arg(args, "ts"))
        if message is None:
            raise _SlackError("thread_not_found")
        root = message.thread_ts or message.ts
        thread = [
            m
            for m in self._messages.get(channel_id, [])
            if (m.ts == root or m.thread_ts == root) and self._in_window(m, args)
        ]
        return self._page(thread, args)

    def _conversations_info(self, args: JSONDict) -> JSONDict:
        channel_id = self._resolve_channel(_str_arg(args, "channel"))
        is_im = channel_id in self._dms
        info: JSONDict = {"id": channel_id, "is_im": is_im, "is_channel": not is_im}
        if is_im:
            info["user"] = self._dms[channel_id]
        else:
            info.update(name=self._channels[channel_id], is_member=True, is_archived=False)
        return {"channel": info}

    def _conversations_open(self, args: JSONDict) -> JSONDict:
        users = [u for u in (_str_arg(args, "users") or "").split(",") if u]
        if not users:
            raise _SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise _SlackError("not_implemented")
        if users[0] not in self._users:
            raise _SlackError("user_not_found")
        return {"channel": {"id": self._resolve_channel(users[0])}}

    def _users_info(self, args: JSONDict) -> JSONDict:
        user_id = _str_arg(args, "user")
        info = self._users.get(user_id) if user_id is not None else None
        if user_id is None or info is None:
            raise _SlackError("user_not_found")
        return {"user": info.to_slack(user_id, self.team_id)}

    def _usergroups_users_list(self, args: JSONDict) -> JSONDict:
        group = _str_arg(args, "usergroup")
        if group is None or group not in self._usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _files_get_upload_url_external(self, args: JSONDict) -> JSONDict:
        filename = _str_arg(args, "filename")
        length = _int_arg(args, "length", -1)
        if filename is None or length < 0:
            raise _SlackError("invalid_arguments")
        upload = StoredUpload(
            file_id=f"F{secrets.token_hex(5).upper()}",
            filename=filename,
            length=length,
            upload_key=secrets.token_urlsafe(24),
            alt_txt=_str_arg(args, "alt_txt"),
            snippet_type=_str_arg(args, "snippet_type"),
        )
        self.uploads.append(upload)
        return {
            "upload_url": f"{self.base_url}{_UPLOAD_PATH}{upload.upload_key}",
            "file_id": upload.file_id,
        }

    def _files_complete_upload_external(self, args: JSONDict) -> JSONDict:
        entries = _json_list_arg(args, "files", "invalid_arguments")
        if not entries:
            raise _SlackError("invalid_arguments")
        picked = [self._uploaded_file(entry) for entry in entries]
        channels = [self._resolve_channel(c) for c in self._share_targets(args)]
        thread_ts = _str_arg(args, "thread_ts")
        comment = _str_arg(args, "initial_comment")
        for upload, title in picked:
            upload.title = title or upload.filename
            upload.completed = True
            upload.channels = channels
            upload.thread_ts = thread_ts
            upload.initial_comment = comment
        files = [self._file_json(upload) for upload, _ in picked]
        for channel_id in channels:
            message = StoredMessage(
                channel=channel_id,
                ts=self._next_ts(),
                text=comment or "",
                thread_ts=thread_ts,
                user=self.bot_user_id,
                bot_id=self.bot_id,
                files=files,
            )
            self._store_message(message)
            self._emit("upload", message)
        return {"files": files}

    @staticmethod
    def _share_targets(args: JSONDict) -> Iterator[str]:
        channel_id = _str_arg(args, "channel_id")
        if channel_id is not None:
            yield channel_id
        for channel in (_str_arg(args, "channels") or "").split(","):
            if channel and channel != channel_id:
                yield channel

    def _uploaded_file(self, entry: Any) -> tuple[StoredUpload, str | None]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise _SlackError("invalid_arguments")
        upload = next((u for u in self.uploads if u.file_id == entry["id"]), None)
        if upload is None or upload.content is None:
            raise _SlackError("file_not_found")
        title = entry.get("title")
        return upload, title if isinstance(title, str) else None

    def _file_json(self, upload: StoredUpload) -> JSONDict:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        base = f"https://files.slack.com/files-pri/{self.team_id}-{upload.file_id}"
        return {
            "id": upload.file_id,
            "created": int(self._clock()),
            "timestamp": int(self._clock()),
            "name": upload.filename,
            "title": upload.title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "binary",
            "user": self.bot_user_id,
            "size": len(upload.content or b""),
            "is_public": any(c in self._channels for c in upload.channels),
            "url_private": f"{base}/{quote(upload.filename)}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{upload.file_id}",
            "channels": list(upload.channels),
            "alt_txt": upload.alt_txt,
        }

    # ---------------------------------------------------------------- response_url effects

    def _apply_response(self, record: RecordedResponse) -> None:
        target = self._response_targets.get(record.tag)
        if target is None or target.channel is None:
            self._emit_response_only(record)
            return
        original = self._find_message(target.channel, target.message_ts)
        if record.delete_original and original is not None:
            self._messages[target.channel].remove(original)
            self._emit("delete", original, record.tag)
            return
        try:
            text, blocks, attachments = self._content(dict(record.payload))
        except _SlackError:
            return
        if record.replace_original and original is not None:
            self._edit(original, text, blocks, attachments)
            self._emit("response", original, record.tag)
            return
        thread_ts = _str_arg(record.payload, "thread_ts") or target.thread_ts
        message = StoredMessage(
            channel=target.channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            user=self.bot_user_id,
            bot_id=self.bot_id,
        )
        if record.response_type == "in_channel":
            self._store_message(message)
        else:
            message.visible_to = target.user
            self._ephemerals.append(message)
        self._emit("response", message, record.tag)

    def _emit_response_only(self, record: RecordedResponse) -> None:
        if self.on_event is None:
            return
        placeholder = StoredMessage(
            channel="",
            ts="",
            text=record.text,
            blocks=record.blocks,
            user=self.bot_user_id,
            bot_id=self.bot_id,
        )
        self._emit("response", placeholder, record.tag)
