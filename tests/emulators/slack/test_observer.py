"""The observer (the demo's transcript), rendering and ts."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import Directory, EmulatorEvent, SlackEmulator, humanize, render_text
from tests.emulators.slack.support import (
    APPROVAL_BLOCKS,
    CHANNEL,
    TOKEN,
)

# ------------------------------------------------------------------ observer and rendering


async def test_observer_sees_the_conversation_as_it_happens(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    events: list[EmulatorEvent] = []
    emulator.on_event = events.append

    posted = await client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=APPROVAL_BLOCKS)
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="Approved", blocks=[])
    await client.chat_postEphemeral(channel=CHANNEL, user="U1", text="psst")

    assert [e.kind for e in events] == ["post", "update", "ephemeral"]
    assert events[0].channel_name == "backlog-incidents" and events[0].is_bot
    assert events[0].rendered.splitlines() == [
        "== Backlog on analysis_queue ==",
        "*12,400* jobs waiting",
        "  *Workers:* 3  |  *Oldest:* 14 min",
        "  playbook queue-backlog",
        "[Approve] [Deny]",
    ]
    assert events[1].rendered == "Approved"
    assert events[2].visible_to == "U1"


def test_render_text_falls_back_to_text() -> None:
    assert render_text(None, "plain") == "plain"
    assert render_text([{"type": "divider"}], "ignored") == "-" * 40


async def test_ts_is_unique_and_increasing_even_with_a_frozen_clock() -> None:
    emu = SlackEmulator(bot_token=TOKEN, channels={CHANNEL: "x"}, clock=lambda: 1_700_000_000.0)
    await emu.start()
    try:
        client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)
        first = await client.chat_postMessage(channel=CHANNEL, text="a")
        second = await client.chat_postMessage(channel=CHANNEL, text="b")
    finally:
        await emu.stop()

    assert (first["ts"], second["ts"]) == ("1700000000.000000", "1700000000.000001")


def test_humanize_shows_mentions_channels_links_and_emoji_as_people_see_them() -> None:
    directory = Directory(
        users={"U1": "alice"}, channels={"C1": "inc-email"}, usergroups={"S1": "sre-oncall"}
    )
    text = (
        ":rotating_light: <!subteam^S1> <@U1> paged, see <#C1> and <#C2|other>; "
        "<https://wiki.example.com/rb|the runbook> &lt;job-1&gt; &amp; :large_green_circle: "
        "at 10:30:00 :no_such_emoji:"
    )

    assert humanize(text, directory) == (
        "🚨 @sre-oncall @alice paged, see #inc-email and #other; "
        "the runbook <job-1> & 🟢 at 10:30:00 :no_such_emoji:"
    )


async def test_the_observer_gets_display_text_and_marks_edits(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    events: list[EmulatorEvent] = []
    emulator.on_event = events.append

    posted = await client.chat_postMessage(channel=CHANNEL, text=":warning: <@U1> please ack")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text=":white_check_mark: acked")
    note = emulator.people.post("U2", CHANNEL, "on it")
    emulator.people.react("U1", CHANNEL, note.ts, "eyes")

    assert [(e.kind, e.user_name, e.display) for e in events] == [
        ("post", "backlog-bot", "⚠️ @alice please ack"),
        ("update", "backlog-bot", "✅ acked (edited)"),
        ("post", "bob", "on it"),
        ("reaction_added", "alice", "on it"),
    ]
    assert (events[-1].detail, events[-1].reaction) == ("eyes", "👀")


async def test_an_upload_shows_its_files_under_the_comment(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    events: list[EmulatorEvent] = []
    emulator.on_event = events.append

    await client.files_upload_v2(
        channel=CHANNEL,
        content="# Report",
        filename="incident-1.md",
        title="Incident #1 report",
        initial_comment=":page_facing_up: The report",
    )

    assert [(e.kind, e.display) for e in events] == [
        ("upload", "📄 The report\n[file: Incident #1 report]")
    ]
