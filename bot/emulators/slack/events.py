"""The Events API, delivered to the app the way Slack delivers it.

Once configured (:meth:`EventsApi.configure`), every event the workspace publishes (see
:mod:`.actions`) that the app subscribes to is wrapped in an ``event_callback`` envelope
(``event_id``, ``event_time``, ``team_id``, ``api_app_id``, ``authorizations``) and sent:

- over HTTP to the Request URL, signed with the signing secret (``X-Slack-Signature``,
  ``X-Slack-Request-Timestamp``, v0 HMAC), after the ``url_verification`` handshake; or
- over Socket Mode (``url=None``) as an ``events_api`` envelope to the connected client.

Retries follow Slack's "Events API: Retries": an answer that is not 2xx within the ack
timeout (3 s) is tried again up to 3 times, immediately, after 1 minute and after 5
minutes (``retry_delays``, configurable for tests), with ``X-Slack-Retry-Num`` 1..3 and
``X-Slack-Retry-Reason`` (``http_timeout``, ``http_error``, ``connection_failed``); an
answer carrying ``X-Slack-No-Retry: 1`` stops them. Every attempt and what the app
answered is recorded in :attr:`EventsApi.deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

from bot.emulators.slack.records import JSONDict
from bot.emulators.slack.socket_mode import SocketModeGateway
from bot.emulators.slack.workspace import Workspace
from bot.emulators.slack_requests import Delivery, SlackClientSimulator

Outcome = Literal["ok", "http_timeout", "http_error", "connection_failed"]
SLACK_RETRY_DELAYS = (0.0, 60.0, 300.0)
SLACK_ACK_TIMEOUT = 3.0
_MESSAGE_SUBSCRIPTIONS = {
    "channel": "message.channels",
    "group": "message.groups",
    "im": "message.im",
    "mpim": "message.mpim",
}


class EventsUrlRejected(Exception):
    """The Request URL did not answer Slack's ``url_verification`` challenge."""


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try: its retry number (0 for the first), and what the app answered."""

    retry_num: int
    retry_reason: str | None
    outcome: Outcome
    status: int | None
    body: str
    forced: bool = False
    """Sent by :meth:`EventsApi.redeliver`, not by Slack's own retry schedule."""
    sent: bool = True
    """False for an attempt :meth:`EventsApi.lose_next` kept from reaching the app."""
    no_retry: bool = False
    """The app answered ``X-Slack-No-Retry: 1``: Slack stops retrying."""


@dataclass
class EventDelivery:
    """One event and every attempt to deliver it."""

    envelope: JSONDict
    transport: Literal["http", "socket_mode"] | None
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    settled: bool = False
    """No automatic attempt is pending any more (acknowledged, or out of retries)."""

    @property
    def event_id(self) -> str:
        return str(self.envelope["event_id"])

    @property
    def event(self) -> JSONDict:
        event = self.envelope["event"]
        return event if isinstance(event, dict) else {}

    @property
    def acknowledged(self) -> bool:
        return any(a.outcome == "ok" for a in self.attempts)


def subscription_of(event: JSONDict) -> str:
    """The ``bot_events`` name that subscribes to ``event`` (``message.channels``...)."""
    kind = str(event.get("type", ""))
    if kind == "message":
        return _MESSAGE_SUBSCRIPTIONS.get(str(event.get("channel_type")), "message.channels")
    return kind


