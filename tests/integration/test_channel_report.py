"""A scripted incident through the Slack emulator, with the Events API on: people talk,
pin, mark with 📌, edit, delete and reply in threads; the bot detects, pages, is
acknowledged, runs actions; the incident is resolved, lessons come in, the report is
finalised. Every section of the report is checked for what people would read."""

from __future__ import annotations

import re
import struct
from datetime import timedelta

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID as INCIDENTS
from bot.demo.sandbox import PEOPLE, Sandbox

ALICE = PEOPLE["alice"].user_id
BOB = PEOPLE["bob"].user_id
CAROL = PEOPLE["carol"].user_id
DAVE = PEOPLE["dave"].user_id
ERIN = PEOPLE["erin"].user_id
QUEUE = "email_processing_queue"


async def set_depth(redis_client, depth: int) -> None:
    await redis_client.delete(QUEUE)
    if depth:
        await redis_client.lpush(QUEUE, *range(depth))


async def minutes(box: Sandbox, clock, count: int) -> None:
    """``count`` samples, one a minute (each at the clock's time, then a minute passes)."""
    for _ in range(count):
        await box.tick()
        clock.advance(timedelta(minutes=1))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
async def box(make_sandbox, playbook) -> Sandbox:
    berlin = playbook.model_copy(update={"time_zone": "Europe/Berlin"})
    return await make_sandbox(playbook=berlin, events=True)


