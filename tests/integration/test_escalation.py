"""Paging through the real store and Slack emulator, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.demo.sandbox import INCIDENT_CHANNEL_ID


async def _open_incident(sandbox, redis_client, clock) -> None:
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.runtime.monitor.tick()
        clock.advance(timedelta(minutes=1))


def _pages(sandbox) -> list[str]:
    return [
        m.text
        for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID)
        if "Escalating incident" in m.text
    ]


async def test_unacknowledged_incident_pages_each_tier_once(sandbox, redis_client, clock):
    await _open_incident(sandbox, redis_client, clock)  # detected at 09:10
    escalation = sandbox.runtime.escalation
    assert await escalation.tick() == clock() + timedelta(minutes=29)  # L1 at 09:40
    clock.advance(timedelta(minutes=29))
    await escalation.tick()
    await escalation.tick()  # a second tick (or replica) pages nobody twice
    pages = _pages(sandbox)
    assert len(pages) == 1
    assert "L1 — Senior DevOps Engineer*: <@U0SENIORDEVOPS>" in pages[0]
    assert "nobody acknowledged within 30m" in pages[0]
    clock.advance(timedelta(minutes=30))
    await escalation.tick()
    assert (
        "L2 — Engineering Team Lead + Product Owner*: <@U0ENGLEAD> <@U0PRODUCTOWNER>"
        in (_pages(sandbox)[-1])
    )
    await sandbox.command("alice", "ack")
    clock.advance(timedelta(hours=2))
    await escalation.tick()
    assert len(_pages(sandbox)) == 2  # acknowledged: L3's timer stops
    incident = await sandbox.runtime.store.latest_incident("phishnet-queue-backlog")
    report = await sandbox.runtime.incidents.report(incident.id)
    assert "Paged L1 Senior DevOps Engineer" in report


async def test_manual_escalation(sandbox, redis_client, clock):
    none_open = await sandbox.command("bob", "escalate")
    assert "There is no open incident" in none_open.text
    await _open_incident(sandbox, redis_client, clock)
    assert (
        await sandbox.command("bob", "escalate 3")
    ).text == "Paged tier 3 (CTO + Customer Success)."
    assert "<@U0CTO> <@U0CUSTSUCCESS>" in _pages(sandbox)[-1]
    assert "requested by <@U0SENIORDEVOPS>" in _pages(sandbox)[-1]
    assert "already paged" in (await sandbox.command("bob", "escalate 3")).text
    assert (
        await sandbox.command("bob", "escalate")
    ).text == "Paged tier 1 (Senior DevOps Engineer)."
    assert "no escalation tier 7" in (await sandbox.command("bob", "escalate 7")).text
    audit = [e for e in await sandbox.runtime.store.audit_entries() if e["action"] == "page"]
    assert [(e["actor"], e["target"]) for e in audit] == [
        ("U0SENIORDEVOPS", "incident/1/L3"),
        ("U0SENIORDEVOPS", "incident/1/L1"),
    ]


async def test_a_page_slack_refused_is_sent_on_the_next_tick(sandbox, redis_client, clock):
    from slack_sdk.errors import SlackApiError

    await _open_incident(sandbox, redis_client, clock)
    clock.advance(timedelta(minutes=30))
    sandbox.slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as refused:
        await sandbox.runtime.escalation.tick()
    assert refused.value.response["error"] == "channel_not_found"
    assert _pages(sandbox) == []
    await sandbox.runtime.escalation.tick()
    assert len(_pages(sandbox)) == 1
