"""Slack's Socket Mode, emulated: ``apps.connections.open`` and the WebSocket.

The real ``slack_sdk`` Socket Mode client (which Bolt's handler uses) opens a
connection with the app-level token, gets ``hello``, then receives envelopes
(``slash_commands``, ``interactive``, ``events_api``) and acknowledges each by
sending its ``envelope_id`` back — as with Slack, an envelope not acknowledged
in time counts as a failure.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

JSONDict = dict[str, Any]


class SocketModeGateway:
    def __init__(self, base_url: Callable[[], str], app_id: str) -> None:
        self._base_url = base_url
        self._app_id = app_id
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._acks: dict[str, asyncio.Future[JSONDict]] = {}
        self._connected = asyncio.Event()

    def open_connection(self, _args: JSONDict) -> JSONDict:
        """``apps.connections.open``: a fresh single-use WebSocket URL."""
        ws_base = self._base_url().replace("http://", "ws://", 1)
        return {"url": f"{ws_base}/socket-mode/{secrets.token_hex(8)}"}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        key = request.match_info["connection"]
        self._sockets[key] = socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "connection_info": {"app_id": self._app_id},
                "debug_info": {"host": "backlog-bot-emulator"},
            }
        )
        self._connected.set()
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    self._acknowledged(json.loads(message.data))
        finally:
            self._sockets.pop(key, None)
            if not self._sockets:
                self._connected.clear()
        return socket

    def _acknowledged(self, data: JSONDict) -> None:
        future = self._acks.pop(str(data.get("envelope_id", "")), None)
        if future is not None and not future.done():
            future.set_result(dict(data.get("payload") or {}))

    @property
    def connected(self) -> bool:
        return bool(self._sockets)

    async def wait_connected(self, within: float = 5.0) -> None:
        await asyncio.wait_for(self._connected.wait(), within)

    async def send(
        self,
        kind: str,
        payload: JSONDict,
        *,
        within: float = 5.0,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> JSONDict:
        """Delivers one envelope to a connected client; returns its acknowledgement payload.

        Raises :class:`TimeoutError` when it is not acknowledged ``within`` seconds, and
        :class:`RuntimeError` when no client is connected.
        """
        if not self._sockets:
            raise RuntimeError("no Socket Mode client is connected")
        envelope_id = secrets.token_hex(12)
        future: asyncio.Future[JSONDict] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        socket = next(iter(self._sockets.values()))
        await socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._acks.pop(envelope_id, None)

    async def close(self) -> None:
        for socket in list(self._sockets.values()):
            await socket.close()
        self._sockets.clear()
