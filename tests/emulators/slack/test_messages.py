"""Messages: posted, updated, ephemeral, read back, as Slack stores and shows them."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import (
    APPROVAL_BLOCKS,
    CHANNEL,
    TS_PATTERN,
    slack_error,
)

# ------------------------------------------------------------------ messages


async def test_post_message_is_stored_and_answered_like_slack(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="Backlog!", blocks=APPROVAL_BLOCKS)
    by_name = await client.chat_postMessage(channel="#backlog-incidents", text="second")

    assert first["ok"] is True
    assert first["channel"] == CHANNEL
    assert TS_PATTERN.match(first["ts"])
    assert first["message"]["text"] == "Backlog!"
    assert first["message"]["blocks"] == APPROVAL_BLOCKS
    assert first["message"]["bot_id"] == emulator.bot_id
    assert by_name["channel"] == CHANNEL  # a name in, the id out
    assert float(by_name["ts"]) > float(first["ts"])

    stored = emulator.messages(CHANNEL)
    assert [m.text for m in stored] == ["Backlog!", "second"]
    assert stored[0].blocks == APPROVAL_BLOCKS and stored[0].is_bot
    call = emulator.calls_to("chat.postMessage")[0]
    assert call.args["channel"] == CHANNEL and call.status == 200 and call.ok


async def test_update_edits_the_message_and_keeps_its_history(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Approve?", blocks=APPROVAL_BLOCKS)

    updated = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="Approved by Alice")

    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Approved by Alice"
    assert "edited" in updated["message"]
    (message,) = emulator.messages(CHANNEL)
    assert message.text == "Approved by Alice"
    assert message.blocks == APPROVAL_BLOCKS  # Slack keeps blocks the update did not replace
    assert [v.text for v in message.versions] == ["Approve?", "Approved by Alice"]

    cleared = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="Done", blocks=[])
    assert cleared["message"]["blocks"] == []

    error = await slack_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"


async def test_ephemeral_is_shown_only_to_its_user(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    result = await client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you")

    assert TS_PATTERN.match(result["message_ts"])
    assert [m.text for m in emulator.ephemerals(CHANNEL, user="U1")] == ["only you"]
    assert emulator.ephemerals(CHANNEL, user="U2") == []
    assert emulator.messages(CHANNEL) == []
    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"] == []

    error = await slack_error(client.chat_postEphemeral(channel=CHANNEL, user="U404", text="x"))
    assert error.response["error"] == "user_not_in_channel"


async def test_history_is_newest_first_and_replies_return_the_thread(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="incident opened")
    await client.chat_postMessage(channel=CHANNEL, text="diagnosis", thread_ts=parent["ts"])
    emulator.add_user_message(CHANNEL, "U1", "on it", thread_ts=parent["ts"])
    await client.chat_postMessage(channel=CHANNEL, text="later")

    history = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in history["messages"]] == ["later", "incident opened"]
    opened = history["messages"][1]
    assert opened["reply_count"] == 2
    assert opened["reply_users"] == ["U1", "UBOT"]
    assert emulator.calls_to("conversations.history")[0].http_method == "GET"

    page = await client.conversations_history(channel=CHANNEL, limit=1)
    assert [m["text"] for m in page["messages"]] == ["later"] and page["has_more"] is True
    rest = await client.conversations_history(
        channel=CHANNEL, limit=1, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["incident opened"]
    assert rest["has_more"] is False

    replies = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["incident opened", "diagnosis", "on it"]
    assert replies["messages"][2]["user"] == "U1"
    assert replies["messages"][1]["thread_ts"] == parent["ts"]

    error = await slack_error(client.conversations_replies(channel=CHANNEL, ts="1.000002"))
    assert error.response["error"] == "thread_not_found"


async def test_post_to_a_user_opens_a_dm(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.chat_postMessage(channel="U2", text="you are paged")

    assert result["channel"] == "DU2"
    assert [m.text for m in emulator.messages("DU2")] == ["you are paged"]
