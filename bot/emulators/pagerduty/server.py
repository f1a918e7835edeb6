"""The PagerDuty emulator's HTTP side and its alert state (see the package docstring)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.emulators.pagerduty.events_api import (
    EVENTS_PATH,
    MAX_EVENT_BYTES,
    UNRECOGNIZED,
    EmulatedIncident,
    IncidentStatus,
    JSONDict,
    RecordedEvent,
    json_object,
    validate_event,
)
from bot.emulators.pagerduty.webhooks import WebhookDelivery, send_webhook, webhook_payload

# Ours: PagerDuty documents that a 429 happens, not its body.
_THROTTLED: JSONDict = {
    "status": "throttle event",
    "message": "Requests for this service are arriving too quickly. Please retry later.",
}


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    hang: bool = False


class PagerDutyEmulator:
    """PagerDuty's Events API v2 on ``127.0.0.1:<free port>``, plus its v3 webhooks.

    ``clock`` gives unix seconds (recorded times, webhook ``occurred_at``). Runs on the
    event loop that started it; there is no locking.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, subdomain: str = "acme") -> None:
        self._clock = clock
        self.subdomain = subdomain
        self.events: list[RecordedEvent] = []
        self.incidents: list[EmulatedIncident] = []
        self._faults: deque[_Fault] = deque()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("the PagerDuty emulator is already running")
        app = web.Application(client_max_size=4 * MAX_EVENT_BYTES)
        app.router.add_post(EVENTS_PATH, self._enqueue)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._release.clear()
        self._base_url = f"http://{host}:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._release.set()  # hung requests answer now, so the server can shut down
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> PagerDutyEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the PagerDuty emulator is not started")
        return self._base_url

    @property
    def events_url(self) -> str:
        """Give it to the client as ``PAGERDUTY_EVENTS_URL``."""
        return self.base_url + EVENTS_PATH

    # ---------------------------------------------------------------- faults

    def fail_next(
        self, status: int = 500, *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """The next ``times`` requests get HTTP ``status`` (a 5xx); nothing is applied."""
        for _ in range(times):
            self._faults.append(_Fault(status, None if retry_after is None else str(retry_after)))

    def rate_limit_next(self, retry_after: int | str | None = 1, *, times: int = 1) -> None:
        """The next ``times`` requests get 429 (with ``Retry-After`` unless None)."""
        for _ in range(times):
            self._faults.append(_Fault(429, None if retry_after is None else str(retry_after)))

    def hang_next(self, *, times: int = 1) -> None:
        """The next ``times`` requests get no answer until the emulator stops."""
        for _ in range(times):
            self._faults.append(_Fault(0, None, hang=True))

    # ---------------------------------------------------------------- reading

    def incident(self, dedup_key: str, routing_key: str | None = None) -> EmulatedIncident | None:
        """The latest incident for ``dedup_key`` (on ``routing_key`` when given)."""
        for incident in reversed(self.incidents):
            if incident.dedup_key == dedup_key and routing_key in (None, incident.routing_key):
                return incident
        return None

    def accepted(self, action: str | None = None) -> list[RecordedEvent]:
        """The events answered 202, optionally only one action's."""
        return [e for e in self.events if e.status == 202 and action in (None, e.action)]

    # ---------------------------------------------------------------- Events API

    async def _enqueue(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self._faults:
            return await self._fault(self._faults.popleft(), raw)
        event = json_object(raw)
        if event is None:
            self.events.append(RecordedEvent(self._clock(), 400, None))
            return web.json_response(UNRECOGNIZED, status=400)
        errors = validate_event(event)
        if len(raw) > MAX_EVENT_BYTES:
            errors.append("Event exceeds the maximum size of 512 KB")
        action, dedup = event.get("event_action"), event.get("dedup_key")
        record = RecordedEvent(
            self._clock(),
            400 if errors else 202,
            event,
            action=action if isinstance(action, str) else None,
            dedup_key=dedup if isinstance(dedup, str) else None,
            errors=tuple(errors),
        )
        self.events.append(record)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        # PagerDuty makes a key for a trigger sent without one, and returns it.
        record.dedup_key = record.dedup_key or uuid.uuid4().hex
        record.dropped = not self._apply(event, record.dedup_key)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": record.dedup_key},
            status=202,
        )

    async def _fault(self, fault: _Fault, raw: bytes) -> web.Response:
        if fault.hang:
            await self._release.wait()
            return web.json_response({"status": "unavailable"}, status=503)
        self.events.append(RecordedEvent(self._clock(), fault.status, json_object(raw)))
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        body = _THROTTLED if fault.status == 429 else {"status": "error", "message": "Error"}
        return web.json_response(body, status=fault.status, headers=headers)

    def _apply(self, event: JSONDict, dedup_key: str) -> bool:
        """Applies a valid event; False when it was dropped (nothing open to act on).

        PagerDuty: a trigger opens an alert or adds to the open one with that key (an
        acknowledged one stays acknowledged); acknowledge and resolve act on the open
        alert sent through the same routing key, else they are dropped.
        """
        key, action = event["routing_key"], event["event_action"]
        current = self.incident(dedup_key, key)
        is_open = current is not None and current.status is not IncidentStatus.RESOLVED
        if action == "trigger":
            if current is not None and is_open:
                current.triggers += 1
                current.history.append("trigger")
            else:
                self.incidents.append(self._new_incident(event, dedup_key))
            return True
        if current is None or not is_open:
            return False
        current.status = (
            IncidentStatus.ACKNOWLEDGED if action == "acknowledge" else IncidentStatus.RESOLVED
        )
        current.history.append(action)
        return True

    def _new_incident(self, event: JSONDict, dedup_key: str) -> EmulatedIncident:
        payload = event["payload"]
        number = len(self.incidents) + 1
        return EmulatedIncident(
            id=f"Q{number:06d}",
            number=number,
            routing_key=event["routing_key"],
            dedup_key=dedup_key,
            status=IncidentStatus.TRIGGERED,
            summary=payload["summary"],
            severity=payload["severity"],
            source=payload["source"],
            created_at=self._clock(),
            custom_details=dict(payload.get("custom_details") or {}),
            links=list(event.get("links") or []),
            client_url=event.get("client_url"),
            history=["trigger"],
        )

    # ---------------------------------------------------------------- v3 webhooks out

    def webhook_payload(
        self, event_type: str, incident: EmulatedIncident, **kwargs: Any
    ) -> JSONDict:
        """A v3 webhook body about ``incident``, now; ``kwargs``: ``agent=(id, name)``
        or None, ``event_id``."""
        return webhook_payload(
            event_type, incident, occurred_at=self._clock(), subdomain=self.subdomain, **kwargs
        )

    async def send_webhook(
        self,
        url: str,
        payload: JSONDict | bytes,
        secrets: Sequence[str],
        *,
        signature: str | None = None,
    ) -> WebhookDelivery:
        """POSTs ``payload`` to ``url`` signed with each of ``secrets`` (or with the
        literal ``signature`` header, to test forgeries); returns the receiver's answer."""
        return await send_webhook(url, payload, secrets, signature=signature)

    async def acknowledge_incident(
        self, dedup_key: str, *, webhook_url: str, secrets: Sequence[str], **kwargs: Any
    ) -> WebhookDelivery:
        """Someone acknowledges the open incident in PagerDuty: its state changes and
        ``incident.acknowledged`` goes to ``webhook_url``. ``kwargs`` as for
        :meth:`webhook_payload`. Raises ``LookupError`` when no incident is open."""
        incident = self._open(dedup_key)
        incident.status = IncidentStatus.ACKNOWLEDGED
        incident.history.append("acknowledged in PagerDuty")
        payload = self.webhook_payload("incident.acknowledged", incident, **kwargs)
        return await send_webhook(webhook_url, payload, secrets)

    async def resolve_incident(
        self, dedup_key: str, *, webhook_url: str, secrets: Sequence[str], **kwargs: Any
    ) -> WebhookDelivery:
        """Someone resolves the open incident in PagerDuty; ``incident.resolved`` is sent."""
        incident = self._open(dedup_key)
        incident.status = IncidentStatus.RESOLVED
        incident.history.append("resolved in PagerDuty")
        payload = self.webhook_payload("incident.resolved", incident, **kwargs)
        return await send_webhook(webhook_url, payload, secrets)

    def _open(self, dedup_key: str) -> EmulatedIncident:
        incident = self.incident(dedup_key)
        if incident is None or incident.status is IncidentStatus.RESOLVED:
            raise LookupError(f"no open PagerDuty incident for {dedup_key!r}")
        return incident
