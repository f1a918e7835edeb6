"""A PagerDuty emulator on loopback: the Events API v2 in, v3 webhooks out.

``POST {events_url}`` (``/v2/enqueue``) answers as PagerDuty's Events API v2
does ("Send an Alert Event", "Events API v2 Overview", the Events v2 OpenAPI):

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": …}``;
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": […]}``
  for a routing key that is not 32 characters or not alphanumeric, an unknown
  ``event_action``, a trigger without ``payload.summary`` / ``source`` / a known
  ``severity``, a summary over 1,024 or a dedup key over 255 characters, an
  ``acknowledge`` / ``resolve`` without ``dedup_key``, or a body over 512 KB;
- 400 ``{"status": "Unrecognized object", "message": "Event object format is unrecognized",
  "errors": ["JSON parse error"]}`` for a body that is not a JSON object;
- 429 / 5xx (with ``Retry-After`` when asked) and hung requests, when told to.

It keeps each alert's state per (routing key, dedup key) the way PagerDuty
applies events: a trigger opens an incident or adds to the open one; acknowledge
and resolve move the open one and are dropped (still 202) when none is open; a
trigger after a resolve opens a new incident. Tests read :meth:`incident`.

Acting as a person in PagerDuty, :meth:`acknowledge_incident` /
:meth:`resolve_incident` change that state and send the signed v3 webhook
(``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>``, one per secret) to a URL.

Wording of individual ``errors`` items and of the 429 body is ours (PagerDuty
does not document them); their shapes are PagerDuty's.
"""

from bot.emulators.pagerduty.events_api import (
    EVENTS_PATH,
    EmulatedIncident,
    IncidentStatus,
    RecordedEvent,
    validate_event,
)
from bot.emulators.pagerduty.server import PagerDutyEmulator
from bot.emulators.pagerduty.webhooks import WebhookDelivery, signature_header, webhook_payload

__all__ = [
    "EVENTS_PATH",
    "EmulatedIncident",
    "IncidentStatus",
    "PagerDutyEmulator",
    "RecordedEvent",
    "WebhookDelivery",
    "signature_header",
    "validate_event",
    "webhook_payload",
]
