"""Pages to PagerDuty through the page outbox, as the Events API v2 answers (202, 400,
429, 5xx, no answer), and PagerDuty's signed v3 webhooks back into the bot."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest

from bot.adapters.slack.ids import ActionId
from bot.adapters.store.paging import PageDelivery
from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from bot.domain.playbook import Severity
from bot.emulators.pagerduty import IncidentStatus, PagerDutyEmulator
from bot.services.messages import Messages
from bot.services.page_sender import PageSender

from .paging_support import (
    DEDUP,
    ENVIRON,
    KEY_L1,
    KEY_L2,
    WEBHOOK_SECRET,
    edited_playbook,
    open_incident,
    pages,
    pd_actions,
    said,
)

L1_DUE_IN = timedelta(minutes=29)  # from 09:11, where open_incident leaves the clock


@pytest.fixture
async def box(make_sandbox):
    return await make_sandbox(
        playbook=edited_playbook(), environ=ENVIRON, pagerduty_webhook_secret=WEBHOOK_SECRET
    )


async def _page_l1(box, redis_client, clock) -> None:
    await open_incident(box, redis_client, clock)
    clock.advance(L1_DUE_IN)
    await box.runtime.paging.timer.replan()
    await box.settle()


async def test_a_400_is_said_in_the_channel_in_pagerdutys_words(make_sandbox, redis_client, clock):
    bad_key = "0123456789abcdef-123456789abcdef"  # 32 characters, but not alphanumeric
    box = await make_sandbox(
        playbook=edited_playbook(), environ={**ENVIRON, "PD_ROUTING_KEY_L1": bad_key}
    )
    await _page_l1(box, redis_client, clock)
    assert [e.status for e in box.pagerduty.events] == [400]
    [refusal] = said(box, "refused the trigger")
    assert refusal == (
        f":warning: PagerDuty (PD_ROUTING_KEY_L1) refused the trigger for `{DEDUP}` (HTTP 400): "
        "Event object is invalid: 'routing_key' cannot contain non-alphanumeric characters. "
        "Sending it again will not help: fix the playbook or the pager's configuration, "
        "then page again."
    )
    assert bad_key not in refusal
    [row] = await box.runtime.store.page_deliveries(1)
    assert (row.state, row.attempts) == ("failed", 1)
    clock.advance(timedelta(hours=1))
    await box.settle()
    await box.command("alice", "ack")  # nothing to acknowledge: PagerDuty opened nothing
    assert [e.status for e in box.pagerduty.events] == [400]


async def test_a_429_waits_for_retry_after_then_goes_once(box, redis_client, clock):
    box.pagerduty.rate_limit_next(retry_after=7)
    await _page_l1(box, redis_client, clock)
    assert [e.status for e in box.pagerduty.events] == [429]
    [row] = await box.runtime.store.page_deliveries(1)
    assert row.state == "pending" and row.not_before == clock() + timedelta(seconds=7)
    assert "(rate limited (HTTP 429)); trying again in 7 s." in (row.error or "")
    clock.advance(timedelta(seconds=6))
    await box.settle()
    assert [e.status for e in box.pagerduty.events] == [429]  # Retry-After is honoured
    clock.advance(timedelta(seconds=1))
    await box.settle()
    assert [e.status for e in box.pagerduty.events] == [429, 202]
    assert box.pagerduty.incident(DEDUP, KEY_L1).status is IncidentStatus.TRIGGERED


async def test_server_errors_back_off_and_the_channel_hears_of_a_late_page(
    box, redis_client, clock
):
    box.pagerduty.fail_next(503, times=3)
    await _page_l1(box, redis_client, clock)
    for _ in range(2):  # 10 s each: PagerDuty's default after a 5xx, over our 5 s, 10 s
        clock.advance(timedelta(seconds=10))
        await box.settle()
    assert [e.status for e in box.pagerduty.events] == [503, 503, 503]
    [late] = said(box, "did not take the trigger")
    assert late == (
        f":hourglass_flowing_sand: PagerDuty (PD_ROUTING_KEY_L1) did not take the trigger for "
        f"`{DEDUP}` yet (HTTP 503); trying again in 20 s. (3 attempts so far; the bot keeps "
        "trying.)"
    )
    clock.advance(timedelta(seconds=20))  # backoff after the third attempt: 20 s
    await box.settle()
    assert [e.status for e in box.pagerduty.events] == [503, 503, 503, 202]
    assert said(box, "took the trigger for incident #1 at attempt 4")


async def test_a_missing_routing_key_is_said_when_the_page_is_due_and_in_readyz(
    make_sandbox, redis_client, clock
):
    environ = {k: v for k, v in ENVIRON.items() if k != "PD_ROUTING_KEY_L1"}
    box = await make_sandbox(playbook=edited_playbook(), environ=environ)
    async with (
        aiohttp.ClientSession() as http,
        http.get(box.base_url + "/readyz") as response,
    ):
        ready = response.status, await response.json()
    assert ready[0] == 200  # Slack paging still works: not a reason to stop serving
    assert ready[1]["paging"]["PagerDuty (PD_ROUTING_KEY_L1)"] == (
        "The playbook pages PagerDuty with the secret in `PD_ROUTING_KEY_L1`, "
        "but that environment variable is not set."
    )
    assert ready[1]["paging"]["PagerDuty (PD_ROUTING_KEY_L2)"] == "ok"
    await _page_l1(box, redis_client, clock)
    [page] = pages(box)
    assert "Also paged" not in page
    [warning] = said(box, "did not go to")
    assert warning == (
        ":warning: This page did not go to PagerDuty (PD_ROUTING_KEY_L1): The playbook pages "
        "PagerDuty with the secret in `PD_ROUTING_KEY_L1`, but that environment variable is "
        "not set. Set it and restart the bot; until then, reach them another way."
    )
    assert box.pagerduty.events == []
    [row] = await box.runtime.store.page_deliveries(1)
    assert row.state == "failed"


# ------------------------------------------------------------------ v3 webhooks in


async def test_acknowledged_in_pagerduty_acknowledges_here_once(box, redis_client, clock):
    await _page_l1(box, redis_client, clock)
    await box.command("bob", "escalate 2")  # L2's own PagerDuty service is paged too
    delivery = await box.pagerduty.acknowledge_incident(
        DEDUP,
        webhook_url=box.pagerduty_url,
        secrets=[WEBHOOK_SECRET],
        agent=("PLH1HKV", "Dana On-Call"),
    )
    assert delivery.status == 200
    assert json.loads(delivery.body)["result"] == "acknowledged incident #1"
    await box.settle()
    [told] = said(box, "in PagerDuty")
    assert told.startswith(":white_check_mark: Dana On-Call acknowledged incident #1 in PagerDuty")
    assert told.endswith("; paging stops.")
    incident = await box.runtime.store.get_incident(1)
    assert incident.state.value == "acknowledged"
    timeline = [e.text for e in await box.runtime.store.timeline(1)]
    assert "Acknowledged in PagerDuty by Dana On-Call" in timeline
    # The other pager triggered for the incident is acknowledged too.
    assert box.pagerduty.incident(DEDUP, KEY_L2).status is IncidentStatus.ACKNOWLEDGED
    # PagerDuty redelivers the same event: processed once.
    again = await box.pagerduty.send_webhook(box.pagerduty_url, delivery.payload, [WEBHOOK_SECRET])
    assert json.loads(again.body)["result"] == "already processed: acknowledged incident #1"
    await box.settle()
    assert len(said(box, "in PagerDuty")) == 1
    clock.advance(timedelta(hours=3))  # the tiers' timers stopped
    await box.runtime.paging.timer.replan()
    await box.settle()
    assert len(pages(box)) == 2


async def test_resolved_in_pagerduty_is_said_and_resolve_is_offered(box, redis_client, clock):
    await _page_l1(box, redis_client, clock)
    delivery = await box.pagerduty.resolve_incident(
        DEDUP, webhook_url=box.pagerduty_url, secrets=[WEBHOOK_SECRET]
    )
    assert json.loads(delivery.body)["result"] == (
        "noted on incident #1: resolved in PagerDuty, left open in Backlog Bot until a person "
        "resolves it there"
    )
    await box.settle()
    message = box.find_message(ActionId.RESOLVE.value)
    assert message is not None
    assert "Dana On-Call resolved the PagerDuty incident for incident #1" in message.text
    incident = await box.runtime.store.get_incident(1)
    assert incident.state.value == "acknowledged"  # still open; paging stops
    answer = await box.click("alice", message, ActionId.RESOLVE.value)
    assert answer.text == "Incident #1 resolved; report posted."
    assert (await box.runtime.store.get_incident(1)).state.value == "resolved"
    assert [a for a, _ in pd_actions(box)] == ["trigger", "acknowledge", "resolve"]


async def test_events_about_other_incidents_are_answered_not_ours(box, redis_client, clock):
    await _page_l1(box, redis_client, clock)
    alert = box.pagerduty.incident(DEDUP)
    for key, expected in [
        ("srv01/mysql", "not ours: the PagerDuty incident's key is not a Backlog Bot dedup key"),
        ("backlog-bot/other-playbook/1", "not ours: it belongs to the playbook 'other-playbook'"),
        ("backlog-bot/phishnet-queue-backlog/99", "not ours: there is no incident #99"),
    ]:
        alert.dedup_key = key
        payload = box.pagerduty.webhook_payload("incident.acknowledged", alert)
        answer = await box.pagerduty.send_webhook(box.pagerduty_url, payload, [WEBHOOK_SECRET])
        assert (answer.status, json.loads(answer.body)["result"]) == (200, expected)
    forged = await box.pagerduty.send_webhook(box.pagerduty_url, payload, ["not-the-secret"])
    assert forged.status == 401
    assert (await box.runtime.store.get_incident(1)).state.value == "open"


async def test_no_webhook_secret_no_endpoint(make_sandbox):
    box = await make_sandbox(playbook=edited_playbook(), environ=ENVIRON)
    async with (
        aiohttp.ClientSession() as http,
        http.post(box.pagerduty_url, data=b"{}") as response,
    ):
        assert response.status == 404


# ------------------------------------------------------------------ the sender itself


async def test_two_senders_and_a_pagerduty_that_does_not_answer_send_once(store, clock):
    """The first sender's call hangs; the second finds the row leased, and once the first
    gives up the row waits for its retry time: one trigger reaches PagerDuty."""
    incident, _ = await store.open_incident(
        playbook="phishnet-queue-backlog",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        rule="EmailQueueBacklog",
        queue="email_processing_queue",
        depth=1500,
        at=clock(),
    )
    async with PagerDutyEmulator() as pagerduty:
        await store.enqueue_page_delivery(
            incident_id=incident.id,
            tier=1,
            target_kind="pagerduty",
            target_env="PD_ROUTING_KEY_L1",
            action="trigger",
            dedup_key=DEDUP,
            channel=INCIDENT_CHANNEL_ID,
            at=clock(),
            content={"summary": "backlog", "source": "phishnet/q", "severity": "warning"},
        )
        senders = [
            PageSender(
                store,
                Messages(clock),
                clock=clock,
                events_url=pagerduty.events_url,
                environ=ENVIRON,
                timeout=0.3,
            )
            for _ in range(2)
        ]
        pagerduty.hang_next()
        claimed = await asyncio.gather(*(s.deliver_due() for s in senders))
        assert sorted(claimed) == [0, 1]
        [row] = await store.page_deliveries(incident.id)
        assert row.state == "pending" and "no answer within 0.3 s" in (row.error or "")
        assert await asyncio.gather(*(s.deliver_due() for s in senders)) == [0, 0]
        clock.advance(timedelta(seconds=10))
        assert sorted(await asyncio.gather(*(s.deliver_due() for s in senders))) == [0, 1]
        assert [e.action for e in pagerduty.accepted()] == ["trigger"]
        [row] = await store.page_deliveries(incident.id)
        assert isinstance(row, PageDelivery) and (row.state, row.attempts) == ("delivered", 2)
        for sender in senders:
            await sender.stop()
