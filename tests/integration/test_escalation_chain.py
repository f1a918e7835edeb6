"""The escalation chain through the whole bot: L1 → L2 → L3 on the playbook's timers, in
Slack and in PagerDuty (the emulator answering like the Events API v2), acknowledged
at each step, across a restart and two replicas, on an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from freezegun import freeze_time

from bot.emulators.pagerduty import IncidentStatus

from .conftest import T0
from .paging_support import (
    DEDUP,
    ENVIRON,
    KEY_CTO,
    KEY_L1,
    KEY_L2,
    HookReceiver,
    edited_playbook,
    open_incident,
    pages,
    pd_actions,
)

L1_DUE = T0 + timedelta(minutes=40)  # detected at 09:10, L1 after 30m
L2_DUE = T0 + timedelta(minutes=70)
L3_DUE = T0 + timedelta(minutes=130)


def at(when: datetime, clock) -> None:
    clock.advance(when - clock())


@pytest.fixture
async def box(make_sandbox):
    return await make_sandbox(playbook=edited_playbook(), environ=ENVIRON)


async def _due(box, clock, when: datetime) -> datetime | None:
    """The clock at ``when``, the timer's job run as APScheduler would run it."""
    at(when, clock)
    next_due = await box.runtime.paging.timer.replan()
    await box.settle()
    return next_due


async def test_l1_l2_l3_on_the_playbooks_timers_in_slack_pagerduty_and_a_webhook(
    make_sandbox, redis_client, clock
):
    async with HookReceiver() as hook:

        def l2_webhook(data):
            data["escalation"]["tiers"][1]["webhook"] = {"url_env": "L2_PAGER_WEBHOOK_URL"}

        box = await make_sandbox(
            playbook=edited_playbook(l2_webhook),
            environ={**ENVIRON, "L2_PAGER_WEBHOOK_URL": hook.url},
        )
        await open_incident(box, redis_client, clock)
        timer = box.runtime.paging.timer
        assert timer.next_due == L1_DUE  # planned after the sample that opened the incident

        assert await _due(box, clock, L1_DUE - timedelta(seconds=1)) == L1_DUE
        assert pages(box) == []
        assert await _due(box, clock, L1_DUE) == L2_DUE
        [l1] = pages(box)
        assert "L1 — Senior DevOps Engineer*: <@U0SENIORDEVOPS>" in l1
        assert "Why: nobody acknowledged within 30m of detection." in l1
        assert "Also paged: PagerDuty (PD_ROUTING_KEY_L1)." in l1
        alert = box.pagerduty.incident(DEDUP, KEY_L1)
        assert alert is not None and alert.status is IncidentStatus.TRIGGERED
        assert alert.severity == "warning"  # the rule's severity: a timer is no trigger
        assert alert.summary == (
            "[phishnet-queue-backlog #1] Large email queue backlog detected: "
            "email_processing_queue at 1,500 jobs (paging L1 Senior DevOps Engineer)"
        )
        assert alert.custom_details["why"] == "nobody acknowledged within 30m of detection"
        assert alert.custom_details["depths"]["email_processing_queue"] == 1500
        # The incident's own channel, where the page and everything else about it is.
        channel = (await box.runtime.store.get_incident(1)).channel
        assert channel in box.incident_channels()
        link = f"https://slack.com/app_redirect?channel={channel}"
        assert alert.links == [{"href": link, "text": "Incident channel in Slack"}]

        assert await _due(box, clock, L2_DUE) == L3_DUE
        assert "L2 — Engineering Team Lead + Product Owner*" in pages(box)[-1]
        assert [(b["action"], b["alias"]) for b in hook.bodies] == [("trigger", DEDUP)]
        assert await _due(box, clock, L3_DUE) is None  # nothing left for time alone
        assert "L3 — CTO + Customer Success*" in pages(box)[-1]
        assert "Also paged: PagerDuty (PD_ROUTING_KEY_CTO)." in pages(box)[-1]
        assert len(pages(box)) == 3
        assert pd_actions(box) == [("trigger", KEY_L1), ("trigger", KEY_L2), ("trigger", KEY_CTO)]

        await box.command("alice", "ack")
        assert sorted(pd_actions(box)[3:]) == sorted(
            [("acknowledge", KEY_L1), ("acknowledge", KEY_L2), ("acknowledge", KEY_CTO)]
        )
        assert all(
            box.pagerduty.incident(DEDUP, key).status is IncidentStatus.ACKNOWLEDGED
            for key in (KEY_L1, KEY_L2, KEY_CTO)
        )
        await box.command("alice", "resolve")
        assert all(
            box.pagerduty.incident(DEDUP, key).status is IncidentStatus.RESOLVED
            for key in (KEY_L1, KEY_L2, KEY_CTO)
        )
        assert [b["action"] for b in hook.bodies] == ["trigger", "acknowledge", "resolve"]
        rows = await box.runtime.store.page_deliveries(1)
        assert {(r.action, r.state) for r in rows} == {
            ("trigger", "delivered"),
            ("acknowledge", "delivered"),
            ("resolve", "delivered"),
        }


