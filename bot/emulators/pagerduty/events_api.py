"""The Events API v2's rules as the emulator applies them, and what it keeps: each
request it answered and each alert's state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

EVENTS_PATH = "/v2/enqueue"
# PagerDuty, "Send an Alert Event" and "Events API v2 Overview" (Size Limits).
ROUTING_KEY_LENGTH = 32
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_EVENT_BYTES = 512 * 1024
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")

JSONDict = dict[str, Any]

#: The Events v2 OpenAPI's example error, for a body that is not a JSON object.
UNRECOGNIZED: JSONDict = {
    "status": "Unrecognized object",
    "message": "Event object format is unrecognized",
    "errors": ["JSON parse error"],
}


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass
class RecordedEvent:
    """One request to the Events API and what the emulator answered."""

    at: float
    status: int
    body: JSONDict | None  #: the parsed request, None when it was not a JSON object
    action: str | None = None
    dedup_key: str | None = None
    errors: tuple[str, ...] = ()
    dropped: bool = False  #: accepted but applied to nothing (no open alert)


@dataclass
class EmulatedIncident:
    """One alert (and its incident) as PagerDuty would show it."""

    id: str
    number: int
    routing_key: str = field(repr=False)
    dedup_key: str
    status: IncidentStatus
    summary: str
    severity: str
    source: str
    created_at: float
    custom_details: JSONDict = field(default_factory=dict)
    links: list[JSONDict] = field(default_factory=list)
    client_url: str | None = None
    triggers: int = 1
    history: list[str] = field(default_factory=list)  #: actions applied, in order


def json_object(raw: bytes) -> JSONDict | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


def validate_event(event: JSONDict) -> list[str]:
    """What PagerDuty would list in ``errors`` for this event (empty: valid)."""
    errors: list[str] = []
    key = event.get("routing_key")
    if _blank(key):
        errors.append("'routing_key' is missing or blank")
    elif len(str(key)) != ROUTING_KEY_LENGTH:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if not _blank(key) and not (str(key).isascii() and str(key).isalnum()):
        # PagerDuty's own words, seen with a 20-character v1 key (blockpane/tenderduty#10).
        errors.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = event.get("event_action")
    if _blank(action):
        errors.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        errors.append("Length of 'dedup_key' is too long (maximum is 255 characters)")
    if action in ("acknowledge", "resolve") and _blank(dedup):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _validate_trigger(event)
    return errors


def _validate_trigger(event: JSONDict) -> list[str]:
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if _blank(summary):
        errors.append("'payload.summary' is missing or blank")
    elif len(str(summary)) > MAX_SUMMARY:
        errors.append("Length of 'payload.summary' is too long (maximum is 1024 characters)")
    if _blank(payload.get("source")):
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append(
            "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
        )
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str):
        errors.append("'payload.custom_details' must be an object")
    links = event.get("links", [])
    if not isinstance(links, list) or any(
        not isinstance(link, dict) or _blank(link.get("href")) for link in links
    ):
        errors.append("'links' must be a list of objects with an 'href'")
    return errors
