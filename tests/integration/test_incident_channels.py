"""An incident's own channel, through the real bot and the Slack emulator with the
manifest's scopes: created from the playbook's template, named uniquely, set up
(topic, purpose, invitations with user groups, the alert pinned, the runbook
bookmarked), pointed to from the announcement channel; the announcement channel
as the fallback where Slack refuses, said once; and everything set up once even
when Slack was down or lost an answer when the incident opened."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE, manifest_scopes
from bot.domain.playbook_slack import ChannelMode

ALICE = PEOPLE["alice"].user_id
DAVE = PEOPLE["dave"].user_id
NAME = "inc-20261128-emailqueuebacklog"  # T0 is 2026-11-28; the rule EmailQueueBacklog


async def open_incident(sandbox, redis_client, clock, depth: int = 1500) -> None:
    """A backlog above 1,000 for the rule's 10 minutes: the 11th sample fires it."""
    await redis_client.lpush("email_processing_queue", *range(depth))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


def calls(sandbox, method: str):
    return [c for c in sandbox.slack.calls if c.method == method]


async def test_incident_gets_its_own_channel_set_up_and_announced(sandbox, redis_client, clock):
    await open_incident(sandbox, redis_client, clock)

    channel = sandbox.slack.channel(NAME)
    assert channel.creator == sandbox.slack.bot_user_id and not channel.is_private
    assert ALICE in channel.members  # the playbook's invite_roles: sre_oncall
    assert PEOPLE["bob"].user_id not in channel.members  # L1 is invited when paged
    assert channel.topic.value == (
        "Firing · EmailQueueBacklog on email_processing_queue (above 1,000) · warning · incident #1"
    )
    assert channel.purpose.value.startswith("Incident #1: Large email queue backlog detected.")
    [bookmark] = channel.bookmarks
    assert (bookmark["title"], bookmark["link"]) == (
        "Runbook",
        "https://runbooks.example.com/phishnet/worker-queue-backlog",
    )
    alert = sandbox.find_message(ActionId.ACK.value)
    assert alert.channel == channel.id
    assert [p.ts for p in channel.pins] == [alert.ts]

    # The announcement channel gets one line pointing there, with a link a person can click.
    [pointer] = [m for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID) if m.is_bot]
    assert pointer.text.endswith(f"Follow it in <#{channel.id}>.")
    directory = sandbox.slack.workspace.directory()
    from bot.emulators.slack_api import humanize

    assert humanize(pointer.text, directory) == (
        "🚨 Incident #1 (warning): Large email queue backlog detected: "
        f"`email_processing_queue` at 1,500. Follow it in #{NAME}."
    )

    incident = await sandbox.runtime.store.get_incident(1)
    assert (incident.channel, incident.channel_status, incident.channel_name) == (
        channel.id,
        "dedicated",
        NAME,
    )
    rows = {m.key: m for m in await sandbox.runtime.store.outbox_messages(1)}
    assert rows["incident/1/channel"].state == "delivered"
    waiting = {k: m.error for k, m in rows.items() if m.state != "delivered"}
    # Only the living alert's latest edit may wait: edits are coalesced (alert_refresh).
    assert set(waiting) <= {"incident/1/alert"}
    assert all("coalescing edits" in (e or "") for e in waiting.values())
    assert len(calls(sandbox, "conversations.create")) == 1

    # People type in the incident channel; the answers land there.
    answer = await sandbox.command("alice", "ack")
    assert answer.text == f"Incident #1 acknowledged by <@{ALICE}>; paging stops."
    assert sandbox.slack.responses()[-1].payload["response_type"] == "in_channel"


async def test_a_taken_name_gets_the_first_free_suffix(make_sandbox, redis_client, clock):
    sandbox = await make_sandbox()
    # Archived channels keep their names; a private one the bot cannot see holds "-2".
    taken = sandbox.slack.add_channel("COLDINC", NAME, members=[ALICE])
    taken.is_archived = True
    sandbox.slack.add_channel(
        "GPRIVATE", f"{NAME}-2", members=[ALICE], bot_is_member=False, is_private=True
    )
    await open_incident(sandbox, redis_client, clock)

    tried = [c.args.get("name") for c in calls(sandbox, "conversations.create")]
    assert tried == [NAME, f"{NAME}-2", f"{NAME}-3"]
    incident = await sandbox.runtime.store.get_incident(1)
    assert incident.channel_name == f"{NAME}-3"
    assert sandbox.find_message(ActionId.ACK.value).channel == incident.channel


