"""The PagerDuty emulator answers raw HTTP like the Events API v2 and keeps alert state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.emulators.pagerduty import IncidentStatus, PagerDutyEmulator

KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyEmulator]:
    async with PagerDutyEmulator(clock=lambda: 1_795_856_400.0) as emulator:
        yield emulator


async def _post(emulator: PagerDutyEmulator, body: object) -> tuple[int, dict, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(emulator.events_url, data=raw) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


def _trigger(dedup_key: str | None = "k1", routing_key: str = KEY, **payload: object) -> dict:
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "backlog", "source": "phishnet/q", "severity": "warning"} | payload,
    }
    if dedup_key is not None:
        event["dedup_key"] = dedup_key
    return event


def _follow_up(action: str, dedup_key: str, routing_key: str = KEY) -> dict:
    return {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}


async def test_accepts_a_trigger_like_pagerduty(pagerduty):
    status, body, _ = await _post(pagerduty, _trigger())
    assert (status, body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "k1"},
    )
    incident = pagerduty.incident("k1")
    assert incident is not None
    assert (incident.status, incident.summary, incident.severity) == (
        IncidentStatus.TRIGGERED,
        "backlog",
        "warning",
    )


async def test_a_trigger_without_dedup_key_gets_one(pagerduty):
    status, body, _ = await _post(pagerduty, _trigger(dedup_key=None))
    assert status == 202 and len(body["dedup_key"]) == 32
    assert pagerduty.incident(body["dedup_key"]) is not None


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        (
            _trigger(routing_key="short"),
            ["Length of 'routing_key' is incorrect (should be 32 characters)"],
        ),
        (
            {"routing_key": KEY, "event_action": "page"},
            ["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"],
        ),
        (
            _trigger(summary="", severity="urgent"),
            [
                "'payload.summary' is missing or blank",
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
            ],
        ),
        (
            _trigger(summary="x" * 1025),
            ["Length of 'payload.summary' is too long (maximum is 1024 characters)"],
        ),
        ({"routing_key": KEY, "event_action": "resolve"}, ["'dedup_key' is missing or blank"]),
        (
            _trigger(dedup_key="k" * 256),
            ["Length of 'dedup_key' is too long (maximum is 255 characters)"],
        ),
        (
            _trigger(custom_details={"blob": "x" * 600_000}),
            ["Event exceeds the maximum size of 512 KB"],
        ),
    ],
)
async def test_refuses_invalid_events_with_pagerdutys_body(pagerduty, event, errors):
    status, body, _ = await _post(pagerduty, event)
    assert status == 400
    assert body == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors,
    }
    assert pagerduty.incidents == []
    assert pagerduty.events[-1].errors == tuple(errors)


async def test_refuses_a_body_that_is_not_an_event_object(pagerduty):
    for raw in (b"{not json", b"[1, 2]"):
        status, body, _ = await _post(pagerduty, raw)
        assert status == 400
        assert body["status"] == "Unrecognized object"
        assert body["errors"] == ["JSON parse error"]


async def test_alert_lifecycle_per_routing_and_dedup_key(pagerduty):
    await _post(pagerduty, _trigger("k1"))
    await _post(pagerduty, _trigger("k1"))  # a repeat lands on the open alert
    assert len(pagerduty.incidents) == 1 and pagerduty.incident("k1").triggers == 2
    await _post(pagerduty, _follow_up("acknowledge", "k1", OTHER_KEY))  # other service: dropped
    assert pagerduty.incident("k1").status is IncidentStatus.TRIGGERED
    assert pagerduty.events[-1].dropped
    await _post(pagerduty, _follow_up("acknowledge", "k1"))
    await _post(pagerduty, _trigger("k1"))  # acknowledged stays acknowledged
    assert pagerduty.incident("k1").status is IncidentStatus.ACKNOWLEDGED
    await _post(pagerduty, _follow_up("resolve", "k1"))
    assert pagerduty.incident("k1").status is IncidentStatus.RESOLVED
    status, _, _ = await _post(pagerduty, _follow_up("resolve", "k1"))  # nothing open: dropped
    assert status == 202 and pagerduty.events[-1].dropped
    await _post(pagerduty, _trigger("k1"))  # after a resolve: a new incident
    assert len(pagerduty.incidents) == 2
    assert pagerduty.incident("k1").status is IncidentStatus.TRIGGERED
    assert pagerduty.incidents[0].history == [
        "trigger", "trigger", "acknowledge", "trigger", "resolve",
    ]  # fmt: skip


async def test_injected_faults(pagerduty):
    pagerduty.rate_limit_next(retry_after=7)
    pagerduty.fail_next(502)
    status, body, headers = await _post(pagerduty, _trigger())
    assert (status, headers["Retry-After"], body["status"]) == (429, "7", "throttle event")
    status, _, _ = await _post(pagerduty, _trigger())
    assert status == 502
    assert pagerduty.incidents == []  # neither was applied
    status, _, _ = await _post(pagerduty, _trigger())
    assert status == 202
    assert [e.status for e in pagerduty.events] == [429, 502, 202]
