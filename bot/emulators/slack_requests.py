"""Requests sent to a Bolt app the way Slack sends them.

:class:`SlackClientSimulator` plays the Slack side of the HTTP contract: slash commands and
``block_actions`` payloads form-encoded, Events API callbacks as JSON, each signed with the
app's signing secret (``X-Slack-Signature`` / ``X-Slack-Request-Timestamp``). Options make it
send a wrong signature, a stale timestamp or Slack's retry headers, for tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

__all__ = [
    "STALE_AFTER_SECONDS",
    "Delivery",
    "SlackClientSimulator",
    "SlackHttpResult",
    "sign",
]

STALE_AFTER_SECONDS = 5 * 60
"""Slack's SDKs refuse requests whose timestamp is further than this from now."""

_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(signing_secret: str, timestamp: str | int, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the signing secret."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SlackHttpResult:
    """What the app answered: HTTP status, body text and the body as JSON when it is JSON."""

    status: int
    body: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """How to deliver a request: well signed and fresh by default."""

    bad_signature: bool = False
    stale_timestamp: bool = False
    retry_num: int | None = None
    retry_reason: str | None = None


class SlackClientSimulator:
    """Sends signed Slack requests to a Bolt app's endpoint, e.g. ``.../slack/events``.

    Every request method takes the keyword options ``bad_signature`` (sign with a wrong
    secret), ``stale_timestamp`` (a timestamp more than five minutes old, correctly signed),
    ``retry_num`` and ``retry_reason`` (Slack's ``X-Slack-Retry-*`` headers).
    """

    def __init__(
        self,
        endpoint_url: str,
        signing_secret: str,
        *,
        team_id: str = "T0001",
        team_domain: str = "backlog-bot-demo",
        api_app_id: str = "A0001",
        bot_user_id: str = "UBOT",
        verification_token: str | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        # The deprecated verification token Slack still puts in payloads; Bolt ignores it.
        self.verification_token = verification_token or secrets.token_hex(12)
        self._clock = clock
        self._timeout = timeout

    # ------------------------------------------------------------------ payloads

    async def slash_command(
        self,
        text: str,
        *,
        user_id: str,
        user_name: str,
        channel_id: str,
        response_url: str,
        channel_name: str = "backlog-incidents",
        command: str = "/backlog",
        trigger_id: str | None = None,
        bad_signature: bool = False,
        stale_timestamp: bool = False,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SlackHttpResult:
        """A slash command, form-encoded with the fields Slack sends.

        ``text`` is what the person typed; like Slack, the simulator sends its ``&``,
        ``<`` and ``>`` as ``&amp;``, ``&lt;``, ``&gt;`` (Slack escapes those three in
        all text it hands an app: "Formatting text for app surfaces", escaping).
        """
        sent = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": sent,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or self._trigger_id(),
        }
        delivery = Delivery(bad_signature, stale_timestamp, retry_num, retry_reason)
        return await self.post_raw(
            urlencode(fields).encode(), "application/x-www-form-urlencoded", delivery=delivery
        )

    async def block_action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str,
        user_name: str,
        channel_id: str,
        message_ts: str,
        response_url: str,
        block_id: str | None = None,
        channel_name: str = "backlog-incidents",
        message: Mapping[str, Any] | None = None,
        action_text: str | None = None,
        style: str | None = None,
        is_ephemeral: bool = False,
        trigger_id: str | None = None,
        bad_signature: bool = False,
        stale_timestamp: bool = False,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SlackHttpResult:
        """A button click: ``payload=<json>`` of type ``block_actions``, form-encoded.

        ``message`` is the message the button is on as Slack would include it (for example
        the ``message`` of a ``chat.postMessage`` answer); the button's block id, label and
        style are taken from its blocks unless ``block_id``/``action_text``/``style`` are given.
        """
        found_block_id, found = (None, None)
        if message is not None:
            found_block_id, found = _find_button(message, action_id, block_id)
        block_id = block_id or found_block_id or "backlog_actions"
        label = action_text or (_plain(found.get("text")) if found else None) or action_id
        style = style or (found.get("style") if found else None)
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": {"type": "plain_text", "text": label, "emoji": True},
            "value": value,
            "action_ts": f"{self._clock():.6f}",
        }
        if style:
            action["style"] = style
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user_name,
                "name": user_name,
                "team_id": self.team_id,
            },
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": is_ephemeral,
            },
            "trigger_id": trigger_id or self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_name},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if not is_ephemeral:
            payload["message"] = dict(message) if message is not None else _bare_message(message_ts)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        delivery = Delivery(bad_signature, stale_timestamp, retry_num, retry_reason)
        return await self.post_raw(body, "application/x-www-form-urlencoded", delivery=delivery)

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        bad_signature: bool = False,
        stale_timestamp: bool = False,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SlackHttpResult:
        """An Events API ``event_callback`` wrapping ``event`` (e.g. an ``app_mention``)."""
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": event_time if event_time is not None else int(self._clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        delivery = Delivery(bad_signature, stale_timestamp, retry_num, retry_reason)
        return await self.post_raw(
            json.dumps(envelope).encode(), "application/json", delivery=delivery
        )

    async def url_verification(self, challenge: str) -> SlackHttpResult:
        """The handshake Slack sends when the Request URL is saved."""
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return await self.post_raw(json.dumps(body).encode(), "application/json")

    # ------------------------------------------------------------------ transport

    def signed_headers(
        self, body: bytes, content_type: str, *, delivery: Delivery | None = None
    ) -> dict[str, str]:
        """The headers Slack would send with ``body``."""
        delivery = delivery or Delivery()
        now = int(self._clock())
        timestamp = now - (STALE_AFTER_SECONDS + 60) if delivery.stale_timestamp else now
        secret = self.signing_secret
        if delivery.bad_signature:
            secret = secret + "-not-the-signing-secret"
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret, timestamp, body),
        }
        if delivery.retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(delivery.retry_num)
            headers["X-Slack-Retry-Reason"] = delivery.retry_reason or "http_timeout"
        return headers

    async def post_raw(
        self, body: bytes, content_type: str, *, delivery: Delivery | None = None
    ) -> SlackHttpResult:
        """POST ``body`` signed (or mis-signed, per ``delivery``) to the endpoint."""
        headers = self.signed_headers(body, content_type, delivery=delivery)
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self.endpoint_url, data=body, headers=headers) as response,
        ):
            text = await response.text()
            parsed: Any = None
            if text:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            return SlackHttpResult(
                status=response.status, body=text, json=parsed, headers=dict(response.headers)
            )

    @staticmethod
    def _trigger_id() -> str:
        return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def _plain(obj: Any) -> str | None:
    if isinstance(obj, Mapping) and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return None


def _find_button(
    message: Mapping[str, Any], action_id: str, block_id: str | None
) -> tuple[str | None, Mapping[str, Any] | None]:
    """The block id and element of the button ``action_id`` in ``message``'s blocks."""
    for block in message.get("blocks") or []:
        if not isinstance(block, Mapping):
            continue
        if block_id is not None and block.get("block_id") != block_id:
            continue
        candidates = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), Mapping):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, Mapping) and element.get("action_id") == action_id:
                found_id = block.get("block_id")
                return (found_id if isinstance(found_id, str) else None), element
    return None, None


def _bare_message(ts: str) -> dict[str, Any]:
    return {"type": "message", "ts": ts, "text": ""}
