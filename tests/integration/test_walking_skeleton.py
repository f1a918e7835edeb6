"""The whole story through real parts: backlog in Redis → alert in Slack → scale
requested and approved → deployment scaled → resolve → report with the right figures."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import PEOPLE, Sandbox

BOB = PEOPLE["bob"].user_id
ALICE = PEOPLE["alice"].user_id


async def push(redis_client, queue: str, count: int, start: int = 0) -> None:
    await redis_client.lpush(queue, *[f"job-{i}" for i in range(start, start + count)])


async def tick_minutes(sandbox: Sandbox, clock, minutes: int) -> None:
    for _ in range(minutes):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


def alerts(sandbox: Sandbox):
    return [
        m
        for m in sandbox.channel_messages()
        if "Incident #" in m.rendered
        and m.is_bot
        and any(b.get("type") == "header" for b in m.blocks or [])
    ]


async def test_backlog_to_report(sandbox: Sandbox, redis_client, clock):
    t0 = clock()
    await push(redis_client, "email_processing_queue", 1500)
    await tick_minutes(sandbox, clock, 10)
    assert alerts(sandbox) == []  # pending: above 1,000 for 9 minutes only
    await tick_minutes(sandbox, clock, 1)  # the sample at +10m fires the rule

    [alert] = alerts(sandbox)
    text = alert.rendered
    assert "`email_processing_queue` is at *1,500*, above the threshold of 1,000" in text
    assert "for *10m*" in text
    assert "[Acknowledge]" in text and "[Scale phishnet-worker-email to 5]" in text
    [chart] = sandbox.slack.uploads  # the depth chart, in the alert's thread
    assert chart.completed and chart.content.startswith(b"\x89PNG")
    assert chart.filename == "incident-1-queue-depths.png"
    assert chart.thread_ts == alert.ts
    assert chart.channels == [alert.channel]

    await push(redis_client, "email_processing_queue", 1000, start=1500)
    await tick_minutes(sandbox, clock, 5)
    assert len(alerts(sandbox)) == 1  # one incident, not one per sample

    acked = await sandbox.click("alice", alert, ActionId.ACK.value)
    assert acked.text == f"Incident #1 acknowledged by <@{ALICE}>; paging stops."

    status = await sandbox.command("alice", "status")
    assert "*Incident* #1 (acknowledged" in status.text
    assert "`email_processing_queue`: 2,500 (alert above 1,000)" in status.text
    assert "`phishnet-worker-email`: 2/2 ready" in status.text
    assert "peak 2,500" in status.text

    refused = await sandbox.command("alice", "scale phishnet-worker-email 25")
    assert "outside the playbook's bounds" in refused.text and "(1 to 20)" in refused.text
    unknown = await sandbox.command("alice", "scale redis 3")
    assert "not a worker deployment of this playbook" in unknown.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None  # nothing requested

    asked = await sandbox.command("alice", "scale phishnet-worker-email 6")
    assert "Approval requested" in asked.text
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "Scale `phishnet-worker-email` from 2 to 6 replicas" in approval.rendered

    intruder = await sandbox.command("dave", "status")  # dave may look...
    assert intruder.http_status == 200
    denied = await sandbox.click("dave", approval, ActionId.APPROVE.value)  # ...not approve
    assert "Only members of sre_oncall, senior_devops, engineering_lead" in denied.text
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2

    clock.advance(timedelta(minutes=1))
    approved = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert approved.text == "Approved; the action succeeded."
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 6
    updated = sandbox.slack.message(approval.channel, approval.ts)
    assert f"Approved by <@{BOB}>; done." in updated.rendered
    assert "[Approve]" not in updated.rendered
    thread = sandbox.slack.thread(approval.channel, approval.ts)
    assert any("done (approved by" in m.text for m in thread)

    twice = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert "already succeeded" in twice.text

    await redis_client.delete("email_processing_queue")
    await tick_minutes(sandbox, clock, 3)
    await sandbox.command("alice", "rootcause Inbound volume spike with 2 workers")
    resolved = await sandbox.command("alice", "resolve")
    assert "resolved; report posted" in resolved.text

    incident = await sandbox.runtime.store.latest_incident("phishnet-queue-backlog")
    report = await sandbox.runtime.incidents.report(incident.id)
    detected = t0 + timedelta(minutes=10)
    mitigated = t0 + timedelta(minutes=17)
    resolved_at = t0 + timedelta(minutes=20)
    assert f"- Detection: {detected:%Y-%m-%d %H:%M:%S} UTC" in report
    assert f"- Mitigation Started: {mitigated:%Y-%m-%d %H:%M:%S} UTC" in report
    assert f"- Resolution: {resolved_at:%Y-%m-%d %H:%M:%S} UTC" in report
    # From the first sample above the threshold (t0) to resolution, not from the alert.
    assert "**Duration**: 20m (backlog began 09:00:00 UTC → resolved 09:20:00 UTC)" in report
    assert "**Peak Queue Size**: 2,500 (`email_processing_queue`, at 09:11:00 UTC)" in report
    assert "**Root Cause**: Inbound volume spike with 2 workers — recorded by @alice" in report
    assert report.count("Inbound volume spike") == 2  # the summary, and its timeline line
    assert "- **scale**: Scale `phishnet-worker-email` from 2 to 6 replicas" in report
    assert "requested by @alice at 09:16:00 UTC; approved by @bob at 09:17:00 UTC" in report
    assert "outcome: succeeded at 09:17:00 UTC" in report
    assert "<@" not in report  # people are named, nobody is pinged
    [posted] = [m for m in sandbox.channel_messages() if "Report draft, incident #1" in m.rendered]
    assert "*Peak*: 2,500 in `email_processing_queue`" in posted.rendered
    assert "[Finalise report]" in posted.rendered
    files = {u.filename: u for u in sandbox.slack.uploads if u.thread_ts == posted.ts}
    assert files["incident-1-report-draft-v1.md"].content.decode() == report
    assert files["incident-1-queue-depths.png"].content.startswith(b"\x89PNG")

    audit = [
        (e["actor"], e["action"], e["outcome"]) for e in await sandbox.runtime.store.audit_entries()
    ]
    assert audit == [
        (ALICE, "scale", "requested"),
        (PEOPLE["dave"].user_id, "scale", "approval refused"),
        (BOB, "scale", "approved"),
        ("backlog-bot", "scale", "succeeded"),
        (BOB, "scale", "approval refused"),
        (ALICE, "resolve", "resolved"),
    ]
