"""Paging outside Slack over real HTTP: the Events API v2 client against the PagerDuty
emulator, v3 webhooks into our handler on loopback, and the generic webhook."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from bot import logs
from bot.adapters.pagerduty import (
    Accepted,
    PageContent,
    PagerDutyEvent,
    PagerDutyEvents,
    PagerSeverity,
    PagingWebhook,
    Rejected,
    RetryLater,
    RoutingKey,
    hook_url,
    pagerduty_webhook_handler,
    routing_key,
)
from bot.domain.paging import IncidentKey, PagerDutyTarget, WebhookTarget
from bot.emulators.pagerduty import IncidentStatus, PagerDutyEmulator, signature_header

KEY = "c0ffee00c0ffee00c0ffee00c0ffee00"
SECRET = "whsec-current-0123456789"
DEDUP = "backlog-bot/phishnet-queue-backlog/42"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CHANNEL_URL = "https://acme.slack.com/archives/C0INCIDENT/p1795856400000100"


@asynccontextmanager
async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], path: str):
    """``handler`` served at ``http://127.0.0.1:<free port><path>``."""
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyEmulator]:
    async with PagerDutyEmulator() as emulator:
        yield emulator


@pytest.fixture
def key() -> RoutingKey:
    return routing_key(
        PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_L1"), {"PD_ROUTING_KEY_L1": KEY}
    )


@pytest.fixture
async def events(pagerduty: PagerDutyEmulator) -> AsyncIterator[PagerDutyEvents]:
    async with PagerDutyEvents(pagerduty.events_url, timeout=5, clock=lambda: NOW) as client:
        yield client