@pytest.mark.parametrize(
    ("refusal", "why"),
    [
        (
            "restricted_action",
            "the workspace's settings do not let apps create channels (restricted_action)",
        ),
        (
            "missing_scope",
            "the Slack app lacks the permission to create channels (needs `channels:manage`); "
            "reinstall it from manifest.yml",
        ),
    ],
)
async def test_where_channels_cannot_be_created_the_incident_falls_back_and_says_so_once(
    make_sandbox, redis_client, clock, refusal, why
):
    if refusal == "missing_scope":
        scopes = [s for s in manifest_scopes() if s != "channels:manage"]
        sandbox = await make_sandbox(scopes=scopes)
    else:
        sandbox = await make_sandbox()
        sandbox.slack.refuse("conversations.create", refusal)
    await open_incident(sandbox, redis_client, clock)

    said = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID) if m.is_bot]
    notices = [t for t in said if "could not create a channel" in t]
    assert notices == [
        f":warning: Backlog Bot could not create a channel for incident #1 ({why}); "
        "the incident is followed here instead."
    ]
    alert = sandbox.find_message(ActionId.ACK.value)
    assert alert.channel == INCIDENT_CHANNEL_ID  # the alert is in the announcement channel
    assert sandbox.incident_channels() == []
    # Nothing meant for a channel of its own touched the shared one.
    for method in ("conversations.setTopic", "conversations.invite", "pins.add", "bookmarks.add"):
        assert calls(sandbox, method) == [], method
    incident = await sandbox.runtime.store.get_incident(1)
    assert (incident.channel_status, incident.channel_note) == ("fallback", why)

    # Later messages go there too, and the refusal is not said again.
    await sandbox.command("alice", "note checking the workers")
    clock.advance(timedelta(minutes=40))
    await sandbox.runtime.escalation.tick()
    await sandbox.settle()
    pages = [m for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID) if "Escalating" in m.text]
    assert len(pages) == 1
    said = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID) if m.is_bot]
    assert len([t for t in said if "could not create a channel" in t]) == 1


async def test_invitations_include_the_roles_user_groups(
    make_sandbox, playbook, redis_client, clock
):
    roles = dict(playbook.roles)
    roles["sre_oncall"] = roles["sre_oncall"].model_copy(update={"usergroups": ("S0ONCALL",)})
    sandbox = await make_sandbox(
        playbook=playbook.model_copy(update={"roles": roles}),
        usergroups={"S0ONCALL": [DAVE, ALICE, "UBOT"]},  # the bot itself is not invited
    )
    sandbox.slack.set_usergroup("S0ONCALL", [DAVE, ALICE, "UBOT"], handle="sre-oncall")
    await open_incident(sandbox, redis_client, clock)

    channel = sandbox.slack.channel(NAME)
    assert {ALICE, DAVE} <= set(channel.members)
    [invite] = calls(sandbox, "conversations.invite")
    assert sorted(invite.args["users"].split(",")) == sorted([ALICE, DAVE])
    assert [c.args["usergroup"] for c in calls(sandbox, "usergroups.users.list")] == ["S0ONCALL"]
    joined = [m.text for m in sandbox.slack.messages(channel.id) if m.subtype == "channel_join"]
    assert f"<@{DAVE}> has joined the channel" in joined


async def test_a_channel_whose_creation_answer_was_lost_is_adopted_not_made_twice(
    sandbox, redis_client, clock
):
    # Slack creates the channel, then the connection drops before the answer arrives.
    sandbox.slack.fail_after_storing("conversations.create", "disconnect")
    await open_incident(sandbox, redis_client, clock)
    clock.advance(timedelta(seconds=5))  # the sender's retry, on the bot's clock
    await sandbox.settle()

    assert len(sandbox.incident_channels()) == 1
    assert len(calls(sandbox, "conversations.create")) == 1  # looked it up instead
    channel = sandbox.slack.channel(NAME)
    alerts = [m for m in sandbox.slack.messages(channel.id) if m.is_bot and m.blocks]
    assert len(alerts) == 1 and alerts[0].pinned_to == [channel.id]
    assert (await sandbox.runtime.store.get_incident(1)).channel == channel.id


async def test_an_incident_opened_while_slack_is_down_is_set_up_once_when_it_answers(
    sandbox, redis_client, clock
):
    sandbox.slack.server_error_next("*", 503, times=6)
    await open_incident(sandbox, redis_client, clock)
    incident = await sandbox.runtime.store.get_incident(1)
    assert incident.channel_status == "pending"  # stored at once, whatever Slack says
    for _ in range(6):  # the sender's backoff runs on the injected clock
        clock.advance(timedelta(seconds=70))
        await sandbox.settle()

    assert len(sandbox.incident_channels()) == 1
    channel = sandbox.slack.channel(NAME)
    bot_posts = [m for m in sandbox.slack.messages(channel.id) if m.is_bot and m.blocks]
    assert len([m for m in bot_posts if "Incident #1" in m.rendered]) == 1
    assert len(channel.pins) == 1 and len(channel.bookmarks) == 1
    assert ALICE in channel.members
    pointers = [m for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID) if m.is_bot]
    assert len(pointers) == 1
    states = {m.key: m.state for m in await sandbox.runtime.store.outbox_messages(1)}
    assert {k for k, v in states.items() if v != "delivered"} <= {"incident/1/alert"}


async def test_fixed_mode_keeps_everything_in_the_announcement_channel(
    make_sandbox, playbook, redis_client, clock
):
    channels = playbook.slack.incident_channels.model_copy(update={"mode": ChannelMode.FIXED})
    slack = playbook.slack.model_copy(update={"incident_channels": channels})
    sandbox = await make_sandbox(playbook=playbook.model_copy(update={"slack": slack}))
    await open_incident(sandbox, redis_client, clock)

    assert calls(sandbox, "conversations.create") == []
    alert = sandbox.find_message(ActionId.ACK.value)
    assert alert.channel == INCIDENT_CHANNEL_ID
    assert (await sandbox.runtime.store.get_incident(1)).channel_status == "fixed"
