"""An emergency drain that stops half-way, through the whole bot: the snapshot before
its Job starts, processed vs snapshotted in its thread, Re-analyse offered once the
backlog is over, asked once however often it is clicked, and every email the drain
took pushed back for full analysis once (real Redis, the Kubernetes emulator's Job)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from tests.integration.scripted import in_thread, request_id_of

NS, EMAIL, ANALYSIS, PROCESSING = (
    "phishnet",
    "email_processing_queue",
    "analysis_queue",
    "processing_jobs",
)


async def drained_half_way(sandbox: Sandbox, redis_client) -> tuple[object, set[str]]:
    """3,000 emails waiting; the drain Job takes 1,510 (10 still held when it fails) while
    200 new ones arrive. Returns the drain's approval message and the 1,500 it processed."""
    await redis_client.lpush(EMAIL, *[f"email-{i}" for i in range(3000)])
    sandbox.runtime.actions.executors.poll_seconds = 0.01
    await sandbox.command("alice", "drain")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    job = re.search(r"emergency-queue-drain-[\w-]+", approval.rendered).group(0)
    recorded = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert recorded.text == "Approval recorded (1 of 2 approvals)."
    running = asyncio.create_task(
        sandbox.click("carol", approval, ActionId.APPROVE.value, within=30)
    )
    await sandbox.slack.wait_for(lambda: in_thread(sandbox, approval, f"`{job}`") is not None)
    # The emergency processor at work, then its Job fails.
    taken = await redis_client.rpop(EMAIL, 1510)
    await redis_client.sadd(PROCESSING, *taken[-10:])
    await redis_client.lpush(EMAIL, *[f"late-{i}" for i in range(200)])
    sandbox.kube.fail_job(NS, job)
    assert (await running).text == "Approved; the action failed."
    return approval, set(taken[:-10])


async def test_a_half_way_drain_is_counted_and_its_emails_reanalysed_once(
    sandbox, redis_client, clock
):
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    sandbox.runtime.actions.executors.sleep = wait
    approval, processed = await drained_half_way(sandbox, redis_client)
    drain = await sandbox.runtime.store.get_action_request(request_id_of(approval))
    assert drain.progress["snapshotted"] == 3000  # the count, on the request

    count = in_thread(sandbox, approval, "Drain stopped")
    assert count is not None
    assert (
        ":bar_chart: *Drain stopped (the Job failed): it processed 1,500 of the 3,000 emails "
        "snapshotted before it started* (with minimal analysis)."
    ) in count.rendered
    assert (
        "1,490 are still in `email_processing_queue`: the drain never took them" in count.rendered
    )
    assert "10 are in the processing set" in count.rendered
    assert "*Re-analyse* will be offered once the backlog is over" in count.rendered
    assert "[Re-analyse]" not in count.rendered

    await sandbox.tick()  # 1,690 waiting, above the alert line of 1,000: not over yet
    assert sandbox.find_message(ActionId.REANALYSE.value) is None
    await redis_client.rpop(EMAIL, 800)  # the workers catch up: 890 left
    await sandbox.tick()
    offer = sandbox.find_message(ActionId.REANALYSE.value)
    assert offer is not None and offer.ts == count.ts
    assert "The backlog is over: push the 1,500 emails the drain skimmed" in offer.rendered

    asked = await sandbox.click("alice", offer, ActionId.REANALYSE.value)
    assert asked.text.startswith("Approval requested: Re-analyse the 1,500 emails the emergency")
    twice = await sandbox.click("carol", offer, ActionId.REANALYSE.value)
    assert twice.text == (
        ":no_entry: A re-analysis of that drain is waiting for approval already; see its "
        "request above."
    )
    request = sandbox.find_message(ActionId.APPROVE.value)
    assert "100 at a time, at most 600 a minute (about 3m)" in request.rendered
    assert await redis_client.llen(ANALYSIS) == 0  # nothing before approval

    done = await sandbox.click("bob", request, ActionId.APPROVE.value)
    assert done.text == "Approved; the action succeeded."
    pushed = await redis_client.lrange(ANALYSIS, 0, -1)
    assert len(pushed) == len(set(pushed)) == 1500 and set(pushed) == processed
    assert waits == [10.0] * 14  # 600 a minute, in batches of 100
    # Never re-pushed: the ones the drain never took, the late ones, the held ones.
    assert not set(await redis_client.lrange(EMAIL, 0, -1)) & set(pushed)
    assert await redis_client.scard(PROCESSING) == 10

    clock.advance(timedelta(minutes=1))  # chat.update's rate limit, on the bot's clock
    await sandbox.settle()
    finished = sandbox.slack.message(count.channel, count.ts)
    assert ":white_check_mark: All 1,500 went back onto `analysis_queue`." in finished.rendered
    assert "[Re-analyse]" not in finished.rendered
    again = await sandbox.click("alice", offer, ActionId.REANALYSE.value)
    assert again.text == (
        ":no_entry: A re-analysis of that drain was done already; see its request above."
    )
