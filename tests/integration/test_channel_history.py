"""Reading the incident channel back (bot/adapters/slack/history.py) through the real
slack_sdk client against the Slack emulator: Slack's pages, threads, 429 waited out,
refusals said in the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.slack.client import make_client
from bot.adapters.slack.history import ChannelHistory, HistoryUnavailable
from bot.demo.sandbox import INCIDENT_CHANNEL_ID as CH
from bot.demo.sandbox import PEOPLE
from bot.emulators.slack_api import SlackEmulator, SlackUserInfo

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ALICE, BOB = PEOPLE["alice"].user_id, PEOPLE["bob"].user_id


@pytest.fixture
async def slack():
    now = [T0.timestamp()]
    emulator = SlackEmulator(
        bot_token="xoxb-test",
        users={
            ALICE: SlackUserInfo(name="alice", real_name="Alice", title="SRE"),
            BOB: SlackUserInfo(name="bob", real_name="Bob", title="DevOps"),
        },
        channels={CH: "incidents"},
        clock=lambda: now[0],
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_every_page_and_thread_is_read(slack):
    people = slack.people
    for i in range(450):
        people.post(ALICE, CH, f"message {i}")
    parent = people.post(BOB, CH, "a thread")
    for i in range(250):
        people.post(ALICE, CH, f"reply {i}", thread_ts=parent.ts)
    people.react(BOB, CH, parent.ts, "pushpin")
    slack.people.pin(ALICE, CH, slack.messages(CH)[3].ts)
    history = ChannelHistory(make_client("xoxb-test", slack.api_url))
    read = await history.read(CH, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))

    texts = [m.text for m in read.messages]
    assert len(texts) == 701 and len(set(texts)) == 701
    assert read.threads == {parent.ts}
    pages = slack.calls_to("conversations.history")
    assert [c.args.get("limit") for c in pages] == ["200", "200", "200"]  # Slack's advice
    assert [bool(c.args.get("cursor")) for c in pages] == [False, True, True]
    assert len(slack.calls_to("conversations.replies")) == 2
    assert read.calls == 5
    by_text = {m.text: m for m in read.messages}
    assert by_text["a thread"].reactions == {"pushpin": (BOB,)}
    assert by_text["message 3"].pinned
    assert by_text["reply 7"].thread_ts == parent.ts and by_text["reply 7"].is_reply
    assert await history.names([ALICE, BOB, "UNOBODY"]) == {ALICE: "alice", BOB: "bob"}
    assert await history.names([ALICE]) == {ALICE: "alice"}
    assert len(slack.calls_to("users.info")) == 3  # cached


async def test_a_rate_limit_is_waited_out(slack):
    slack.people.post(ALICE, CH, "still here")
    slack.rate_limit_next("conversations.history", retry_after=1)
    history = ChannelHistory(make_client("xoxb-test", slack.api_url))
    read = await history.read(CH, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    assert [m.text for m in read.messages] == ["still here"]
    assert [c.status for c in slack.calls_to("conversations.history")] == [429, 200]


async def test_a_refusal_is_a_sentence(slack):
    slack.refuse("conversations.history", "not_in_channel")
    history = ChannelHistory(make_client("xoxb-test", slack.api_url))
    with pytest.raises(HistoryUnavailable) as refused:
        await history.read(CH, T0, T0 + timedelta(minutes=1))
    assert str(refused.value) == (
        "Slack refused `conversations.history` for the incident channel (`not_in_channel`), "
        "so the channel could not be read back"
    )


async def test_the_report_says_when_the_channel_could_not_be_read_back(
    make_sandbox, redis_client, clock
):
    box = await make_sandbox(events=True)
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await box.tick()
        clock.advance(timedelta(minutes=1))
    channel = await box.incident_channel()
    for person in (ALICE, BOB):
        if not box.slack.workspace.is_member(channel, person):
            box.slack.people.join(person, channel)
    said = box.slack.people.post(ALICE, channel, "the cause is the 08:50 deploy")
    box.slack.people.pin(BOB, channel, said.ts)
    await box.events_settled()
    box.slack.refuse("conversations.history", "missing_scope")
    shown = await box.command("alice", "report")
    assert "@alice: “the cause is the 08:50 deploy” (📌 pinned by @bob)" in shown.text
    assert (
        "_Slack refused `conversations.history` for the incident channel (`missing_scope`), so "
        "the channel could not be read back; channel messages are as the events recorded "
        "them._" in shown.text
    )
