"""PagerDuty's v3 webhooks as the emulator sends them: body, headers, signature.

Shapes from PagerDuty's "Webhooks v3 Overview" (the ``event`` envelope, the
``incident`` data type with ``incident_key``), "Verifying Signatures"
(``X-PagerDuty-Signature: v1=<hex>,v1=<hex>``) and "Webhook Behavior"
(``X-Webhook-Id``, unique per webhook and repeated on redelivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from bot.emulators.pagerduty.events_api import EmulatedIncident, JSONDict, json_object


@dataclass(frozen=True)
class WebhookDelivery:
    """A v3 webhook the emulator sent and the receiver's answer."""

    status: int
    body: str
    payload: JSONDict
    headers: dict[str, str]


def signature_header(body: bytes, secrets: Sequence[str]) -> str:
    """``v1=<hex HMAC-SHA256(secret, body)>`` per secret, comma-separated, as PagerDuty
    signs v3 webhooks (several while it rotates a subscription's secret)."""
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets
    )


def iso(at: float) -> str:
    """Unix seconds as PagerDuty writes times: ``2020-10-02T18:45:22.169Z``."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_payload(
    event_type: str,
    incident: EmulatedIncident,
    *,
    occurred_at: float,
    subdomain: str = "acme",
    agent: tuple[str, str] | None = ("PUSER01", "Dana On-Call"),
    event_id: str | None = None,
) -> JSONDict:
    """A v3 webhook body about ``incident``; ``agent`` is (user id, name) or None."""
    base = f"https://{subdomain}.pagerduty.com"
    who = None
    if agent is not None:
        who = {
            "html_url": f"{base}/users/{agent[0]}",
            "id": agent[0],
            "self": f"https://api.pagerduty.com/users/{agent[0]}",
            "summary": agent[1],
            "type": "user_reference",
        }
    return {
        "event": {
            "id": event_id or str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": iso(occurred_at),
            "agent": who,
            "client": None,
            "data": {
                "id": incident.id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident.id}",
                "html_url": f"{base}/incidents/{incident.id}",
                "number": incident.number,
                "status": incident.status.value,
                "incident_key": incident.dedup_key,
                "created_at": iso(incident.created_at),
                "title": incident.summary,
                "urgency": "high",
                "resolve_reason": None,
            },
        }
    }


async def send_webhook(
    url: str,
    payload: JSONDict | bytes,
    secrets: Sequence[str],
    *,
    signature: str | None = None,
) -> WebhookDelivery:
    """POSTs ``payload`` to ``url`` signed with each of ``secrets`` (or with the literal
    ``signature`` header, to test forgeries) and returns the receiver's answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-Webhook-Id": str(uuid.uuid4()),
        "X-Webhook-Subscription": "PSUB001",
        "X-PagerDuty-Signature": (
            signature if signature is not None else signature_header(body, secrets)
        ),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=headers) as response,
    ):
        text = await response.text()
    parsed = payload if isinstance(payload, dict) else (json_object(body) or {})
    return WebhookDelivery(status=response.status, body=text, payload=parsed, headers=headers)