class EventsApi:
    def __init__(
        self, workspace: Workspace, socket_mode: SocketModeGateway, notify: Callable[[], None]
    ) -> None:
        self._ws = workspace
        self._socket_mode = socket_mode
        self._notify = notify
        self.deliveries: list[EventDelivery] = []
        self.verification_token = secrets.token_hex(12)
        self._configured = False
        self._sender: SlackClientSimulator | None = None
        self._bot_events: frozenset[str] | None = None
        self._ack_timeout = SLACK_ACK_TIMEOUT
        self._retry_delays: tuple[float, ...] = SLACK_RETRY_DELAYS
        self._lost: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    async def configure(
        self,
        url: str | None,
        signing_secret: str | None = None,
        *,
        bot_events: Iterable[str] | None = None,
        ack_timeout: float = SLACK_ACK_TIMEOUT,
        retry_delays: Iterable[float] = SLACK_RETRY_DELAYS,
        verify: bool = True,
    ) -> None:
        """Start delivering events: to ``url`` over HTTP (after the ``url_verification``
        challenge, unless ``verify=False``), or over Socket Mode when ``url`` is None.

        ``bot_events`` are the manifest's ``event_subscriptions.bot_events`` (``None``: all).
        Raises :class:`EventsUrlRejected` when the URL does not echo the challenge.
        """
        self._bot_events = None if bot_events is None else frozenset(bot_events)
        self._ack_timeout = ack_timeout
        self._retry_delays = tuple(retry_delays)
        self._sender = None
        if url is not None:
            if not signing_secret:
                raise ValueError("Events over HTTP need the app's signing secret")
            self._sender = SlackClientSimulator(
                url,
                signing_secret,
                team_id=self._ws.team_id,
                api_app_id=self._ws.app_id,
                bot_user_id=self._ws.bot_user_id,
                verification_token=self.verification_token,
                timeout=ack_timeout,
            )
            if verify:
                await self._verify(self._sender)
        self._configured = True

    async def _verify(self, sender: SlackClientSimulator) -> None:
        challenge = secrets.token_urlsafe(24)
        answer = await sender.url_verification(challenge)
        echoed = answer.json.get("challenge") if isinstance(answer.json, dict) else answer.body
        if answer.status != 200 or echoed != challenge:
            raise EventsUrlRejected(
                f"The Request URL {sender.endpoint_url} answered the url_verification "
                f"challenge with HTTP {answer.status} and {answer.body[:200]!r}, "
                "not the challenge, so Slack would not save it."
            )

    def lose_next(self, times: int = 1, outcome: Outcome = "http_timeout") -> None:
        """The next ``times`` attempts never reach the app (as if the network lost them);
        they are recorded with ``outcome`` and Slack's retries follow."""
        self._lost.extend([outcome] * times)

    # ---------------------------------------------------------------- publishing

    def publish(self, event: JSONDict) -> None:
        """Deliver ``event`` if delivery is configured and the app subscribes to it."""
        if not self._configured:
            return
        if self._bot_events is not None and subscription_of(event) not in self._bot_events:
            return
        envelope = self._envelope(event)
        transport: Literal["http", "socket_mode"] | None = None
        if self._sender is not None:
            transport = "http"
        elif self._socket_mode.connected:
            transport = "socket_mode"
        delivery = EventDelivery(envelope, transport)
        self.deliveries.append(delivery)
        if transport is None:
            delivery.settled = True
            return
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _envelope(self, event: JSONDict) -> JSONDict:
        ws = self._ws
        alphabet = string.ascii_uppercase + string.digits
        return {
            "token": self.verification_token,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + "".join(secrets.choice(alphabet) for _ in range(10)),
            "event_time": ws.now(),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(32),
        }

    async def _deliver(self, delivery: EventDelivery) -> None:
        try:
            attempt = await self._attempt(delivery, 0, None)
            for retry_num, delay in enumerate(self._retry_delays, start=1):
                if attempt.outcome == "ok" or attempt.no_retry:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                if self._closing.is_set():
                    return
                attempt = await self._attempt(delivery, retry_num, attempt.outcome)
        finally:
            delivery.settled = True
            self._notify()

    async def _attempt(
        self, delivery: EventDelivery, retry_num: int, reason: str | None, *, forced: bool = False
    ) -> DeliveryAttempt:
        if self._lost and not forced:
            attempt = DeliveryAttempt(retry_num, reason, self._lost.pop(0), None, "", sent=False)
        elif delivery.transport == "socket_mode":
            attempt = await self._over_socket(delivery, retry_num, reason, forced)
        else:
            attempt = await self._over_http(delivery, retry_num, reason, forced)
        delivery.attempts.append(attempt)
        self._notify()
        return attempt

    async def _over_http(
        self, delivery: EventDelivery, retry_num: int, reason: str | None, forced: bool
    ) -> DeliveryAttempt:
        assert self._sender is not None
        body = json.dumps(delivery.envelope).encode()
        how = Delivery(retry_num=retry_num or None, retry_reason=reason)
        try:
            answer = await self._sender.post_raw(body, "application/json", delivery=how)
        except TimeoutError:
            return DeliveryAttempt(retry_num, reason, "http_timeout", None, "", forced)
        except aiohttp.ClientError as exc:
            return DeliveryAttempt(retry_num, reason, "connection_failed", None, str(exc), forced)
        outcome: Outcome = "ok" if 200 <= answer.status < 300 else "http_error"
        headers = {k.lower(): v for k, v in answer.headers.items()}
        no_retry = outcome != "ok" and headers.get("x-slack-no-retry") == "1"
        return DeliveryAttempt(
            retry_num, reason, outcome, answer.status, answer.body, forced, no_retry=no_retry
        )

    async def _over_socket(
        self, delivery: EventDelivery, retry_num: int, reason: str | None, forced: bool
    ) -> DeliveryAttempt:
        try:
            ack = await self._socket_mode.send(
                "events_api",
                delivery.envelope,
                within=self._ack_timeout,
                retry_attempt=retry_num,
                retry_reason="timeout" if reason else "",
            )
        except TimeoutError:
            return DeliveryAttempt(retry_num, reason, "http_timeout", None, "", forced)
        except RuntimeError as exc:  # no client connected
            return DeliveryAttempt(retry_num, reason, "connection_failed", None, str(exc), forced)
        return DeliveryAttempt(retry_num, reason, "ok", None, json.dumps(ack), forced)

    # ---------------------------------------------------------------- for tests

    async def redeliver(self, event_id: str, reason: str = "http_timeout") -> DeliveryAttempt:
        """Send an event again now, as Slack's next retry (``X-Slack-Retry-Num`` one more
        than the last attempt's), even though the app acknowledged it: for dedupe tests."""
        delivery = next((d for d in self.deliveries if d.event_id == event_id), None)
        if delivery is None or delivery.transport is None:
            raise KeyError(f"no delivered event {event_id}")
        number = max((a.retry_num for a in delivery.attempts), default=0) + 1
        return await self._attempt(delivery, number, reason, forced=True)

    def delivered(
        self, event_type: str | None = None, subtype: str | None = None
    ) -> list[EventDelivery]:
        """Deliveries of events of ``event_type`` (and ``subtype``), in publishing order."""
        return [
            d
            for d in self.deliveries
            if (event_type is None or d.event.get("type") == event_type)
            and (subtype is None or d.event.get("subtype") == subtype)
        ]

    async def settle(self, within: float = 10.0) -> None:
        """Wait until no delivery has an automatic attempt pending."""
        async with asyncio.timeout(within):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop retrying and wait for attempts in flight."""
        self._closing.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
