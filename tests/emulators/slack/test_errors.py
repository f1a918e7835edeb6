"""Errors as Slack answers them: auth, arguments, rate limits, server errors, injected."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import (
    CHANNEL,
    slack_error,
)

# ------------------------------------------------------------------ errors


async def test_wrong_token_is_invalid_auth_and_no_token_is_not_authed(
    emulator: SlackEmulator,
) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=emulator.api_url)
    error = await slack_error(wrong.chat_postMessage(channel=CHANNEL, text="hi"))
    assert error.response["error"] == "invalid_auth"
    assert error.response.status_code == 200

    anonymous = AsyncWebClient(base_url=emulator.api_url)
    error = await slack_error(anonymous.auth_test())
    assert error.response["error"] == "not_authed"
    assert emulator.messages(CHANNEL) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"channel": "C0NOWHERE", "text": "hi"}, "channel_not_found"),
        ({"channel": "#no-such-channel", "text": "hi"}, "channel_not_found"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
        (
            {"channel": CHANNEL, "blocks": [{"type": "divider"}] * 51, "text": "many"},
            "invalid_blocks",
        ),
        (
            {"channel": CHANNEL, "blocks": [{"type": "section"}], "text": "empty section"},
            "invalid_blocks",
        ),
    ],
)
async def test_post_message_errors_are_slacks(
    emulator: SlackEmulator, client: AsyncWebClient, kwargs: dict[str, Any], expected: str
) -> None:
    # api_call sends what chat_postMessage would, minus the SDK's client-side warnings
    error = await slack_error(client.api_call("chat.postMessage", json=kwargs))

    assert error.response["ok"] is False
    assert error.response["error"] == expected
    assert emulator.calls_to("chat.postMessage")[0].error == expected
    assert emulator.messages(CHANNEL) == []


async def test_invalid_blocks_says_where(client: AsyncWebClient) -> None:
    error = await slack_error(
        client.chat_postMessage(channel=CHANNEL, text="t", blocks=[{"type": "divider"}] * 51)
    )
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


async def test_unknown_method(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("chat.teleport"))

    assert error.response.status_code == 200
    assert error.response["error"] == "unknown_method"


async def test_rate_limit_raises_429_with_retry_after_without_a_retry_handler(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.rate_limit_next("chat.postMessage", retry_after=7)

    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="hi"))

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert emulator.messages(CHANNEL) == []
    # one-shot: the next call goes through
    await client.chat_postMessage(channel=CHANNEL, text="hi again")
    assert [c.status for c in emulator.calls_to("chat.postMessage")] == [429, 200]


async def test_rate_limit_is_retried_by_the_rate_limit_handler(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    emulator.rate_limit_next("chat.postMessage", retry_after=0)

    result = await client.chat_postMessage(channel=CHANNEL, text="eventually")

    assert result["ok"] is True
    calls = emulator.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert [m.text for m in emulator.messages(CHANNEL)] == ["eventually"]


async def test_server_error_is_retried_by_the_server_error_handler(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.server_error_next("chat.update", status=503)
    emulator.server_error_next("chat.postMessage", status=500)
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="lost"))
    assert error.response.status_code == 500

    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=1))
    posted = await client.chat_postMessage(channel=CHANNEL, text="kept")
    updated = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="kept, edited")

    assert updated["ok"] is True
    assert [c.status for c in emulator.calls_to("chat.update")] == [503, 200]
    assert [m.text for m in emulator.messages(CHANNEL)] == ["kept, edited"]


async def test_fail_next_answers_any_error_n_times(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.fail_next("users.info", "fatal_error", times=2)

    for _ in range(2):
        error = await slack_error(client.users_info(user="U1"))
        assert error.response["error"] == "fatal_error"
    info = await client.users_info(user="U1")

    assert info["user"]["real_name"] == "Alice Ops"
