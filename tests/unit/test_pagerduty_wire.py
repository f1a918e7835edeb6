"""PagerDuty on the wire, the pure parts: how an answer is classified (accepted,
rejected, retry later), how a v3 webhook is verified and read."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot import logs
from bot.adapters.pagerduty import (
    Accepted,
    EventAction,
    IgnoredEvent,
    PagerDutyEventType,
    Rejected,
    RetryLater,
    WebhookPayloadError,
    classify,
    parse_event,
    retry_delay,
    verify_signature,
)
from bot.domain.paging import IncidentKey

KEY_L1 = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

# ------------------------------------------------------------------ answers


def _classify(status: int, body: object = b"", headers: dict[str, str] | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return classify(
        status,
        raw,
        headers or {},
        target="PagerDuty (PD_ROUTING_KEY_L1)",
        action=EventAction.TRIGGER,
        dedup_key="backlog-bot/p/1",
        now=NOW,
    )


def test_classify_accepted_rejected_retry():
    accepted = _classify(202, {"status": "success", "dedup_key": "backlog-bot/p/1"})
    assert accepted == Accepted("PagerDuty (PD_ROUTING_KEY_L1)", EventAction.TRIGGER,
                                "backlog-bot/p/1", 202)  # fmt: skip
    rejected = _classify(
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["'payload.summary' is missing or blank"],
        },
    )
    assert isinstance(rejected, Rejected)
    assert rejected.sentence == (
        "PagerDuty (PD_ROUTING_KEY_L1) refused the trigger for `backlog-bot/p/1` (HTTP 400): "
        "Event object is invalid: 'payload.summary' is missing or blank. Sending it again "
        "will not help: fix the playbook or the pager's configuration, then page again."
    )
    not_found = _classify(404, b"<html><body>Not Found</body></html>")
    assert isinstance(not_found, Rejected)
    assert not_found.message == "<html><body>Not Found</body></html>"
    limited = _classify(429, {}, {"Retry-After": "45"})
    assert isinstance(limited, RetryLater)
    assert limited.retry_after == timedelta(seconds=45)
    assert limited.sentence == (
        "PagerDuty (PD_ROUTING_KEY_L1) did not take the trigger for `backlog-bot/p/1` yet "
        "(rate limited (HTTP 429)); trying again in 45 s."
    )
    assert _classify(429).retry_after == timedelta(seconds=30)
    assert _classify(503).retry_after == timedelta(seconds=10)


def test_retry_after_forms():
    default = timedelta(seconds=10)
    assert retry_delay("120", default, NOW) == timedelta(minutes=2)
    assert retry_delay("Sat, 28 Nov 2026 09:01:30 GMT", default, NOW) == timedelta(seconds=90)
    assert retry_delay("Sat, 28 Nov 2026 08:00:00 GMT", default, NOW) == timedelta(0)
    assert retry_delay("86400", default, NOW) == timedelta(hours=1)
    assert retry_delay("soon", default, NOW) == default
    assert retry_delay(None, default, NOW) == default


def test_a_secret_echoed_by_a_pager_never_reaches_the_sentence():
    logs.redact.register([KEY_L1])
    rejected = _classify(400, {"message": f"unknown routing key {KEY_L1}"})
    assert KEY_L1 not in rejected.sentence
    assert "[REDACTED]" in rejected.sentence


# ------------------------------------------------------------------ webhooks in


def _sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_verification_accepts_any_listed_v1_signature():
    body = b'{"event": {}}'
    assert verify_signature(body, _sign(body, "s3cret"), ["s3cret"])
    rotating = f"{_sign(body, 'old-secret')},{_sign(body, 's3cret')}"
    assert verify_signature(body, rotating, ["s3cret"])
    assert verify_signature(body, _sign(body, "new"), ["old", "new"])  # our own rotation
    assert not verify_signature(body, _sign(body, "other"), ["s3cret"])
    assert not verify_signature(body + b" ", _sign(body, "s3cret"), ["s3cret"])
    assert not verify_signature(body, "v2=" + _sign(body, "s3cret")[3:], ["s3cret"])
    assert not verify_signature(body, "v1=nothex", ["s3cret"])
    assert not verify_signature(body, None, ["s3cret"])


def _webhook(event_type: str = "incident.acknowledged", **data: object) -> bytes:
    incident = {
        "id": "PGR0VU2",
        "type": "incident",
        "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        "status": "acknowledged",
        "incident_key": "backlog-bot/phishnet-queue-backlog/42",
        "title": "Large email queue backlog detected",
    } | data
    return json.dumps(
        {
            "event": {
                "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-11-28T09:02:03.169Z",
                "agent": {"id": "PLH1HKV", "summary": "Dana On-Call", "type": "user_reference"},
                "client": None,
                "data": incident,
            }
        }
    ).encode()


def test_parse_acknowledged_event():
    event = parse_event(_webhook())
    assert not isinstance(event, IgnoredEvent)
    assert event.event_type is PagerDutyEventType.ACKNOWLEDGED
    assert event.event_id == "5ac64822-4adc-4fda-ade0-410becf0de4f"
    assert event.occurred_at == datetime(2026, 11, 28, 9, 2, 3, 169000, tzinfo=UTC)
    assert event.pd_incident_id == "PGR0VU2"
    assert event.incident == IncidentKey("phishnet-queue-backlog", 42)
    assert event.agent is not None and event.agent.name == "Dana On-Call"
    foreign = parse_event(_webhook("incident.resolved", incident_key="srv01/mysql"))
    assert not isinstance(foreign, IgnoredEvent) and foreign.incident is None


def test_other_event_types_are_ignored():
    ignored = parse_event(_webhook("incident.annotated", type="incident_note"))
    assert ignored == IgnoredEvent("5ac64822-4adc-4fda-ade0-410becf0de4f", "incident.annotated")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body: Invalid JSON"),
        (b'{"messages": []}', "event: Field required"),
        (
            json.dumps({"event": {"id": "e1", "event_type": "incident.resolved", "data": {}}}),
            "event.occurred_at: Field required",
        ),
        (_webhook(id=None), "event.data.id: Input should be a valid string"),
        (_webhook(type="incident_note"), "event.data.type: expected 'incident'"),
    ],
)
def test_malformed_bodies_say_which_field(body, reason):
    raw = body if isinstance(body, bytes) else body.encode()
    with pytest.raises(WebhookPayloadError) as caught:
        parse_event(raw)
    assert str(caught.value).startswith(reason)
