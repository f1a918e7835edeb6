"""Slack's per-method rate limits, on for the tests that ask (issue 9's throttled alert)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import CHANNEL, TOKEN, slack_error


class FakeTime:
    """The emulator's clock, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _emulator(clock: FakeTime) -> SlackEmulator:
    emu = SlackEmulator(
        bot_token=TOKEN, channels={CHANNEL: "incidents", "C2": "other"}, clock=clock
    )
    await emu.start()
    return emu


async def test_rate_limits_are_off_by_default(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="alert")
    for n in range(60):
        await client.chat_update(channel=CHANNEL, ts=posted["ts"], text=f"depth {n}")

    assert {c.status for c in emulator.calls} == {200}


async def test_chat_update_is_tier_3_fifty_a_minute() -> None:
    clock = FakeTime()
    emu = await _emulator(clock)
    try:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        posted = await client.chat_postMessage(channel=CHANNEL, text="alert")
        emu.rate_limits.enable()

        for n in range(50):
            await client.chat_update(channel=CHANNEL, ts=posted["ts"], text=f"depth {n}")
        limited = await slack_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
        clock.now += 1.2  # one more call's worth of a minute's 50
        allowed = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="depth 50")
    finally:
        await emu.stop()

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "2"
    assert limited.response["error"] == "ratelimited"
    assert allowed["ok"] is True
    assert emu.message(CHANNEL, posted["ts"]).text == "depth 50"  # type: ignore[union-attr]
    assert [c.fault for c in emu.calls_to("chat.update")].count("rate_limit") == 1


async def test_post_message_is_one_a_second_per_channel() -> None:
    clock = FakeTime()
    emu = await _emulator(clock)
    try:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        emu.rate_limits.enable()

        await client.chat_postMessage(channel=CHANNEL, text="one")
        second = await slack_error(client.chat_postMessage(channel=CHANNEL, text="two"))
        elsewhere = await client.chat_postMessage(channel="C2", text="other channel")
        clock.now += 1
        later = await client.chat_postMessage(channel=CHANNEL, text="two, later")
    finally:
        await emu.stop()

    assert second.response.headers["Retry-After"] == "1"
    assert elsewhere["ok"] and later["ok"]
    assert [m.text for m in emu.messages(CHANNEL)] == ["one", "two, later"]


async def test_a_method_limit_can_be_overridden_and_limits_turned_off() -> None:
    clock = FakeTime()
    emu = await _emulator(clock)
    try:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        emu.rate_limits.enable({"conversations.history": 2})
        await client.conversations_history(channel=CHANNEL)
        await client.conversations_history(channel=CHANNEL)
        third = await slack_error(client.conversations_history(channel=CHANNEL))
        emu.rate_limits.disable()
        fourth = await client.conversations_history(channel=CHANNEL)
    finally:
        await emu.stop()

    assert third.response.headers["Retry-After"] == "30"
    assert fourth["ok"] is True
