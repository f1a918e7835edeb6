"""Permanent refusals, produced the way Slack produces them (issue 7)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import CHANNEL, slack_error

MANIFEST_SCOPES = ["chat:write", "commands", "files:write", "usergroups:read", "users:read"]


async def test_posting_where_the_bot_is_not_a_member_is_not_in_channel(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0OTHER", "other-team", bot_is_member=False)
    emulator.set_scopes(MANIFEST_SCOPES)  # no chat:write.public

    error = await slack_error(client.chat_postMessage(channel="C0OTHER", text="hello"))

    assert error.response["error"] == "not_in_channel"
    assert emulator.messages("C0OTHER") == []


async def test_chat_write_public_posts_into_a_public_channel_without_joining(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0OTHER", "other-team", bot_is_member=False)
    emulator.set_scopes([*MANIFEST_SCOPES, "chat:write.public"])

    posted = await client.chat_postMessage(channel="#other-team", text="hello")

    assert posted["channel"] == "C0OTHER"
    assert [m.text for m in emulator.messages("C0OTHER")] == ["hello"]
    assert emulator.bot_user_id not in emulator.channel("C0OTHER").members


async def test_a_private_channel_the_bot_is_not_in_does_not_exist_for_it(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.add_channel("C0SECRET", "secret", bot_is_member=False, is_private=True)

    error = await slack_error(client.chat_postMessage(channel="C0SECRET", text="hello"))

    assert error.response["error"] == "channel_not_found"


async def test_a_bot_removed_from_the_channel_gets_not_in_channel_on_reads(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="alert")
    emulator.remove_member(CHANNEL, emulator.bot_user_id)

    history = await slack_error(client.conversations_history(channel=CHANNEL))
    pin = await slack_error(client.pins_add(channel=CHANNEL, timestamp=posted["ts"]))

    assert history.response["error"] == "not_in_channel"
    assert pin.response["error"] == "not_in_channel"


async def test_an_archived_channel_is_is_archived(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="before")
    emulator.people.archive("U1", CHANNEL)

    post = await slack_error(client.chat_postMessage(channel=CHANNEL, text="after"))
    update = await slack_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))

    assert (post.response["error"], update.response["error"]) == ("is_archived", "is_archived")
    assert [m.text for m in emulator.messages(CHANNEL) if not m.is_system] == ["before"]


async def test_missing_scope_names_the_needed_and_provided_scopes(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.set_scopes(MANIFEST_SCOPES)

    error = await slack_error(client.conversations_create(name="inc-1"))

    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "channels:manage"
    assert error.response["provided"] == ",".join(sorted(MANIFEST_SCOPES))


async def test_fail_next_carries_extra_fields_and_refuse_is_permanent(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_next("chat.postMessage", "missing_scope", needed="chat:write", provided="")
    emulator.refuse("chat.update", "restricted_action")
    posted_error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    posted = await client.chat_postMessage(channel=CHANNEL, text="y")

    for _ in range(2):
        update = await slack_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="z"))
        assert update.response["error"] == "restricted_action"
    emulator.allow("chat.update")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="z")

    assert (posted_error.response["needed"], posted_error.response["provided"]) == (
        "chat:write",
        "",
    )
    assert [m.text for m in emulator.messages(CHANNEL)] == ["z"]
