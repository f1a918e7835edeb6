"""The Slack Web API calls the outbox sender makes, each answer classified.

Its client has no retry handlers of its own: slack_sdk's connection-error and
server-error handlers re-send a ``chat.postMessage`` whose first try Slack may
already have stored, which would post it twice. The sender retries instead,
after looking for its own message (found by the message ``metadata`` that
carries the outbox id, read back with ``conversations.history`` /
``conversations.replies`` and ``include_all_metadata``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.delivery import Delivered, Delivery, Refused, RetryLater, classify_error

log = logging.getLogger(__name__)

METADATA_EVENT = "backlog_bot_message"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# How far back to look for a message whose post may have landed: Slack stamps
# it when received, which is after the row was written.
_LOOKBACK_SECONDS = 120
_LOOKUP_PAGES = 5


def make_sender_client(token: str, base_url: str, timeout: int = 10) -> AsyncWebClient:
    """A client that never retries by itself (see the module docstring)."""
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])


def metadata_for(message_id: int) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"message_id": message_id}}


def outbox_id_of(message: Mapping[str, Any]) -> int | None:
    """The outbox id a message of ours carries in its metadata, else None."""
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT:
        return None
    payload = metadata.get("event_payload")
    value = payload.get("message_id") if isinstance(payload, Mapping) else None
    return value if isinstance(value, int) else None


class SlackTransport:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._channel_ids: dict[str, str] = {}

    async def post(
        self,
        channel: str,
        payload: Mapping[str, Any],
        *,
        thread_ts: str | None,
        message_id: int,
    ) -> Delivery:
        args: dict[str, Any] = {
            "channel": channel,
            "text": payload.get("text", ""),
            "metadata": metadata_for(message_id),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if payload.get("blocks"):
            args["blocks"] = payload["blocks"]
        if thread_ts:
            args["thread_ts"] = thread_ts
        outcome = await self._call("chat.postMessage", args)
        if isinstance(outcome, dict):
            return Delivered(str(outcome["channel"]), str(outcome["ts"]))
        return outcome

    async def update(self, channel: str, ts: str, payload: Mapping[str, Any]) -> Delivery:
        args: dict[str, Any] = {
            "channel": channel,
            "ts": ts,
            "text": payload.get("text", ""),
            # An update without blocks would keep the old ones (buttons included).
            "blocks": payload.get("blocks") or [],
        }
        outcome = await self._call("chat.update", args)
        if isinstance(outcome, dict):
            return Delivered(str(outcome.get("channel", channel)), str(outcome.get("ts", ts)))
        return outcome

    async def upload(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        filename: str,
        title: str,
        content: bytes,
        initial_comment: str,
    ) -> Delivery:
        """``files_upload_v2`` (getUploadURLExternal, upload, completeUploadExternal)."""
        channel_id = await self.channel_id(channel)
        if channel_id is None:
            return Refused("channel_not_found")
        args: dict[str, Any] = {
            "channel": channel_id,
            "filename": filename,
            "title": title,
            "content": content,
            "initial_comment": initial_comment,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        try:
            response: Any = await self._client.files_upload_v2(**args)
        except SlackApiError as exc:
            return classify_api_error(exc)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return classify_exception(exc)
        files = response.get("files") or [{}]
        return Delivered(channel_id, str(files[0].get("id", "")))

    async def ephemeral(self, channel: str, user: str, text: str) -> Delivery:
        outcome = await self._call(
            "chat.postEphemeral", {"channel": channel, "user": user, "text": text}
        )
        if isinstance(outcome, dict):
            return Delivered(channel, str(outcome.get("message_ts", "")))
        return outcome

    async def permalink(self, channel: str, ts: str) -> str | None:
        """``chat.getPermalink`` of a posted message; None when Slack does not give it
        (a link is a convenience: its absence never holds a message back)."""
        try:
            response: Any = await self._client.chat_getPermalink(channel=channel, message_ts=ts)
        except (SlackApiError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("no permalink", extra={"channel": channel, "error": repr(exc)})
            return None
        link = response.get("permalink")
        return str(link) if link else None

    async def find(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        message_id: int,
        since: datetime,
        filename: str | None = None,
    ) -> Delivered | RetryLater | None:
        """Our message with outbox id ``message_id`` (or a file share named ``filename``)
        if Slack holds it; None when it does not; RetryLater when Slack could not say."""
        channel_id = await self.channel_id(channel)
        if channel_id is None:
            return None
        args: dict[str, Any] = {
            "channel": channel_id,
            "include_all_metadata": True,
            "oldest": f"{since.timestamp() - _LOOKBACK_SECONDS:.6f}",
            "limit": 200,
        }
        method = "conversations.history"
        if thread_ts:
            method, args["ts"] = "conversations.replies", thread_ts
        for _ in range(_LOOKUP_PAGES):
            outcome = await self._call(method, args)
            if not isinstance(outcome, dict):
                return outcome if isinstance(outcome, RetryLater) else None
            for message in outcome.get("messages") or []:
                if _is_ours(message, message_id, filename):
                    return Delivered(channel_id, str(message["ts"]))
            cursor = (outcome.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            args["cursor"] = cursor
        return None

    async def channel_id(self, channel: str) -> str | None:
        """``#name`` or name → id (``conversations.history`` and file shares need ids)."""
        if _CHANNEL_ID.match(channel):
            return channel
        if _USER_ID.match(channel):  # a direct message: its conversation id
            opened = await self._call("conversations.open", {"users": channel})
            if isinstance(opened, dict):
                return str((opened.get("channel") or {}).get("id")) or None
            return None
        name = channel.lstrip("#")
        if name in self._channel_ids:
            return self._channel_ids[name]
        args: dict[str, Any] = {
            "types": "public_channel,private_channel",
            "exclude_archived": True,
            "limit": 1000,
        }
        while True:
            outcome = await self._call("conversations.list", args)
            if not isinstance(outcome, dict):
                log.warning("cannot resolve channel name", extra={"channel": channel})
                return None
            for found in outcome.get("channels") or []:
                self._channel_ids[str(found.get("name"))] = str(found.get("id"))
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = (outcome.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            args["cursor"] = cursor

    async def _call(self, method: str, args: dict[str, Any]) -> dict[str, Any] | Delivery:
        """The API call's data on success, else its outcome."""
        try:
            response: Any = await self._client.api_call(
                method,
                http_verb="POST" if method.startswith("chat.") else "GET",
                **_split(method, args),
            )
        except SlackApiError as exc:
            return classify_api_error(exc)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return classify_exception(exc)
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data


def _split(method: str, args: dict[str, Any]) -> dict[str, Any]:
    """chat.* take JSON bodies; the reading methods take query parameters (as slack_sdk's
    own typed methods send them)."""
    if method.startswith("chat."):
        return {"json": args}
    return {"params": {k: _param(v) for k, v in args.items()}}


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _is_ours(message: Mapping[str, Any], message_id: int, filename: str | None) -> bool:
    if outbox_id_of(message) == message_id:
        return True
    if filename is None:
        return False
    return any(f.get("name") == filename for f in message.get("files") or [])


def classify_api_error(exc: SlackApiError) -> RetryLater | Refused:
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    if status == 429:
        raw = (response.headers or {}).get("Retry-After") or (response.headers or {}).get(
            "retry-after"
        )
        after = float(raw[0] if isinstance(raw, list) else raw) if raw else None
        return RetryLater("ratelimited", ambiguous=False, retry_after=after)
    if status >= 500:
        # Slack (or a proxy in front of it) may have acted before failing.
        return RetryLater(f"HTTP {status}", ambiguous=True)
    error = str(response.get("error") or "unknown_error")
    needed = response.get("needed")
    return classify_error(error, f"needs `{needed}`" if needed else "")


def classify_exception(exc: BaseException) -> RetryLater:
    # A connection that could not even be opened carried nothing; anything later
    # (timeout, reset, disconnect) may have reached Slack.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return RetryLater(f"cannot connect to Slack ({type(exc).__name__})", ambiguous=False)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return RetryLater("Slack did not answer in time", ambiguous=True)
    return RetryLater(f"connection to Slack failed ({type(exc).__name__})", ambiguous=True)
