"""Paging through the real store and Slack emulator, on an injected clock."""

from __future__ import annotations

from datetime import timedelta


async def _open_incident(sandbox, redis_client, clock) -> None:
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


async def _tick(sandbox):
    next_check = await sandbox.runtime.escalation.tick()
    await sandbox.settle()
    return next_check


def _pages(sandbox) -> list[str]:
    """The pages in the incident's channel (each paged person also gets a DM)."""
    return [m.text for m in sandbox.channel_messages() if "Escalating incident" in m.text]


async def test_unacknowledged_incident_pages_each_tier_once(sandbox, redis_client, clock):
    await _open_incident(sandbox, redis_client, clock)  # detected at 09:10
    assert await _tick(sandbox) == clock() + timedelta(minutes=29)  # L1 at 09:40
    clock.advance(timedelta(minutes=29))
    await _tick(sandbox)
    await _tick(sandbox)  # a second tick (or replica) pages nobody twice
    pages = _pages(sandbox)
    assert len(pages) == 1
    assert "L1 — Senior DevOps Engineer*: <@U0SENIORDEVOPS>" in pages[0]
    assert "nobody acknowledged within 30m" in pages[0]
    clock.advance(timedelta(minutes=30))
    await _tick(sandbox)
    assert (
        "L2 — Engineering Team Lead + Product Owner*: <@U0ENGLEAD> <@U0PRODUCTOWNER>"
        in (_pages(sandbox)[-1])
    )
    await sandbox.command("alice", "ack")
    clock.advance(timedelta(hours=2))
    await _tick(sandbox)
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


async def test_a_page_slack_did_not_take_is_delivered_once_when_it_answers(
    sandbox, redis_client, clock
):
    await _open_incident(sandbox, redis_client, clock)
    clock.advance(timedelta(minutes=30))
    sandbox.slack.server_error_next("chat.postMessage", 503, times=3)
    await _tick(sandbox)  # the page is recorded at once, whatever Slack says
    assert _pages(sandbox) == []
    assert list((await sandbox.runtime.store.pages(1)).keys()) == [1]
    for _ in range(3):  # 1 s, 2 s, 4 s: the sender's backoff, on the injected clock
        clock.advance(timedelta(seconds=5))
        await _tick(sandbox)
    assert len(_pages(sandbox)) == 1
    await _tick(sandbox)
    assert len(_pages(sandbox)) == 1