def _page(**changes: object) -> PageContent:
    fields: dict[str, object] = {
        "dedup_key": DEDUP,
        "summary": "[phishnet-queue-backlog #42] Large email queue backlog detected",
        "source": "phishnet/email_processing_queue",
        "severity": PagerSeverity.WARNING,
        "why": "nobody acknowledged within 30m of detection",
        "depths": {"email_processing_queue": 12_400},
        "channel_url": CHANNEL_URL,
    }
    fields.update(changes)
    return PageContent(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------ Events API v2 out


async def test_trigger_acknowledge_resolve(pagerduty, key, events):
    outcome = await events.trigger(key, _page())
    assert outcome == Accepted("PagerDuty (PD_ROUTING_KEY_L1)", outcome.action, DEDUP, 202)
    incident = pagerduty.incident(DEDUP, KEY)
    assert incident is not None and incident.status is IncidentStatus.TRIGGERED
    assert incident.severity == "warning"
    assert incident.links == [{"href": CHANNEL_URL, "text": "Incident channel in Slack"}]
    assert incident.custom_details["depths"] == {"email_processing_queue": 12400}
    assert incident.custom_details["why"] == "nobody acknowledged within 30m of detection"

    assert isinstance(await events.acknowledge(key, DEDUP), Accepted)
    assert pagerduty.incident(DEDUP).status is IncidentStatus.ACKNOWLEDGED
    assert isinstance(await events.resolve(key, DEDUP), Accepted)
    assert pagerduty.incident(DEDUP).status is IncidentStatus.RESOLVED
    assert [e.action for e in pagerduty.accepted()] == ["trigger", "acknowledge", "resolve"]


async def test_a_400_is_rejected_with_pagerdutys_message(pagerduty, key, events):
    outcome = await events.trigger(key, _page(source=" "))
    assert isinstance(outcome, Rejected)
    assert (outcome.status, outcome.message, outcome.errors) == (
        400,
        "Event object is invalid",
        ("'payload.source' is missing or blank",),
    )
    assert outcome.sentence.startswith(
        f"PagerDuty (PD_ROUTING_KEY_L1) refused the trigger for `{DEDUP}` (HTTP 400): "
        "Event object is invalid: 'payload.source' is missing or blank. "
    )
    assert pagerduty.incidents == []


async def test_a_429_is_retried_after_pagerdutys_retry_after(pagerduty, key, events):
    pagerduty.rate_limit_next(retry_after=7)
    outcome = await events.trigger(key, _page())
    assert isinstance(outcome, RetryLater)
    assert (outcome.status, outcome.retry_after) == (429, timedelta(seconds=7))
    assert outcome.reason == "rate limited (HTTP 429)"
    assert pagerduty.incidents == []
    assert isinstance(await events.trigger(key, _page()), Accepted)  # the retry goes through


async def test_a_429_without_retry_after_waits_pagerdutys_30_seconds(pagerduty, key, events):
    pagerduty.rate_limit_next(retry_after=None)
    outcome = await events.acknowledge(key, DEDUP)
    assert isinstance(outcome, RetryLater) and outcome.retry_after == timedelta(seconds=30)


async def test_a_5xx_is_retried_later(pagerduty, key, events):
    pagerduty.fail_next(500)
    pagerduty.fail_next(503, retry_after=2)
    first = await events.trigger(key, _page())
    assert isinstance(first, RetryLater)
    assert (first.status, first.reason, first.retry_after) == (
        500,
        "HTTP 500",
        timedelta(seconds=10),
    )
    second = await events.trigger(key, _page())
    assert isinstance(second, RetryLater) and second.retry_after == timedelta(seconds=2)
    assert second.sentence == (
        f"PagerDuty (PD_ROUTING_KEY_L1) did not take the trigger for `{DEDUP}` yet "
        "(HTTP 503); trying again in 2 s."
    )


async def test_connection_refused_is_retried_later(key):
    with socket.socket() as probe:  # a port nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with PagerDutyEvents(f"http://127.0.0.1:{port}/v2/enqueue") as client:
        outcome = await client.resolve(key, DEDUP)
    assert isinstance(outcome, RetryLater)
    assert (outcome.status, outcome.reason) == (None, "could not connect")
    assert f"{port}" not in outcome.sentence  # the URL stays out of what people see


async def test_no_answer_in_time_is_retried_later(pagerduty, key):
    pagerduty.hang_next()
    async with PagerDutyEvents(pagerduty.events_url, timeout=0.2) as client:
        outcome = await client.trigger(key, _page())
    assert isinstance(outcome, RetryLater)
    assert (outcome.status, outcome.reason) == (None, "no answer within 0.2 s")


async def test_the_routing_key_never_reaches_the_log(pagerduty, key, events):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        await events.trigger(key, _page())
        await events.trigger(key, _page(summary=""))
        logging.getLogger("test").info("the key is %s", KEY)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    answered = [line for line in lines if line["msg"] == "pager answered"]
    assert [(line["outcome"], line["status"]) for line in answered] == [
        ("Accepted", 202),
        ("Rejected", 400),
    ]
    assert KEY not in stream.getvalue()
    assert lines[-1]["msg"] == "the key is [REDACTED]"


# ------------------------------------------------------------------ v3 webhooks in


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[PagerDutyEvent] = []
        self.fail = fail

    async def __call__(self, event: PagerDutyEvent) -> str:
        if self.fail:
            raise ConnectionError("database unreachable")
        self.events.append(event)
        incident = event.incident
        verb = event.event_type.value.removeprefix("incident.")
        return f"{verb} incident #{incident.incident_id}" if incident else "not one of ours"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    async with serve(pagerduty_webhook_handler(SECRET, recorder), "/pagerduty") as url:
        yield url, recorder


async def _open_incident(pagerduty: PagerDutyEmulator, key: RoutingKey) -> None:
    async with PagerDutyEvents(pagerduty.events_url) as client:
        assert isinstance(await client.trigger(key, _page()), Accepted)


async def test_acknowledged_in_pagerduty_reaches_on_event(pagerduty, key, receiver):
    url, recorder = receiver
    await _open_incident(pagerduty, key)
    delivery = await pagerduty.acknowledge_incident(
        DEDUP, webhook_url=url, secrets=[SECRET], agent=("PLH1HKV", "Dana On-Call")
    )
    assert delivery.status == 200
    assert json.loads(delivery.body) == {
        "status": "ok",
        "event_id": delivery.payload["event"]["id"],
        "result": "acknowledged incident #42",
    }
    [event] = recorder.events
    assert event.incident == IncidentKey("phishnet-queue-backlog", 42)
    assert event.agent is not None and (event.agent.id, event.agent.name) == (
        "PLH1HKV",
        "Dana On-Call",
    )
    assert event.pd_incident_id == pagerduty.incident(DEDUP).id
    assert pagerduty.incident(DEDUP).status is IncidentStatus.ACKNOWLEDGED

    resolved = await pagerduty.resolve_incident(DEDUP, webhook_url=url, secrets=[SECRET])
    assert json.loads(resolved.body)["result"] == "resolved incident #42"
    assert [e.event_type.value for e in recorder.events] == [
        "incident.acknowledged",
        "incident.resolved",
    ]


async def test_signatures_while_pagerduty_rotates_the_secret(pagerduty, key, receiver):
    url, recorder = receiver
    await _open_incident(pagerduty, key)
    delivery = await pagerduty.acknowledge_incident(
        DEDUP, webhook_url=url, secrets=["whsec-next-secret", SECRET]
    )
    assert delivery.headers["X-PagerDuty-Signature"].count("v1=") == 2
    assert delivery.status == 200 and len(recorder.events) == 1


async def test_bad_or_missing_signatures_are_refused(pagerduty, key, receiver):
    url, recorder = receiver
    await _open_incident(pagerduty, key)
    payload = pagerduty.webhook_payload("incident.acknowledged", pagerduty.incident(DEDUP))
    forged = await pagerduty.send_webhook(url, payload, ["guessed-secret"])
    assert forged.status == 401
    assert json.loads(forged.body) == {"error": "missing or invalid X-PagerDuty-Signature"}
    unsigned = await pagerduty.send_webhook(url, payload, [], signature="")
    assert unsigned.status == 401
    # A valid signature of another body: the body was changed on the way.
    other = json.dumps({"event": {}}).encode()
    tampered = await pagerduty.send_webhook(
        url, payload, [], signature=signature_header(other, [SECRET])
    )
    assert tampered.status == 401
    assert recorder.events == []


async def test_malformed_and_other_events(pagerduty, receiver):
    url, recorder = receiver
    broken = await pagerduty.send_webhook(url, b'{"event": {"id": "e1"}}', [SECRET])
    assert broken.status == 400
    assert json.loads(broken.body)["error"] == "event.event_type: Field required"
    not_json = await pagerduty.send_webhook(url, b"event=ack", [SECRET])
    assert (not_json.status, json.loads(not_json.body)["error"][:18]) == (400, "body: Invalid JSON")
    ping = {
        "event": {
            "id": "01DEN5KQ2P3WZUSKVPO4Y1V7M5",
            "event_type": "pagey.ping",
            "resource_type": "pagey",
            "occurred_at": "2026-11-28T09:00:00.000Z",
            "agent": None,
            "client": None,
            "data": {"message": "Hello from your friend Pagey!", "type": "ping"},
        }
    }
    ignored = await pagerduty.send_webhook(url, ping, [SECRET])
    assert ignored.status == 200
    assert json.loads(ignored.body) == {
        "status": "ignored",
        "event_id": "01DEN5KQ2P3WZUSKVPO4Y1V7M5",
        "reason": "event type 'pagey.ping' needs nothing from the bot",
    }
    assert recorder.events == []


async def test_a_failing_on_event_answers_500_so_pagerduty_retries(pagerduty, key, caplog):
    await _open_incident(pagerduty, key)
    async with serve(pagerduty_webhook_handler(SECRET, Recorder(fail=True)), "/pd") as url:
        with caplog.at_level(logging.ERROR):
            delivery = await pagerduty.acknowledge_incident(
                DEDUP, webhook_url=url, secrets=[SECRET]
            )
    assert delivery.status == 500
    assert json.loads(delivery.body) == {
        "error": "the event could not be processed now; deliver it again"
    }
    [record] = [r for r in caplog.records if r.getMessage() == "PagerDuty webhook event failed"]
    assert record.event_type == "incident.acknowledged"  # type: ignore[attr-defined]


def test_the_handler_needs_a_secret():
    with pytest.raises(ValueError, match="PAGERDUTY_WEBHOOK_SECRET"):
        pagerduty_webhook_handler("", Recorder())


# ------------------------------------------------------------------ generic webhook out


class HookReceiver:
    """A team's own pager endpoint: records bodies, answers what it is told to."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.answers: list[web.Response] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return (
            self.answers.pop(0) if self.answers else web.json_response({"result": "ok"}, status=202)
        )


async def test_generic_webhook_trigger_ack_resolve_and_refusals():
    hook = HookReceiver()
    async with (
        serve(hook.handle, "/hooks/T0KEN") as url,
        PagingWebhook(timeout=5, clock=lambda: NOW) as pager,
    ):
        target = hook_url(
            WebhookTarget(url_env="L1_PAGER_WEBHOOK_URL"), {"L1_PAGER_WEBHOOK_URL": url}
        )
        page = _page(severity=PagerSeverity.ERROR)
        assert isinstance(await pager.trigger(target, page), Accepted)
        assert isinstance(await pager.acknowledge(target, DEDUP), Accepted)
        assert isinstance(await pager.resolve(target, DEDUP), Accepted)
        assert [(b["action"], b["alias"]) for b in hook.bodies] == [
            ("trigger", DEDUP),
            ("acknowledge", DEDUP),
            ("resolve", DEDUP),
        ]
        assert hook.bodies[0]["priority"] == "P2"
        assert hook.bodies[0]["details"]["depth email_processing_queue"] == "12400"

        hook.answers = [
            web.json_response({"message": "alias is not allowed"}, status=422),
            web.json_response({"message": "busy"}, status=503, headers={"Retry-After": "20"}),
        ]
        refused = await pager.trigger(target, page)
        assert isinstance(refused, Rejected)
        assert refused.sentence.startswith(
            f"the paging webhook (L1_PAGER_WEBHOOK_URL) refused the trigger for `{DEDUP}` "
            "(HTTP 422): alias is not allowed."
        )
        assert "T0KEN" not in refused.sentence
        later = await pager.trigger(target, page)
        assert isinstance(later, RetryLater) and later.retry_after == timedelta(seconds=20)