@pytest.mark.parametrize("tiers_paged", [0, 1, 2])
async def test_an_ack_at_each_step_stops_the_chain_and_acks_every_pager(
    box, redis_client, clock, tiers_paged
):
    await open_incident(box, redis_client, clock)
    for due in (L1_DUE, L2_DUE)[:tiers_paged]:
        await _due(box, clock, due)
    assert len(pages(box)) == tiers_paged
    at(L1_DUE - timedelta(minutes=5) if tiers_paged == 0 else clock(), clock)
    answer = await box.command("bob", "ack")
    assert answer.text == "Incident #1 acknowledged by <@U0SENIORDEVOPS>; paging stops."
    for due in (L1_DUE, L2_DUE, L3_DUE, L3_DUE + timedelta(hours=5)):
        if due > clock():
            await _due(box, clock, due)
    assert len(pages(box)) == tiers_paged  # no page after the ack
    keys = [KEY_L1, KEY_L2][:tiers_paged]
    sent = pd_actions(box)
    assert sent[: len(keys)] == [("trigger", k) for k in keys]
    assert sorted(sent[len(keys) :]) == [("acknowledge", k) for k in keys]  # sent side by side


async def test_an_ack_racing_the_due_page_never_comes_before_a_page(
    box, redis_client, clock, migrated_database
):
    """The ack's transaction holds the incident's row when the page falls due: the page
    waits for it, then finds the ack and pages nobody."""
    await open_incident(box, redis_client, clock)
    at(L1_DUE, clock)
    conn = await asyncpg.connect(migrated_database)
    try:
        ack = conn.transaction()
        await ack.start()
        await conn.execute(  # what IncidentService.acknowledge's transaction does first
            "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $1, "
            "acknowledged_by = 'U0SREONCALL' WHERE id = 1 AND state = 'open'",
            clock(),
        )
        page = asyncio.create_task(box.runtime.paging.timer.replan())
        await _until_waiting_for_a_lock(conn)
        assert not page.done()
        await ack.commit()
        assert await page is None
    finally:
        await conn.close()
    await box.settle()
    assert pages(box) == [] and box.pagerduty.events == []
    assert await box.runtime.store.pages(1) == {}


async def test_an_ack_and_a_due_page_at_the_same_moment(box, redis_client, clock):
    """Whichever wins the row lock, the end is the same for people: at most one page, and
    if it went out, PagerDuty got its trigger before the acknowledgement."""
    await open_incident(box, redis_client, clock)
    at(L1_DUE, clock)
    await asyncio.gather(box.command("alice", "ack"), box.runtime.paging.timer.replan())
    await box.settle()
    timeline = await box.runtime.store.timeline(1)
    kinds = [e.kind.value for e in timeline if e.kind.value in ("escalated", "acknowledged")]
    assert kinds in (["acknowledged"], ["escalated", "acknowledged"])
    expected = [("trigger", KEY_L1), ("acknowledge", KEY_L1)] if "escalated" in kinds else []
    assert pd_actions(box) == expected
    assert len(pages(box)) == kinds.count("escalated")


