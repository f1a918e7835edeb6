"""Pages with an Acknowledge button and a DM to each paged person, commands typed
elsewhere mirrored into the incident's channel, the resolved alert with its outcome,
stale buttons that say the incident is resolved, and archiving only on request."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.emulators.slack_api import humanize

ALICE = PEOPLE["alice"].user_id
BOB = PEOPLE["bob"].user_id
NAME = "inc-20261128-emailqueuebacklog"
RESOLVED = "This incident is resolved (incident #1, resolved by <@U0SREONCALL> at"


async def open_incident(sandbox, redis_client, clock) -> None:
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


async def page_l1(sandbox, clock) -> None:
    clock.advance(timedelta(minutes=30))
    await sandbox.runtime.escalation.tick()
    await sandbox.settle()


def shown(sandbox, message) -> str:
    current = sandbox.slack.message(message.channel, message.ts)
    return humanize(current.rendered, sandbox.slack.workspace.directory())


async def test_a_page_has_an_acknowledge_button_and_reaches_each_person_directly(
    sandbox, redis_client, clock
):
    await open_incident(sandbox, redis_client, clock)
    await page_l1(sandbox, clock)

    channel = sandbox.slack.channel(NAME)
    [page] = [m for m in sandbox.slack.messages(channel.id) if "Escalating incident" in m.text]
    assert "[Acknowledge]" in page.rendered
    assert "L1 — Senior DevOps Engineer*: <@U0SENIORDEVOPS>" in page.text
    assert BOB in channel.members  # the paged tier is invited into the channel
    [dm] = [m for m in sandbox.slack.messages(BOB) if m.is_bot]
    assert shown(sandbox, dm).startswith(
        "🚨 You are paged for incident #1, L1 — Senior DevOps Engineer: Large email queue "
        "backlog detected (`email_processing_queue` at 1,500)."
    )
    assert f"Join #{NAME}" in shown(sandbox, dm) and "[Acknowledge]" in dm.rendered

    # Bob acknowledges from his DM: answered there, said in the incident's channel.
    answer = await sandbox.click("bob", dm, ActionId.ACK.value)
    assert answer.text.startswith(f"Incident #1 acknowledged by <@{BOB}>; paging stops.")
    assert f"Also posted in <#{channel.id}>" in answer.text
    mirrored = [m for m in sandbox.slack.messages(channel.id) if "in a direct message" in m.text]
    assert len(mirrored) == 1
    assert shown(sandbox, mirrored[0]).startswith("@bob in a direct message: `/backlog ack`")
    for message in (page, dm):
        now = shown(sandbox, message)
        assert "[Acknowledge]" not in now and "✅ Acknowledged by @bob at" in now
    alert = sandbox.find_message(ActionId.ALERT_STATUS.value)
    assert "[Acknowledge]" not in sandbox.slack.message(alert.channel, alert.ts).rendered
    incident = await sandbox.runtime.store.get_incident(1)
    assert incident.acknowledged_by == BOB


async def test_commands_typed_elsewhere_are_answered_there_and_mirrored(
    sandbox, redis_client, clock
):
    await open_incident(sandbox, redis_client, clock)
    channel = sandbox.slack.channel(NAME)
    noted = await sandbox.command(
        "alice", "note restarted the SMTP relay", channel=INCIDENT_CHANNEL_ID
    )
    assert noted.text == f"Noted on incident #1.\n_(Also posted in <#{channel.id}>.)_"
    [mirror] = [m for m in sandbox.slack.messages(channel.id) if "`/backlog note" in m.text]
    assert shown(sandbox, mirror) == (
        "@alice in #phishnet-incidents: `/backlog note restarted the SMTP relay`\n"
        "> Noted on incident #1."
    )
    # A request typed elsewhere is posted for approval in the incident's channel.
    asked = await sandbox.command(
        "alice", "scale phishnet-worker-email 6", channel=INCIDENT_CHANNEL_ID
    )
    assert asked.text.endswith(f"It is in <#{channel.id}>, the incident's channel.")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert approval.channel == channel.id
    # Typed in the incident's channel: nothing to mirror.
    before = len(sandbox.slack.messages(channel.id))
    await sandbox.command("alice", "note all workers healthy again")
    assert not [m for m in sandbox.slack.messages(channel.id)[before:] if "`/backlog" in m.text]


async def test_after_resolve_every_stale_button_says_the_incident_is_resolved(
    sandbox, redis_client, clock
):
    await open_incident(sandbox, redis_client, clock)
    await page_l1(sandbox, clock)
    alert = sandbox.find_message(ActionId.ALERT_SCALE.value)
    page = next(m for m in sandbox.channel_messages() if "Escalating incident" in m.text)
    await sandbox.command("alice", "scale phishnet-worker-email 8")
    approval = sandbox.find_message(ActionId.APPROVE.value)

    resolved = await sandbox.command("alice", "resolve")
    assert resolved.text == "Incident #1 resolved; report posted."

    # The alert's buttons gave way to the outcome and a link to the report.
    final = sandbox.slack.message(alert.channel, alert.ts)
    assert not [b for b in final.blocks if b["type"] == "actions"]
    report = next(
        m for m in sandbox.channel_messages() if "Report draft, incident #1" in m.rendered
    )
    archives = f"https://backlog-bot-demo.slack.com/archives/{report.channel}"
    link = f"{archives}/p{report.ts.replace('.', '')}"
    assert f"*Report:* <{link}|Report for incident #1>" in final.rendered
    assert "*Resolved* by <@U0SREONCALL> at" in final.rendered
    # The pending request expired with the incident; its buttons are gone too.
    expired = sandbox.slack.message(approval.channel, approval.ts).rendered
    assert "The incident was resolved before this was approved: nothing was done." in expired
    assert "[Approve]" not in expired

    # A client still showing the old buttons: each click is answered, nothing happens.
    for message, action in [
        (alert, ActionId.ACK.value),
        (alert, ActionId.ALERT_SCALE.value),
        (alert, ActionId.ALERT_DIAGNOSE.value),
        (page, ActionId.ACK.value),
        (approval, ActionId.APPROVE.value),
        (approval, ActionId.DENY.value),
    ]:
        answer = await sandbox.click("bob", message, action)
        assert RESOLVED in answer.text, action
        assert answer.text.endswith("this button does nothing now.")
    incident = await sandbox.runtime.store.get_incident(1)
    assert incident.acknowledged_by is None
    request = (await sandbox.runtime.store.actions_for_incident(1))[0]
    assert request.state.value == "expired" and request.approvers == ()
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2


async def test_the_channel_stays_open_until_someone_archives_it(sandbox, redis_client, clock):
    await open_incident(sandbox, redis_client, clock)
    await sandbox.command("alice", "resolve")
    channel = sandbox.slack.channel(NAME)
    assert not channel.is_archived
    closing = sandbox.find_message(ActionId.ARCHIVE.value)
    assert closing.channel == channel.id
    assert "This channel stays open for follow-up" in closing.rendered

    answer = await sandbox.click("carol", closing, ActionId.ARCHIVE.value)
    assert answer.text == f"Archiving <#{channel.id}> (requested by <@U0ENGLEAD>)."
    assert channel.is_archived
    again = await sandbox.click("carol", closing, ActionId.ARCHIVE.value)
    assert again.text == "This channel is already being archived."
    [audit] = [e for e in await sandbox.runtime.store.audit_entries() if e["action"] == "archive"]
    assert (audit["actor"], audit["target"]) == ("U0ENGLEAD", "incident/1/channel")


async def test_another_replica_acknowledges_with_the_stored_numbers(
    make_sandbox, redis_client, clock
):
    sampler = await make_sandbox()
    other = await make_sandbox(replica_of=sampler)
    await open_incident(sampler, redis_client, clock)
    await redis_client.lpush("email_processing_queue", *range(1500, 1800))
    await sampler.tick()  # the sampling replica saw 1,800; the other one sampled nothing
    answer = await other.command("bob", "ack")
    assert answer.text == f"Incident #1 acknowledged by <@{BOB}>; paging stops."
    alert = sampler.find_message(ActionId.ALERT_STATUS.value)
    now = sampler.slack.message(alert.channel, alert.ts).rendered
    assert f"acknowledged by <@{BOB}>" in now and "[Acknowledge]" not in now
    assert "• `email_processing_queue`: *1,800* / 1,000" in now
    assert "for *11m*" in now  # the rule's state, replayed from the stored samples
