"""Redis unreachable: commands answer with a clear error and nothing is half-done."""

from __future__ import annotations

import time

import pytest

from bot.adapters.slack.ids import ActionId
from tests.integration.tcp_gate import TcpGate


@pytest.fixture
async def gated(make_sandbox, redis_url):
    """The bot talking to the real Redis through a gate that a test can cut."""
    gate = await TcpGate(redis_url).start()
    box = await make_sandbox(redis_url=gate.url())
    yield box, gate
    await gate.stop()


async def test_commands_say_redis_is_down_and_change_nothing(gated, redis_client):
    sandbox, gate = gated
    await redis_client.sadd("processing_jobs", "a", "b")
    await redis_client.set("heartbeat:a", int(time.time()) - 3600)
    gate.cut()
    status = await sandbox.command("alice", "status", within=20)
    assert "Redis did not answer" in status.text and "Nothing was changed" in status.text
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
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("failed: Redis did not answer" in t for t in thread)
    # atomic batches: every id is still in the processing set, none half-moved
    assert await redis_client.smembers("processing_jobs") == {"a", "b"}
    assert await redis_client.llen("email_processing_queue") == 0
    audit = [e["outcome"] for e in await sandbox.runtime.store.audit_entries()]
    assert audit[-1] == "failed"
