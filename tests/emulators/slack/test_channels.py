"""Channel management as Slack answers it (issue 9): create, topic, purpose, invite,
archive, join, members, info."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import CHANNEL, slack_error


async def test_create_makes_a_channel_the_bot_created_and_is_in(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    created = await client.conversations_create(name="inc-20261129-emailqueuebacklog")

    channel = created["channel"]
    assert channel["name"] == "inc-20261129-emailqueuebacklog"
    assert channel["id"].startswith("C") and channel["is_private"] is False
    assert (channel["creator"], channel["is_member"]) == (emulator.bot_user_id, True)
    posted = await client.chat_postMessage(channel=channel["id"], text="Backlog!")
    assert posted["channel"] == channel["id"]
    history = await client.conversations_history(channel=channel["id"])
    assert [(m.get("subtype"), m["text"]) for m in history["messages"]] == [
        (None, "Backlog!"),
        ("channel_join", f"<@{emulator.bot_user_id}> has joined the channel"),
    ]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc-Email", "invalid_name_specials"),
        ("inc email", "invalid_name_specials"),
        ("inc.email", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        ("backlog-incidents", "name_taken"),
    ],
)
async def test_create_refuses_names_as_slack_does(
    client: AsyncWebClient, name: str, error: str
) -> None:
    refused = await slack_error(client.conversations_create(name=name))

    assert refused.response["error"] == error


async def test_an_archived_channels_name_is_still_taken(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    created = await client.conversations_create(name="inc-1")
    await client.conversations_archive(channel=created["channel"]["id"])

    refused = await slack_error(client.conversations_create(name="inc-1"))
    longest = await client.conversations_create(name="i" * 80)

    assert refused.response["error"] == "name_taken"
    assert longest["channel"]["name"] == "i" * 80


async def test_create_refused_by_the_workspace_is_restricted_action(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.refuse("conversations.create")

    refused = await slack_error(client.conversations_create(name="inc-2"))

    assert refused.response["error"] == "restricted_action"
    assert all(c.name != "inc-2" for c in emulator.workspace.channels.values())


async def test_topic_and_purpose_show_in_info_and_in_the_channel(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    channel_id = (await client.conversations_create(name="inc-3"))["channel"]["id"]

    topic = await client.conversations_setTopic(channel=channel_id, topic="FIRING · email")
    await client.conversations_setPurpose(channel=channel_id, purpose="Backlog on email")
    too_long = await slack_error(client.conversations_setTopic(channel=channel_id, topic="x" * 251))
    info = await client.conversations_info(channel=channel_id, include_num_members=True)

    assert topic["channel"]["topic"]["value"] == "FIRING · email"
    assert info["channel"]["topic"]["value"] == "FIRING · email"
    assert info["channel"]["topic"]["creator"] == emulator.bot_user_id
    assert info["channel"]["purpose"]["value"] == "Backlog on email"
    assert (info["channel"]["num_members"], info["channel"]["is_member"]) == (1, True)
    assert too_long.response["error"] == "too_long"
    texts = [m.text for m in emulator.messages(channel_id)]
    assert texts[-2:] == [
        "set the channel topic: FIRING · email",
        "set the channel purpose: Backlog on email",
    ]


async def test_topic_where_the_bot_is_not_a_member_is_not_in_channel(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0ELSE", "elsewhere", bot_is_member=False)

    refused = await slack_error(client.conversations_setTopic(channel="C0ELSE", topic="x"))

    assert refused.response["error"] == "not_in_channel"


async def test_invite_adds_people_who_then_are_members(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    channel_id = (await client.conversations_create(name="inc-4"))["channel"]["id"]

    invited = await client.conversations_invite(channel=channel_id, users=["U1", "U2"])
    members = await client.conversations_members(channel=channel_id)

    assert invited["channel"]["id"] == channel_id
    assert members["members"] == [emulator.bot_user_id, "U1", "U2"]
    joins = [m for m in emulator.messages(channel_id) if m.subtype == "channel_join"]
    assert [(m.user, m.extra.get("inviter")) for m in joins] == [
        (emulator.bot_user_id, None),
        ("U1", emulator.bot_user_id),
        ("U2", emulator.bot_user_id),
    ]


async def test_invite_with_one_bad_user_fails_whole_and_lists_each_error(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    channel_id = (await client.conversations_create(name="inc-5"))["channel"]["id"]
    await client.conversations_invite(channel=channel_id, users="U1")

    refused = await slack_error(
        client.conversations_invite(channel=channel_id, users="U1,U2,U404,UBOT")
    )

    assert refused.response["error"] == "already_in_channel"
    assert refused.response["errors"] == [
        {"user": "U1", "ok": False, "error": "already_in_channel"},
        {"user": "U404", "ok": False, "error": "user_not_found"},
        {"user": "UBOT", "ok": False, "error": "cant_invite_self"},
    ]
    assert emulator.channel(channel_id).members == [emulator.bot_user_id, "U1"]


async def test_invite_with_force_invites_the_valid_ones_and_reports_the_rest(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    channel_id = (await client.conversations_create(name="inc-6"))["channel"]["id"]

    partial = await client.conversations_invite(channel=channel_id, users="U2,U404", force=True)
    nobody = await slack_error(
        client.conversations_invite(channel=channel_id, users="U404", force=True)
    )

    assert partial["ok"] is True
    assert partial["errors"] == [{"user": "U404", "ok": False, "error": "user_not_found"}]
    assert emulator.channel(channel_id).members == [emulator.bot_user_id, "U2"]
    assert nobody.response["error"] == "user_not_found"


async def test_archive_and_unarchive(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    channel_id = (await client.conversations_create(name="inc-7"))["channel"]["id"]

    await client.conversations_archive(channel=channel_id)
    again = await slack_error(client.conversations_archive(channel=channel_id))
    info = await client.conversations_info(channel=channel_id)
    post = await slack_error(client.chat_postMessage(channel=channel_id, text="x"))
    await client.conversations_unarchive(channel=channel_id)
    posted = await client.chat_postMessage(channel=channel_id, text="back")

    assert again.response["error"] == "already_archived"
    assert info["channel"]["is_archived"] is True
    assert post.response["error"] == "is_archived"
    assert posted["ok"] is True


async def test_join_a_public_channel_then_post_without_chat_write_public(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0PUBLIC", "announcements", bot_is_member=False)
    emulator.add_channel("C0PRIV", "private-ops", bot_is_member=False, is_private=True)
    emulator.set_scopes(["chat:write", "channels:join", "channels:history"])

    before = await slack_error(client.chat_postMessage(channel="C0PUBLIC", text="x"))
    joined = await client.conversations_join(channel="C0PUBLIC")
    again = await client.conversations_join(channel="C0PUBLIC")
    private = await slack_error(client.conversations_join(channel="C0PRIV"))
    posted = await client.chat_postMessage(channel="C0PUBLIC", text="pointer")

    assert before.response["error"] == "not_in_channel"
    assert joined["channel"]["is_member"] is True
    assert again["warning"] == "already_in_channel"
    assert private.response["error"] == "channel_not_found"
    assert posted["ok"] is True


async def test_members_are_paginated(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    first = await client.conversations_members(channel=CHANNEL, limit=2)
    rest = await client.conversations_members(
        channel=CHANNEL, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )

    assert first["members"] == [emulator.bot_user_id, "U1"]
    assert rest["members"] == ["U2"]
    assert rest["response_metadata"]["next_cursor"] == ""


async def test_list_shows_the_channels_the_bot_can_see_paginated(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0SECRET", "leads", members=["U1"], bot_is_member=False, is_private=True)
    emulator.add_channel("C0OURS", "ops-private", is_private=True)
    archived = (await client.conversations_create(name="inc-old"))["channel"]["id"]
    await client.conversations_archive(channel=archived)

    public = await client.conversations_list(exclude_archived=True)
    everything = await client.conversations_list(types="public_channel,private_channel", limit=2)
    rest = await client.conversations_list(
        types="public_channel,private_channel",
        limit=2,
        cursor=everything["response_metadata"]["next_cursor"],
    )

    assert [c["name"] for c in public["channels"]] == ["backlog-incidents"]
    assert [c["name"] for c in everything["channels"] + rest["channels"]] == [
        "backlog-incidents",
        "ops-private",
        "inc-old",
    ]
    assert rest["response_metadata"]["next_cursor"] == ""
