"""Message metadata: posted and updated, read back only when asked for (issue 7)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import CHANNEL, slack_error

OUTBOX = {"event_type": "backlog_outbox", "event_payload": {"outbox_id": 41, "kind": "alert"}}


async def test_metadata_is_returned_by_history_only_with_include_all_metadata(
    client: AsyncWebClient,
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="alert", metadata=OUTBOX)
    await client.chat_postMessage(channel=CHANNEL, text="in the thread", thread_ts=posted["ts"])

    plain = await client.conversations_history(channel=CHANNEL)
    full = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    replies = await client.conversations_replies(
        channel=CHANNEL, ts=posted["ts"], include_all_metadata=True
    )

    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == OUTBOX
    assert replies["messages"][0]["metadata"] == OUTBOX
    assert "metadata" not in replies["messages"][1]
    assert posted["message"]["metadata"] == OUTBOX


async def test_a_sender_finds_its_own_message_by_metadata_after_an_ambiguous_failure(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_after_storing("chat.postMessage", "fatal_error")
    await slack_error(client.chat_postMessage(channel=CHANNEL, text="alert", metadata=OUTBOX))

    history = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    mine = [
        m
        for m in history["messages"]
        if m.get("metadata", {}).get("event_payload", {}).get("outbox_id") == 41
    ]

    assert [m["text"] for m in mine] == ["alert"]


async def test_update_replaces_metadata_and_keeps_it_when_not_given(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1", metadata=OUTBOX)
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2")
    kept = emulator.message(CHANNEL, posted["ts"])
    assert kept is not None and kept.metadata == OUTBOX

    newer = {"event_type": "backlog_outbox", "event_payload": {"outbox_id": 42}}
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v3", metadata=newer)

    history = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == newer
    assert history["messages"][0]["text"] == "v3"


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        ["a", "list"],
        {"event_payload": {"a": 1}},
        {"event_type": "x", "event_payload": "not an object"},
    ],
)
async def test_malformed_metadata_is_invalid_metadata_format_and_nothing_is_posted(
    emulator: SlackEmulator, client: AsyncWebClient, metadata: Any
) -> None:
    body = {"channel": CHANNEL, "text": "x", "metadata": metadata}
    error = await slack_error(client.api_call("chat.postMessage", json=body))

    assert error.response["error"] == "invalid_metadata_format"
    assert emulator.messages(CHANNEL) == []


async def test_an_event_type_with_punctuation_is_a_warning_and_dropped(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    bad = {"event_type": "backlog.outbox", "event_payload": {"outbox_id": 1}}

    posted = await client.chat_postMessage(channel=CHANNEL, text="alert", metadata=bad)

    assert posted["ok"] is True and posted["warning"] == "invalid_metadata_schema"
    assert posted["response_metadata"]["warnings"] == ["invalid_metadata_schema"]
    stored = emulator.message(CHANNEL, posted["ts"])
    assert stored is not None and stored.metadata is None
