"""Redis as it really is, seen from Slack: down, holding the wrong types, holding
binary ids and ids that look like Slack markup. Every case ends in a sentence the
person sees, a database that holds what happened, and Redis left consistent."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from tests.integration.tcp_gate import TcpGate

WRONG_QUEUE = "Redis refused the command: `email_processing_queue` holds a string, not a list"
WRONG_SET = "Redis refused the command: `processing_jobs` holds a list, not a set"


@pytest.fixture
async def gated(make_sandbox, redis_url):
    """The bot talking to the real Redis through a gate that a test can cut."""
    gate = await TcpGate(redis_url).start()
    box = await make_sandbox(redis_url=gate.url())
    yield box, gate
    await gate.stop()


@pytest.fixture
async def raw_redis(redis_url, redis_client):
    """A bytes client on the test database (``redis_client`` empties it around the test)."""
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_commands_say_redis_is_down_and_change_nothing(gated, redis_client):
    sandbox, gate = gated
    await redis_client.sadd("processing_jobs", "a", "b")
    await redis_client.set("heartbeat:a", int(time.time()) - 3600)
    gate.cut()
    status = await sandbox.command("alice", "status", within=20)
    assert "Redis did not answer" in status.text
    requeue = await sandbox.command("alice", "requeue", within=20)
    assert "Redis did not answer" in requeue.text
    assert "Nothing was changed" in requeue.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None
    assert await redis_client.smembers("processing_jobs") == {"a", "b"}


async def test_approved_requeue_fails_cleanly_when_redis_goes_away(gated, redis_client):
    sandbox, gate = gated
    await redis_client.sadd("processing_jobs", "a", "b")
    await redis_client.set("heartbeat:a", int(time.time()) - 3600)
    await sandbox.command("alice", "requeue")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    gate.cut()
    answer = await sandbox.click("bob", approval, ActionId.APPROVE.value, within=20)
    assert answer.text == "Approved; the action failed."
    thread = [m.rendered for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("failed: Redis did not answer" in t for t in thread), thread
    # atomic batches: every id is still in the processing set, none half-moved
    assert await redis_client.smembers("processing_jobs") == {"a", "b"}
    assert await redis_client.llen("email_processing_queue") == 0
    audit = [e["outcome"] for e in await sandbox.runtime.store.audit_entries()]
    assert audit[-1] == "failed"


# --- keys of the wrong type ----------------------------------------------------------------------


async def test_status_names_a_queue_key_that_is_not_a_list(sandbox, redis_client):
    await redis_client.set("email_processing_queue", "oops")
    status = await sandbox.command("alice", "status")
    assert WRONG_QUEUE in status.text


async def test_requeue_names_a_processing_set_that_is_not_a_set(sandbox, redis_client):
    await redis_client.rpush("processing_jobs", "a", "b")
    answer = await sandbox.command("alice", "requeue")
    assert WRONG_SET in answer.text
    assert "Nothing was changed" in answer.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None
    assert await redis_client.lrange("processing_jobs", 0, -1) == ["a", "b"]


async def test_approved_requeue_names_a_target_queue_that_turned_into_a_string(
    sandbox, redis_client
):
    await redis_client.sadd("processing_jobs", "a", "b")
    await sandbox.command("alice", "requeue")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    request_id = _request_id(approval)
    await redis_client.set("email_processing_queue", "oops")  # between request and approval
    answer = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert answer.text == "Approved; the action failed."
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any(WRONG_QUEUE in t and "stopped after moving 0 ids" in t for t in thread)
    assert await redis_client.smembers("processing_jobs") == {"a", "b"}
    request = await sandbox.runtime.store.get_action_request(request_id)
    assert request is not None and request.error and WRONG_QUEUE in request.error


async def test_monitor_says_once_that_alerting_stopped_and_why_then_once_that_it_is_back(
    sandbox, redis_client, clock
):
    monitor = sandbox.runtime.monitor
    assert await monitor.tick() is not None
    await redis_client.set("email_processing_queue", "oops")
    for _ in range(3):
        assert await monitor.tick() is None
        clock.advance(timedelta(seconds=15))
    await sandbox.settle()
    posts = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID)]
    outage = [p for p in posts if "cannot read the queue depths" in p]
    assert len(outage) == 1
    assert WRONG_QUEUE in outage[0] and "Alerting is impaired" in outage[0]
    await redis_client.delete("email_processing_queue")
    assert await monitor.tick() is not None
    assert await monitor.tick() is not None
    await sandbox.settle()
    posts = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID)]
    assert len([p for p in posts if "monitoring has resumed" in p]) == 1


# --- ids are bytes -------------------------------------------------------------------------------


async def test_an_id_with_a_nul_byte_is_requested_stored_and_requeued_with_the_others(
    sandbox, raw_redis
):
    ids = {b"job-1", b"job-2", b"job\x00nul"}
    await raw_redis.sadd("processing_jobs", *ids)  # no heartbeats: all three are stuck

    answer = await sandbox.command("alice", "requeue")
    assert "Approval requested: Requeue 3 stuck jobs from `processing_jobs`" in answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "`job\\x00nul`" in approval.rendered  # shown escaped, never as a raw NUL
    stored = await sandbox.runtime.store.get_action_request(_request_id(approval))
    assert stored is not None
    assert any("`job\\x00nul`" in line for line in stored.details)

    done = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert done.text == "Approved; the action succeeded."
    assert set(await raw_redis.lrange("email_processing_queue", 0, -1)) == ids  # byte for byte
    assert await raw_redis.scard("processing_jobs") == 0


async def test_ids_that_look_like_slack_markup_ping_nobody_and_keep_their_code_span(
    sandbox, raw_redis
):
    ids = {b"<!channel>", b"a`b", b"<@U0CTO>", b"x&y"}
    await raw_redis.sadd("processing_jobs", *ids)
    await sandbox.command("alice", "requeue")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    text = approval.rendered
    for shown in ("`&lt;!channel&gt;`", "`a\\x60b`", "`&lt;@U0CTO&gt;`", "`x&amp;y`"):
        assert shown in text
    assert "<!channel>" not in text and "<@U0CTO>" not in text
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert set(await raw_redis.lrange("email_processing_queue", 0, -1)) == ids


async def test_a_note_quoting_markup_is_kept_as_typed_and_shown_escaped_once(
    sandbox, redis_client, clock
):
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):  # the playbook's rule fires after 10 minutes above 1,000
        await sandbox.runtime.monitor.tick()
        clock.advance(timedelta(minutes=1))
    typed = "workers restarted — see <!channel> & “the <runbook>”"
    noted = await sandbox.command("alice", f"note\t{typed}")
    assert noted.text.startswith("Noted on incident #")
    incident = await sandbox.runtime.store.latest_incident(sandbox.playbook.name)
    assert incident is not None
    timeline = await sandbox.runtime.store.timeline(incident.id)
    assert typed in [entry.text for entry in timeline]  # stored as typed, not as entities
    report = await sandbox.command("alice", "report")
    assert "workers restarted — see &lt;!channel&gt; &amp; “the &lt;runbook&gt;”" in report.text
    assert "<!channel>" not in report.text and "&amp;lt;" not in report.text


def _request_id(message) -> uuid.UUID:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.APPROVE.value:
                return uuid.UUID(element["value"])
    raise LookupError("no Approve button")
