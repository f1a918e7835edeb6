"""``GET /metrics``: stuck jobs, the oldest waiting job's age and the outboxes'
backlog, read at scrape time (so a stand-by replica answers the same)."""

from __future__ import annotations

import time

from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.services.commands import Invocation

from .paging_support import edited_playbook
from .test_metrics import names, scrape, value


async def test_stuck_jobs_are_counted_as_requeue_would(sandbox, redis_client):
    now = int(time.time())  # heartbeats are unix seconds, compared with Redis' own TIME
    await redis_client.sadd("processing_jobs", *[f"job-{i}" for i in range(5)])
    await redis_client.set("heartbeat:job-0", now)  # alive
    await redis_client.set("heartbeat:job-1", now - 30)  # alive: 600 s allowed
    await redis_client.set("heartbeat:job-2", now - 3600)  # stale
    # job-3 and job-4: no heartbeat at all
    samples, text = await scrape(sandbox)
    assert value(samples, "backlog_bot_stuck_jobs", set="processing_jobs") == 3
    assert value(samples, "backlog_bot_processing_set_size", set="processing_jobs") == 5
    assert "# TYPE backlog_bot_stuck_jobs gauge" in text


async def test_the_oldest_waiting_job_age_where_the_playbook_reads_it(
    make_sandbox, redis_client, clock
):
    def sorted_set_ages(data):
        data["queues"][0]["job_age"] = {"source": "sorted_set", "key": "email_enqueued_at"}

    sandbox = await make_sandbox(playbook=edited_playbook(sorted_set_ages))
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_oldest_job_age_seconds", queue="email_processing_queue") == 0
    enqueued = clock().timestamp()
    await redis_client.zadd("email_enqueued_at", {"a": enqueued - 90, "b": enqueued - 30})
    samples, _ = await scrape(sandbox)
    assert (
        value(samples, "backlog_bot_oldest_job_age_seconds", queue="email_processing_queue") == 90
    )
    # Queues whose age nobody measures are not shown as 0.
    assert (
        "backlog_bot_oldest_job_age_seconds",
        frozenset({("queue", "analysis_queue")}),
    ) not in samples


async def test_without_a_job_age_source_no_age_is_shown(sandbox):
    samples, _ = await scrape(sandbox)
    assert "backlog_bot_oldest_job_age_seconds" not in names(samples)


async def test_the_outbox_backlog_is_what_has_not_reached_slack_yet(sandbox):
    runtime = sandbox.runtime
    await sandbox.settle()
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_outbox_pending", outbox="slack") == 0
    assert value(samples, "backlog_bot_outbox_pending", outbox="pages") == 0
    await runtime.sender.stop()  # as if this replica's sender (or Slack) were down
    # As the listener does (the sandbox's own command() would deliver the outbox).
    reply = await runtime.router.handle(
        Invocation(
            text="scale phishnet-worker-email 4",
            user=PEOPLE["alice"].user_id,
            channel=INCIDENT_CHANNEL_ID,
        )
    )
    assert "Approval requested" in reply.text
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_outbox_pending", outbox="slack") >= 1  # the request
    await runtime.sender.start()
    await sandbox.settle()
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_outbox_pending", outbox="slack") == 0