async def test_the_report_tells_the_channels_story(box: Sandbox, redis_client, clock):
    people, t0 = box.slack.people, clock()
    await set_depth(redis_client, 1500)
    people.post(CAROL, INCIDENTS, "email queue looks stuck?")  # before the incident
    await minutes(box, clock, 11)  # samples t0 .. t0+10m, above 1,000 from the first
    ch = await box.incident_channel()  # the incident's own channel, created at t0+10m
    assert ch is not None and ch != INCIDENTS
    for person in (ALICE, BOB, CAROL, DAVE, ERIN):
        if not box.slack.workspace.is_member(ch, person):
            people.join(person, ch)
    early = people.post(CAROL, ch, "email queue looks stuck, looking")  # t0+11m
    chatter = people.post(ALICE, ch, "lunch anyone?")
    await box.events_settled()

    oom = people.post(DAVE, ch, "workers OOMKilled since the 08:55 deploy")
    people.react(BOB, ch, oom.ts, "pushpin")
    people.pin(CAROL, ch, early.ts)
    reply = people.post(BOB, ch, "rolling the deploy back <now> & then scaling", thread_ts=oom.ts)
    people.react(ALICE, ch, reply.ts, "pushpin")
    people.edit(DAVE, ch, oom.ts, "workers OOMKilled since the 08:50 deploy")
    secret = people.post(ERIN, ch, "token is xoxb-123-oops")
    people.react(ERIN, ch, secret.ts, "pushpin")
    people.delete(ERIN, ch, secret.ts)
    people.react(CAROL, ch, chatter.ts, "eyes")  # not a marking reaction
    await box.events_settled()
    await box.command("alice", "note analysis workers lag too")
    await box.command("alice", "escalate")  # L1 paged at t0+11m
    await set_depth(redis_client, 2500)
    await minutes(box, clock, 2)
    await box.command("bob", "ack")  # t0+13m: 2m after the page
    await box.command("alice", "scale phishnet-worker-email 6")
    await box.click("bob", box.find_message(ActionId.APPROVE.value), ActionId.APPROVE.value)
    box.kube.add_configmap("phishnet", "phishnet-config", {"WORKER_CONCURRENCY": "4"})
    await box.command("bob", "tune phishnet-worker-email WORKER_CONCURRENCY=16")
    await box.click("carol", box.find_message(ActionId.DENY.value), ActionId.DENY.value)
    for depth in (2200, 1600, 900, 300, 0):  # draining after the scale; under 1,000 at t0+15m
        await set_depth(redis_client, depth)
        await minutes(box, clock, 1)
    await box.command("bob", "rootcause a memory leak in the 08:50 deploy")
    resolved = await box.command("alice", "resolve")  # t0+18m
    assert "resolved; report posted" in resolved.text

    prompt = box.find_message(ActionId.FINALISE_REPORT.value)
    assert prompt is not None
    assert "Report draft, incident #1 (resolved)" in prompt.rendered
    assert "`/backlog note lesson: …`" in prompt.rendered
    lesson = people.post(CAROL, ch, "lesson: alert on memroy", thread_ts=prompt.ts)
    people.edit(CAROL, ch, lesson.ts, "lesson: alert on worker memory, not only depth")
    people.post(BOB, ch, "prevention: HPA minReplicas 4 for email workers", thread_ts=prompt.ts)
    people.post(DAVE, ch, "thanks all", thread_ts=prompt.ts)  # neither: not counted
    await box.events_settled()
    noted = await box.command("alice", "note lesson: deploys need a canary")
    assert noted.text == "Noted on incident #1."
    clock.advance(timedelta(minutes=2))
    refused = await box.click("dave", prompt, ActionId.FINALISE_REPORT.value)  # no role
    assert refused.text.startswith(":no_entry: Only members of `sre_oncall`")
    assert "may finalise the report" in refused.text
    done = await box.click("bob", prompt, ActionId.FINALISE_REPORT.value)
    assert done.text == (
        "The report of incident #1 is final (version 2); it is posted in the channel."
    )

    [final] = [m for m in box.channel_messages() if "Final report, incident #1" in m.rendered]
    files = {u.filename: u for u in box.slack.uploads if u.thread_ts == final.ts}
    report = files["incident-1-report.md"].content.decode()
    assert report == await box.runtime.incidents.report(1)  # the stored final, as posted

    # ---- the summary, checked against the samples the bot stored
    samples = await box.runtime.store.samples_between(
        box.playbook.name, t0 - timedelta(hours=2), clock()
    )
    depths = [(s.at, s.depths[QUEUE]) for s in samples]
    began = min(at for at, depth in depths if depth > 1000)
    peak_at, peak = max(depths, key=lambda p: (p[1], -p[0].timestamp()))
    assert (began, peak, peak_at) == (t0, 2500, t0 + timedelta(minutes=11))
    assert "**Date**: 2026-11-28 (Europe/Berlin)" in report
    assert (
        "**Duration**: 18m (backlog began 10:00:00 CET (09:00:00 UTC) → resolved "
        "10:18:00 CET (09:18:00 UTC))" in report
    )
    assert (
        "**Time to detect**: 10m · **to acknowledge**: 3m · **to mitigate**: 13m · "
        "**to recover**: 15m" in report
    )
    assert "**Peak Queue Size**: 2,500 (`email_processing_queue`, at 10:11:00 CET" in report
    assert (
        "- `email_processing_queue`: peak 2,500 at 10:11:00 CET (09:11:00 UTC) · above its "
        "threshold of 1,000 for 15m (" in report
    )
    assert "**Root Cause**: a memory leak in the 08:50 deploy — recorded by @bob" in report
    assert report.count("a memory leak in the 08:50 deploy") == 2  # summary + its timeline line
    assert "**Report**: final, finalised by @bob" in report

    # ---- the timeline: key moments, people's pinned and marked messages, edits, deletions
    assert "- Detection: 2026-11-28 10:10:00 CET (09:10:00 UTC)" in report
    assert "- Mitigation Started: 2026-11-28 10:13:00 CET (09:13:00 UTC)" in report
    assert "- Resolution: 2026-11-28 10:18:00 CET (09:18:00 UTC)" in report
    lines = report.splitlines()

    def line(fragment: str) -> str:
        [found] = [entry for entry in lines if fragment in entry]
        return found

    assert line("email queue looks stuck").startswith("- 10:11:00 CET (09:11:00 UTC) — @carol:")
    assert "📌 pinned by @carol" in line("email queue looks stuck")
    assert "looks stuck?" not in report  # said in the announcement channel, before
    oom_line = line("OOMKilled")
    assert "“workers OOMKilled since the 08:50 deploy”" in oom_line  # as edited
    assert "08:55" not in report
    assert "📌 by @bob" in oom_line and "edited 10:11:00 CET" in oom_line
    assert "rolling the deploy back &lt;now&gt; &amp; then scaling" in line("rolling")
    assert "in a thread" in line("rolling") and "📌 by @alice" in line("rolling")
    assert "@erin: _message deleted at" in report and "xoxb-123" not in report
    assert "lunch" not in report  # neither pinned nor marked
    order = [
        "Backlog began",
        "Detection: EmailQueueBacklog firing",
        # the note and the page come at 09:11:00 on the bot's clock, the people's
        # messages a few microseconds later (Slack's ts on the same clock)
        "Note: analysis workers lag too (@alice)",
        "Paged L1 Senior DevOps Engineer: requested by @alice",
        "email queue looks stuck",
        "OOMKilled",
        "Acknowledged (@bob)",
        "Requested: Scale `phishnet-worker-email` from 2 to 6 replicas",
        "Mitigation started",
        "Recovered: `email_processing_queue` back at or under its threshold",
        "Root cause: a memory leak",
        "Resolved (@alice)",
    ]
    positions = [report.index(text) for text in order]
    assert positions == sorted(positions)

    # ---- actions, escalations, lessons, prevention, chart
    assert "- **scale**: Scale `phishnet-worker-email` from 2 to 6 replicas" in report
    assert "requested by @alice at 10:13:00 CET (09:13:00 UTC); approved by @bob at 10:13:00" in (
        report
    )
    assert "parameters: replicas=6; deployment=phishnet-worker-email; replicas_before=2" in report
    # 1,500 for eight minutes then 2,500 (before); 2,200, 1,600, 900, 300, 0 (after):
    # least-squares slopes of +97 and -570 jobs a minute.
    assert (
        "`email_processing_queue` net rate before: +97/min (growing) → after: -570/min "
        "(draining)" in report
    )
    assert "- **tune**: Set WORKER_CONCURRENCY" in report
    assert "outcome: denied by @carol" in report
    assert (
        "- L1 Senior DevOps Engineer: paged 10:11:00 CET (09:11:00 UTC) (@bob, by @alice) — "
        "requested by @alice; acknowledged by @bob at 10:13:00 CET (09:13:00 UTC), 2m after "
        "this page" in report
    )
    assert (
        "### Lessons Learned\n- deploys need a canary (@alice)\n"
        "- alert on worker memory, not only depth (@carol)\n" in report
    )
    assert "memroy" not in report  # the reply as edited
    assert "### Prevention Measures\n- HPA minReplicas 4 for email workers (@bob)\n" in report
    assert "thanks all" not in report
    assert "![Queue depths over the incident and the hour before](incident-1-queue-depths.png)" in (
        report
    )
    chart = files["incident-1-queue-depths.png"].content
    assert png_size(chart) == (1100, 500) and len(chart) > 20_000
    assert "<@" not in report and "<!" not in report  # nobody is pinged by a report

    # ---- the draft's message lost its button; the final report no longer changes
    shown = box.slack.message(prompt.channel, prompt.ts)
    assert "[Finalise report]" not in shown.rendered
    assert "Finalised by @bob (version 2)" in shown.rendered
    again = await box.click("carol", prompt, ActionId.FINALISE_REPORT.value)
    assert "already finalised by <@" in again.text and "version 2" in again.text
    late = await box.command("alice", "note lesson: too late")
    assert "There is no open incident." in late.text
    assert await box.runtime.incidents.report(1) == report


