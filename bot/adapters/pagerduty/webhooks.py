"""PagerDuty v3 webhooks in: signature-verified, parsed into :class:`PagerDutyEvent`.

Acknowledging or resolving in PagerDuty sends ``incident.acknowledged`` /
``incident.resolved``; :func:`pagerduty_webhook_handler` turns them into calls
of the bot's ``on_event``. Other event types (``incident.triggered``,
``incident.annotated``, PagerDuty's test ping…) are answered 200 "ignored".

Signatures (PagerDuty, "Verifying Signatures"): ``X-PagerDuty-Signature`` holds
one or more comma-separated ``v1=<hex HMAC-SHA256(secret, raw body)>`` — several
while PagerDuty rotates the subscription's secret; one match is enough. The
comparison is constant-time, on the raw bytes before any parsing.

Mapping back: the incident's ``data.incident_key`` is the dedup key of the
Events API alert that opened it, i.e. ours (``backlog-bot/<playbook>/<id>``,
see :attr:`PagerDutyEvent.incident`). If PagerDuty's alert grouping put our
alert into an incident something else opened, the key is not ours and
``incident`` is ``None``: the caller should answer "not ours" (a string), not
raise.

Replays: PagerDuty delivers at least once and retries on 429, 5xx and timeouts
(5 s) up to 5 attempts, with the same ``event.id`` each time. De-duplicating is
the caller's job: make ``on_event`` idempotent (acknowledging an acknowledged
incident changes nothing) or remember the event ids it has seen, and keep it
quick (record the fact, return) so PagerDuty is answered within 5 s.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.domain.paging import IncidentKey, parse_incident_dedup_key

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
_VERSION_PREFIX = "v1="


class PagerDutyEventType(StrEnum):
    ACKNOWLEDGED = "incident.acknowledged"
    RESOLVED = "incident.resolved"


@dataclass(frozen=True)
class PagerDutyAgent:
    """Who acted in PagerDuty: a user (``user_reference``) or, e.g., a service that
    auto-resolved (``service_reference``)."""

    id: str
    name: str | None
    kind: str | None


@dataclass(frozen=True)
class PagerDutyEvent:
    """An acknowledgement or resolution done in PagerDuty."""

    event_id: str  #: PagerDuty's ``event.id``: the same on every redelivery
    event_type: PagerDutyEventType
    occurred_at: datetime  #: timezone-aware
    pd_incident_id: str  #: PagerDuty's incident id, e.g. "PGR0VU2"
    incident_key: str | None  #: ``data.incident_key``: our dedup key when the alert was ours
    incident_url: str | None  #: the incident in PagerDuty's web app
    title: str | None
    agent: PagerDutyAgent | None

    @property
    def incident(self) -> IncidentKey | None:
        """Our incident this event is about, or ``None`` when the key is not ours."""
        return parse_incident_dedup_key(self.incident_key) if self.incident_key else None


@dataclass(frozen=True)
class IgnoredEvent:
    """A well-formed event of a type the bot does not act on."""

    event_id: str
    event_type: str


class WebhookPayloadError(ValueError):
    """A signed body we cannot use; ``str()`` says why (for the HTTP 400 body)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Agent(_Model):
    id: str = Field(min_length=1)
    summary: str | None = None
    type: str | None = None


class _Incident(_Model):
    id: str = Field(min_length=1)
    type: str
    incident_key: str | None = None
    html_url: str | None = None
    title: str | None = None


class _Event(_Model):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    occurred_at: AwareDatetime
    agent: _Agent | None = None
    data: dict[str, Any]


class _Body(_Model):
    event: _Event


