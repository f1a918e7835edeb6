"""/backlog requeue end to end: dry run in the approval request, approved, progress, counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import PEOPLE
from bot.domain.models import QueueSample


async def _processing(redis_client, *, stale: int, fresh: int, missing: int, malformed: int):
    now = int(time.time())
    ids = []
    for i in range(stale):
        ids.append(f"stale-{i}")
        await redis_client.set(f"heartbeat:stale-{i}", now - 3600)
    for i in range(fresh):
        ids.append(f"fresh-{i}")
        await redis_client.set(f"heartbeat:fresh-{i}", now)
    ids += [f"missing-{i}" for i in range(missing)]
    for i in range(malformed):
        ids.append(f"bad-{i}")
        await redis_client.set(f"heartbeat:bad-{i}", "yesterday")
    await redis_client.sadd("processing_jobs", *ids)


async def test_requeue_dry_run_approval_and_result(sandbox, redis_client):
    await _processing(redis_client, stale=30, fresh=20, missing=10, malformed=2)
    answer = await sandbox.command("alice", "requeue --older-than 10m")
    assert "Approval requested: Requeue 40 stuck jobs from `processing_jobs` onto " in answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    text = approval.rendered
    assert "Dry run: 40 of 62 ids in `processing_jobs` are stuck" in text
    assert "10 without a heartbeat, 30 older than 10m" in text
    assert "2 ids have a heartbeat that is not a number" in text
    assert await redis_client.llen("email_processing_queue") == 0  # a dry run changes nothing

    done = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert done.text == "Approved; the action succeeded."
    queued = await redis_client.lrange("email_processing_queue", 0, -1)
    assert sorted(queued) == sorted(
        [f"stale-{i}" for i in range(30)] + [f"missing-{i}" for i in range(10)]
    )
    remaining = await redis_client.smembers("processing_jobs")
    assert remaining == {f"fresh-{i}" for i in range(20)} | {"bad-0", "bad-1"}
    assert await redis_client.exists("heartbeat:stale-0") == 0
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any(
        "Requeue finished: moved 40 onto `email_processing_queue`; 0 skipped (heartbeat "
        "renewed since the scan); 2 malformed, left alone (" in t
        for t in thread
    )
    audit = await sandbox.runtime.store.audit_entries()
    succeeded = [e for e in audit if e["outcome"] == "succeeded"]
    assert succeeded[0]["action"] == "requeue"
    assert succeeded[0]["details"]["moved"] == 40
    assert succeeded[0]["details"]["malformed"] == 2
    approvals = [e for e in audit if e["outcome"] == "approved"]
    assert approvals[0]["actor"] == PEOPLE["bob"].user_id


async def test_requeue_to_another_playbook_queue_and_refusals(sandbox, redis_client):
    await _processing(redis_client, stale=3, fresh=0, missing=0, malformed=0)
    refused = await sandbox.command("alice", "requeue --queue not_a_queue")
    assert "`not_a_queue` is not a queue of this playbook" in refused.text
    answer = await sandbox.command("alice", "requeue --queue analysis_queue")
    assert "onto `analysis_queue`" in answer.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert await redis_client.llen("analysis_queue") == 3
    # nothing stuck any more: no request is made
    again = await sandbox.command("alice", "requeue")
    assert "No stuck jobs" in again.text


async def test_samples_are_downsampled_after_48_hours(store, playbook):
    from bot.services.monitor import HOURLY_SAMPLES_FOR, RAW_SAMPLES_FOR

    start = datetime(2026, 8, 1, tzinfo=UTC)
    for minute in range(0, 180, 15):  # three hours of samples, four an hour
        at = start + timedelta(minutes=minute)
        await store.save_sample(playbook.name, QueueSample(at, {"email_processing_queue": minute}))
    now = start + timedelta(hours=51)  # every sample is now older than 48 hours
    folded, dropped = await store.prune_samples(
        now, raw_for=RAW_SAMPLES_FOR, hourly_for=HOURLY_SAMPLES_FOR
    )
    assert (folded, dropped) == (12, 0)
    assert await store.samples_between(playbook.name, start, now) == []
    hourly = await store.hourly_samples(playbook.name, "email_processing_queue")
    assert [(h - start, mx, avg) for h, mx, avg in hourly] == [
        (timedelta(hours=0), 45, 22.5),
        (timedelta(hours=1), 105, 82.5),
        (timedelta(hours=2), 165, 142.5),
    ]
    _, dropped = await store.prune_samples(
        start + timedelta(days=91), raw_for=RAW_SAMPLES_FOR, hourly_for=HOURLY_SAMPLES_FOR
    )
    assert dropped == 3
    assert await store.hourly_samples(playbook.name, "email_processing_queue") == []


async def test_long_requeue_edits_one_progress_message(sandbox, redis_client, clock):
    stale = int(time.time()) - 3600
    ids = [f"job-{i}" for i in range(5000)]
    await redis_client.sadd("processing_jobs", *ids)
    await redis_client.mset({f"heartbeat:{i}": stale for i in ids})
    sandbox.runtime.actions.executors.requeue_progress_interval = 0  # every batch may publish
    await sandbox.command("alice", "requeue")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    clock.advance(timedelta(minutes=1))  # chat.update's rate limit: edits wait, and coalesce
    await sandbox.settle()
    progress = [
        m for m in sandbox.slack.thread(approval.channel, approval.ts) if ":recycle:" in m.text
    ]
    assert len(progress) == 1  # one message, edited as the requeue goes
    versions = [v.text for v in progress[0].versions]
    assert len(versions) >= 3
    assert versions[0].startswith(":recycle: Requeueing: ")
    assert "/ 5,000" in versions[0] and "ids/s" in versions[0]
    assert versions[-1].startswith(":recycle: Requeue finished: moved 5,000")
    assert await redis_client.llen("email_processing_queue") == 5000
    assert await redis_client.scard("processing_jobs") == 0
