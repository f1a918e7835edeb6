"""Calls that took effect although the client was told otherwise, or never told (issue 7)."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import CHANNEL, TOKEN, slack_error


async def _history_texts(client: AsyncWebClient) -> list[str]:
    history = await client.conversations_history(channel=CHANNEL)
    return [m["text"] for m in history["messages"]]


async def test_a_5xx_after_storing_leaves_the_message_in_the_channel(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_after_storing("chat.postMessage", "server_error", status=503)

    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="alert #1"))

    assert error.response.status_code == 503
    assert await _history_texts(client) == ["alert #1"]
    (call,) = emulator.calls_to("chat.postMessage")
    assert (call.status, call.fault) == (503, "server_error")


async def test_fatal_error_after_storing_is_slacks_ok_false(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_after_storing("chat.postMessage", "fatal_error")

    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="page L1"))

    assert error.response.status_code == 200
    assert error.response["error"] == "fatal_error"
    assert await _history_texts(client) == ["page L1"]


async def test_a_dropped_connection_is_retried_by_slack_sdk_and_posts_twice(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    # slack_sdk's default handler retries connection errors: without a check for its own
    # message first, a client posts the same alert twice.
    emulator.fail_after_storing("chat.postMessage", "disconnect")

    answer = await client.chat_postMessage(channel=CHANNEL, text="alert #2")

    assert answer["ok"] is True
    assert await _history_texts(client) == ["alert #2", "alert #2"]
    assert [c.fault for c in emulator.calls_to("chat.postMessage")] == ["disconnect", None]


async def test_a_dropped_connection_without_retries_raises_after_storing(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    bare = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[])
    emulator.fail_after_storing("chat.postMessage", "disconnect")

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await bare.chat_postMessage(channel=CHANNEL, text="alert #3")

    assert await _history_texts(client) == ["alert #3"]


async def test_a_late_answer_is_a_client_timeout_but_the_message_is_there(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    impatient = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, timeout=0.3)
    emulator.fail_after_storing("chat.update", "timeout", delay=10.0)
    posted = await client.chat_postMessage(channel=CHANNEL, text="approval needed")

    with pytest.raises(TimeoutError):
        await impatient.chat_update(channel=CHANNEL, ts=posted["ts"], text="approved")

    assert await _history_texts(client) == ["approved"]
    assert emulator.calls_to("chat.update")[0].fault == "timeout"


async def test_faults_after_storing_are_one_shot_and_only_for_successes(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_after_storing("chat.postMessage", "fatal_error", times=1)

    refused = await slack_error(client.chat_postMessage(channel="C0NOWHERE", text="x"))
    assert refused.response["error"] == "channel_not_found"  # a refusal stores nothing
    first = await slack_error(client.chat_postMessage(channel=CHANNEL, text="one"))
    second = await client.chat_postMessage(channel=CHANNEL, text="two")

    assert first.response["error"] == "fatal_error" and second["ok"] is True
    assert await _history_texts(client) == ["two", "one"]


def test_an_unknown_fault_kind_is_refused_at_once(emulator: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.fail_after_storing("chat.postMessage", "explode")  # type: ignore[arg-type]