def _signatures(header: str) -> list[bytes]:
    found = []
    for item in header.split(","):
        item = item.strip()
        if not item.startswith(_VERSION_PREFIX):
            continue  # a later signature version we do not know
        try:
            found.append(bytes.fromhex(item.removeprefix(_VERSION_PREFIX)))
        except ValueError:
            continue
    return found


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Whether one ``v1`` signature in ``header`` is HMAC-SHA256 of the raw ``body`` under
    one of ``secrets`` (each compared in constant time)."""
    if not header:
        return False
    offered = _signatures(header)
    expected = [
        hmac.new(secret.encode(), body, hashlib.sha256).digest() for secret in secrets if secret
    ]
    matched = False
    for mine in expected:
        for theirs in offered:
            # No early exit: the time taken says nothing about which part matched.
            matched |= hmac.compare_digest(mine, theirs)
    return matched


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "body"


def parse_event(body: bytes) -> PagerDutyEvent | IgnoredEvent:
    """A v3 webhook body as a typed event. Raises :class:`WebhookPayloadError` naming the
    field when the body is not a v3 event, or an acknowledged / resolved event lacks its
    incident."""
    try:
        envelope = _Body.model_validate_json(body).event
    except ValidationError as exc:
        first = exc.errors()[0]
        raise WebhookPayloadError(f"{_where(first)}: {first['msg']}") from exc
    try:
        kind = PagerDutyEventType(envelope.event_type)
    except ValueError:
        return IgnoredEvent(event_id=envelope.id, event_type=envelope.event_type)
    try:
        incident = _Incident.model_validate(envelope.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise WebhookPayloadError(f"event.data.{_where(first)}: {first['msg']}") from exc
    if incident.type != "incident":
        raise WebhookPayloadError(
            f"event.data.type: expected 'incident' for {kind.value}, got {incident.type!r}"
        )
    agent = envelope.agent
    return PagerDutyEvent(
        event_id=envelope.id,
        event_type=kind,
        occurred_at=envelope.occurred_at,
        pd_incident_id=incident.id,
        incident_key=incident.incident_key,
        incident_url=incident.html_url,
        title=incident.title,
        agent=PagerDutyAgent(id=agent.id, name=agent.summary, kind=agent.type) if agent else None,
    )


OnEvent = Callable[[PagerDutyEvent], Awaitable[str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def pagerduty_webhook_handler(secret: str | Sequence[str], on_event: OnEvent) -> Handler:
    """An aiohttp handler for PagerDuty's v3 webhooks.

    ``secret`` is the subscription's signing secret (``PAGERDUTY_WEBHOOK_SECRET``), or
    several while we rotate ours. ``on_event`` is awaited for each acknowledged /
    resolved event and returns what happened, in a sentence (e.g. "acknowledged incident
    #42", "not one of ours"). Answers:

    - 401 — signature missing or wrong (nothing parsed, nothing called);
    - 400 ``{"error": reason}`` — signed but not a usable v3 event (PagerDuty does not retry);
    - 200 ``{"status": "ignored", …}`` — another event type;
    - 200 ``{"status": "ok", "event_id", "result"}`` — ``on_event`` returned ``result``;
    - 500 — ``on_event`` raised: logged, and PagerDuty delivers the event again.

    Raises ``ValueError`` if no secret is given: an unsigned endpoint would let anyone
    acknowledge incidents.
    """
    secrets = (secret,) if isinstance(secret, str) else tuple(secret)
    if not any(secrets):
        raise ValueError("a PagerDuty webhook needs its signing secret (PAGERDUTY_WEBHOOK_SECRET)")

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), secrets):
            return web.json_response(
                {"error": f"missing or invalid {SIGNATURE_HEADER}"}, status=401
            )
        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if isinstance(event, IgnoredEvent):
            return web.json_response(
                {
                    "status": "ignored",
                    "event_id": event.event_id,
                    "reason": f"event type {event.event_type!r} needs nothing from the bot",
                }
            )
        try:
            result = await on_event(event)
        except Exception:
            # The boundary: PagerDuty retries a 5xx, so a passing failure heals itself.
            log.exception(
                "PagerDuty webhook event failed",
                extra={"event_id": event.event_id, "event_type": event.event_type.value},
            )
            return web.json_response(
                {"error": "the event could not be processed now; deliver it again"}, status=500
            )
        return web.json_response({"status": "ok", "event_id": event.event_id, "result": result})

    return handle