async def test_report_command_shows_the_draft_and_resolve_cuts_no_note(
    box: Sandbox, redis_client, clock
):
    """Issue 7, input 5: twenty-five notes of 3,000 characters."""
    await set_depth(redis_client, 1500)
    await minutes(box, clock, 11)
    notes = [f"note {i:02d} " + "x" * 2992 for i in range(25)]
    for text in notes:
        await box.command("alice", f"note {text}")
    shown = await box.command("alice", "report")
    assert len(shown.text) < 4000
    assert "is sent to you by direct message as the file" in shown.text
    name = re.search(r"as the file `([^`]+)`", shown.text).group(1)
    [whole] = [u for u in box.slack.uploads if u.filename == name]
    for text in notes:
        assert text in whole.content.decode()  # every note, whole
    resolved = await box.command("alice", "resolve")
    assert "resolved; report posted" in resolved.text
    prompt = box.find_message(ActionId.FINALISE_REPORT.value)
    [draft] = [u for u in box.slack.uploads if u.filename == "incident-1-report-draft-v1.md"]
    assert draft.thread_ts == prompt.ts
    posted = draft.content.decode()
    for text in notes:
        assert f"Note: {text} (@alice)" in posted
    assert all(len(m.text) <= 4000 for m in box.channel_messages())
