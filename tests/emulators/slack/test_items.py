"""Pins, reactions and bookmarks, from the bot and from people, as history shows them."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import ActionRefused, SlackEmulator
from tests.emulators.slack.support import CHANNEL, slack_error


async def test_pins_add_list_remove(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    alert = await client.chat_postMessage(channel=CHANNEL, text="Backlog on email")

    await client.pins_add(channel=CHANNEL, timestamp=alert["ts"])
    twice = await slack_error(client.pins_add(channel=CHANNEL, timestamp=alert["ts"]))
    listed = await client.pins_list(channel=CHANNEL)
    history = await client.conversations_history(channel=CHANNEL)
    await client.pins_remove(channel=CHANNEL, timestamp=alert["ts"])
    gone = await slack_error(client.pins_remove(channel=CHANNEL, timestamp=alert["ts"]))
    missing = await slack_error(client.pins_add(channel=CHANNEL, timestamp="1.000009"))

    assert twice.response["error"] == "already_pinned"
    (item,) = listed["items"]
    assert (item["type"], item["message"]["text"]) == ("message", "Backlog on email")
    assert item["created_by"] == emulator.bot_user_id
    assert history["pin_count"] == 1
    assert history["messages"][0]["pinned_to"] == [CHANNEL]
    assert gone.response["error"] == "no_pin"
    assert missing.response["error"] == "message_not_found"
    assert (await client.pins_list(channel=CHANNEL))["items"] == []


async def test_a_join_message_is_not_pinnable(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    channel_id = (await client.conversations_create(name="inc-pins"))["channel"]["id"]
    (join,) = emulator.messages(channel_id)

    refused = await slack_error(client.pins_add(channel=channel_id, timestamp=join.ts))

    assert refused.response["error"] == "not_pinnable"


async def test_reactions_from_the_bot_and_people(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    note = emulator.people.post("U1", CHANNEL, "restarted the workers")
    emulator.people.react("U1", CHANNEL, note.ts, "pushpin")
    emulator.people.react("U2", CHANNEL, note.ts, "pushpin")

    await client.reactions_add(channel=CHANNEL, timestamp=note.ts, name="eyes")
    again = await slack_error(client.reactions_add(channel=CHANNEL, timestamp=note.ts, name="eyes"))
    colons = await slack_error(
        client.reactions_add(channel=CHANNEL, timestamp=note.ts, name=":eyes:")
    )
    got = await client.reactions_get(channel=CHANNEL, timestamp=note.ts)
    await client.reactions_remove(channel=CHANNEL, timestamp=note.ts, name="eyes")
    none_left = await slack_error(
        client.reactions_remove(channel=CHANNEL, timestamp=note.ts, name="eyes")
    )

    assert again.response["error"] == "already_reacted"
    assert colons.response["error"] == "invalid_name"
    assert none_left.response["error"] == "no_reaction"
    assert got["message"]["reactions"] == [
        {"name": "pushpin", "users": ["U1", "U2"], "count": 2},
        {"name": "eyes", "users": [emulator.bot_user_id], "count": 1},
    ]
    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"][0]["reactions"] == [
        {"name": "pushpin", "users": ["U1", "U2"], "count": 2}
    ]


async def test_people_edit_delete_and_pin_as_history_shows(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    parent = emulator.people.post("U1", CHANNEL, "root cause: DB locks?")
    emulator.people.post("U2", CHANNEL, "checking", thread_ts=parent.ts)
    typo = emulator.people.post("U2", CHANNEL, "restartd")
    emulator.people.edit("U1", CHANNEL, parent.ts, "root cause: DB locks")
    emulator.people.pin("U2", CHANNEL, parent.ts)
    emulator.people.delete("U2", CHANNEL, typo.ts)
    emulator.people.delete("U1", CHANNEL, parent.ts)  # has a reply: leaves a tombstone

    history = await client.conversations_history(channel=CHANNEL)
    (tombstone,) = history["messages"]

    assert tombstone["subtype"] == "tombstone" and tombstone["reply_count"] == 1
    replies = await client.conversations_replies(channel=CHANNEL, ts=parent.ts)
    assert [m["text"] for m in replies["messages"]] == ["This message was deleted.", "checking"]
    assert [v.text for v in parent.versions] == [
        "root cause: DB locks?",
        "root cause: DB locks",
        "This message was deleted.",
    ]


async def test_edited_message_shows_who_and_when(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    note = emulator.people.post("U1", CHANNEL, "lesson: alert sooner")
    emulator.people.edit("U1", CHANNEL, note.ts, "lesson: alert at 5k, not 10k")
    emulator.people.pin("U2", CHANNEL, note.ts)

    (shown,) = (await client.conversations_history(channel=CHANNEL))["messages"]

    assert shown["text"] == "lesson: alert at 5k, not 10k"
    assert shown["edited"]["user"] == "U1" and float(shown["edited"]["ts"]) > float(note.ts)
    assert shown["pinned_to"] == [CHANNEL]


async def test_people_cannot_do_what_slack_would_refuse(emulator: SlackEmulator) -> None:
    emulator.add_channel("C0PRIVATE", "leads", members=["U1"], is_private=True)
    note = emulator.people.post("U1", CHANNEL, "mine")

    refusals = []
    for attempt in (
        lambda: emulator.people.post("U2", "C0PRIVATE", "hi"),
        lambda: emulator.people.edit("U2", CHANNEL, note.ts, "not yours"),
        lambda: emulator.people.react("U404", CHANNEL, note.ts, "eyes"),
    ):
        try:
            attempt()
        except ActionRefused as refused:
            refusals.append(str(refused))

    assert refusals == [
        "bob cannot post: Slack says not_in_channel",
        "bob cannot edit: Slack says cant_update_message",
        "U404 cannot act: Slack says user_not_found",
    ]


async def test_bookmarks_add_and_list(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    added = await client.bookmarks_add(
        channel_id=CHANNEL,
        title="Runbook",
        type="link",
        link="https://wiki.example.com/runbooks/queue-backlog",
        emoji=":books:",
    )
    bad_link = await slack_error(
        client.bookmarks_add(channel_id=CHANNEL, title="x", type="link", link="wiki/page")
    )
    bad_type = await slack_error(
        client.bookmarks_add(channel_id=CHANNEL, title="x", type="folder", link="https://x")
    )
    listed = await client.bookmarks_list(channel_id=CHANNEL)

    assert added["bookmark"]["id"].startswith("Bk")
    assert bad_link.response["error"] == "invalid_link"
    assert bad_type.response["error"] == "invalid_bookmark_type"
    assert [(b["title"], b["link"]) for b in listed["bookmarks"]] == [
        ("Runbook", "https://wiki.example.com/runbooks/queue-backlog")
    ]
