"""The HTTP side of the Slack emulator: routing, authentication, faults, recording, lifecycle.

:class:`ApiServer` serves ``/api/<method>`` by calling the handler registered for the
method, the way Slack answers: the token checked first (``not_authed`` / ``invalid_auth``),
then ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}`` on HTTP 200. Injected faults
(see :class:`~.faults.Faults`) come before the handler. Every call is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Self

from aiohttp import web

from bot.emulators.slack.faults import AfterFault, Faults
from bot.emulators.slack.ratelimits import RateLimits
from bot.emulators.slack.records import (
    _RESPONSE_PATH,
    _UPLOAD_PATH,
    Handler,
    JSONDict,
    RecordedCall,
    _Fault,
    _SlackError,
)
from bot.emulators.slack.socket_mode import SocketModeGateway

# Methods Slack authenticates with the app-level (xapp-) token, not the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


class ApiServer:
    """aiohttp on loopback serving the API methods in ``self._handlers``."""

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str | None,
        app_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.socket_mode = SocketModeGateway(lambda: self.base_url, app_id)
        self.calls: list[RecordedCall] = []
        self._faults = Faults()
        self.rate_limits = RateLimits(clock)
        """Slack's per-method tiers, off until ``rate_limits.enable()``."""
        self._handlers: dict[str, Handler] = {
            "apps.connections.open": self.socket_mode.open_connection,
        }
        self._waiters: list[asyncio.Future[None]] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._stopping = asyncio.Event()

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
        self._stopping.set()  # late answers (the "timeout" fault) stop waiting
        await self.socket_mode.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> Self:
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

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

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

    def notify(self) -> None:
        """Re-check what :meth:`wait_for` waits for (something changed)."""
        self._notify()

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

        fault = self._faults.take(method, api=True)
        if fault is not None:
            return self._fault_reply(method, args, request.method, fault)
        handler = self._handlers.get(method)
        if handler is None:
            body: JSONDict = {"ok": False, "error": "unknown_method", "req_method": method}
        elif token is None:
            body = {"ok": False, "error": "not_authed"}
        elif token != (self.app_token if method in _APP_TOKEN_METHODS else self.bot_token):
            body = {"ok": False, "error": "invalid_auth"}
        elif (wait := self.rate_limits.retry_after(method, args)) is not None:
            limited = _Fault(status=429, error="ratelimited", retry_after=wait)
            return self._fault_reply(method, args, request.method, limited, "rate_limit")
        else:
            try:
                body = {"ok": True, **handler(args)}
            except _SlackError as exc:
                body = {"ok": False, "error": exc.code, **exc.extra}
            after = self._faults.take_after(method) if body["ok"] else None
            if after is not None:
                return await self._after_reply(request, method, args, body, after)
        return self._reply(method, args, request.method, body)

    async def _after_reply(
        self, request: web.Request, method: str, args: JSONDict, body: JSONDict, fault: AfterFault
    ) -> web.Response:
        """The call took effect; now the answer goes wrong the way ``fault`` says."""
        http_method = request.method
        headers = self._slack_headers()
        if fault.kind == "server_error":
            self._record(RecordedCall(method, args, fault.status, None, http_method, fault.kind))
            return web.Response(
                status=fault.status,
                text=f"<html><body><h1>{fault.status} Server Error</h1></body></html>",
                content_type="text/html",
                headers=headers,
            )
        if fault.kind == "fatal_error":
            fatal: JSONDict = {"ok": False, "error": "fatal_error"}
            self._record(RecordedCall(method, args, 200, fatal, http_method, fault.kind))
            return web.json_response(fatal, headers=headers)
        if fault.kind == "disconnect":
            self._record(RecordedCall(method, args, 0, None, http_method, fault.kind))
            if request.transport is not None:
                request.transport.abort()  # the client sees the server disconnect
            raise web.HTTPInternalServerError()  # never sent: the connection is gone
        self._record(RecordedCall(method, args, 200, body, http_method, fault.kind))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), fault.delay)
        return web.json_response(body, headers=headers)

    def _record(self, call: RecordedCall) -> None:
        self.calls.append(call)
        self._notify()

    def _reply(self, method: str, args: JSONDict, http_method: str, body: JSONDict) -> web.Response:
        self.calls.append(RecordedCall(method, args, 200, body, http_method))
        self._notify()
        return web.json_response(body, headers=self._slack_headers())

    def _fault_reply(
        self,
        method: str,
        args: JSONDict,
        http_method: str,
        fault: _Fault,
        reason: str = "injected",
    ) -> web.Response:
        headers = self._slack_headers()
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body: JSONDict | None = None
        if fault.error is not None:
            body = {"ok": False, "error": fault.error, **fault.extra}
        self._record(RecordedCall(method, args, fault.status, body, http_method, reason))
        if body is None:
            return web.Response(
                status=fault.status,
                text=f"<html><body><h1>{fault.status} Server Error</h1></body></html>",
                content_type="text/html",
                headers=headers,
            )
        return web.json_response(body, status=fault.status, headers=headers)

    @staticmethod
    def _slack_headers() -> dict[str, str]:
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

    # ---------------------------------------------------------------- other endpoints

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def _handle_upload(self, request: web.Request) -> web.Response:
        raise NotImplementedError