async def test_pages_due_while_the_bot_was_down_go_out_once_marked_late(box, redis_client, clock):
    await open_incident(box, redis_client, clock)
    await _due(box, clock, L1_DUE)
    at(L3_DUE + timedelta(minutes=5), clock)  # the bot is down from 09:40 to 11:15
    await box.restart()
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        await box.runtime.paging.timer.attach(scheduler)  # what serve() does on start
        await box.settle()
        assert scheduler.get_job("escalation") is None  # nothing left to wake up for
    finally:
        scheduler.shutdown(wait=False)
    l1, l2, l3 = pages(box)
    assert "Late by" not in l1
    assert "_Late by 1h 05m: due at 10:10 UTC, while Backlog Bot was not running" in l2
    assert "_Late by 5m: due at 11:10 UTC" in l3
    await box.runtime.paging.timer.replan()
    await box.settle()
    assert len(pages(box)) == 3
    sent = pd_actions(box)  # L2's and L3's went out side by side, after the restart
    assert sent[0] == ("trigger", KEY_L1)
    assert sorted(sent[1:]) == sorted([("trigger", KEY_L2), ("trigger", KEY_CTO)])
    timeline = [e.text for e in await box.runtime.store.timeline(1) if e.kind.value == "escalated"]
    assert timeline[1].endswith("(late by 1h 05m)")


async def test_two_replicas_page_each_tier_once(make_sandbox, box, redis_client, clock):
    replica = await make_sandbox(replica_of=box, playbook=box.playbook, environ=ENVIRON)
    await open_incident(box, redis_client, clock)
    for due in (L1_DUE, L2_DUE, L3_DUE):
        at(due, clock)
        await asyncio.gather(
            box.runtime.paging.timer.replan(), replica.runtime.paging.timer.replan()
        )
        await asyncio.gather(box.settle(), replica.settle())
    assert len(pages(box)) == 3
    assert pd_actions(box) == [("trigger", KEY_L1), ("trigger", KEY_L2), ("trigger", KEY_CTO)]
    audit = [e for e in await box.runtime.store.audit_entries() if e["action"] == "page"]
    assert len(audit) == 3


async def test_a_slow_slack_answer_during_a_page_pages_once(make_sandbox, box, redis_client, clock):
    replica = await make_sandbox(replica_of=box, playbook=box.playbook, environ=ENVIRON)
    await open_incident(box, redis_client, clock)
    at(L1_DUE, clock)
    # Slack takes the page and answers a second late (under the client's timeout).
    box.slack.fail_after_storing("chat.postMessage", "timeout", delay=1.0)
    await box.runtime.paging.timer.replan()
    delivering = asyncio.create_task(box.settle())
    # Meanwhile both replicas look again, as a sample or a NOTIFY would make them.
    await asyncio.gather(box.runtime.paging.timer.replan(), replica.runtime.paging.timer.replan())
    await delivering
    await asyncio.gather(box.settle(), replica.settle())
    assert len(pages(box)) == 1
    assert pd_actions(box) == [("trigger", KEY_L1)]


async def test_the_timer_is_a_date_job_at_the_next_due_page(box, redis_client, clock):
    """APScheduler is woken at the due time itself (on the wall clock, frozen here),
    not on a poll; firing the job pages L1 and plans L2."""
    await open_incident(box, redis_client, clock)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        with _wall_clock_at(clock()):
            await box.runtime.paging.timer.attach(scheduler)
            job = scheduler.get_job("escalation")
            assert job.trigger.run_date == L1_DUE  # wall clock == bot clock here
        at(L1_DUE, clock)
        with _wall_clock_at(clock()):
            await job.func()
            assert scheduler.get_job("escalation").trigger.run_date == L2_DUE
        await box.settle()
        assert len(pages(box)) == 1
        # An ack (here or on another replica: NOTIFY) re-plans: nothing left to wake for.
        await box.command("carol", "ack")
        await _until(lambda: scheduler.get_job("escalation") is None)
    finally:
        scheduler.shutdown(wait=False)


def _wall_clock_at(when: datetime):
    """The wall clock frozen at ``when`` (the event loop's own clock keeps running; the
    kubernetes client's lazily imported models are left alone)."""
    return freeze_time(when, real_asyncio=True, ignore=["kubernetes"])


async def _until_waiting_for_a_lock(conn: asyncpg.Connection) -> None:
    """Until another session waits for a row lock (the page's SELECT … FOR UPDATE)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    for _ in range(1000):
        if await conn.fetchval(query):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nobody waits for the incident's row lock")


async def _until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
