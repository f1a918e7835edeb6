"""The Events API as Slack delivers it: envelopes, signatures, retries (issues 9 and 10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack.events import EventsUrlRejected
from bot.emulators.slack_api import SlackEmulator, SlackUserInfo
from tests.emulators.slack.support import CHANNEL, SIGNING_SECRET, BoltHarness


@dataclass
class Received:
    retry_num: str | None
    retry_reason: str | None
    signed: bool
    body: dict[str, Any]


@dataclass
class ScriptedApp:
    """An Events API endpoint answering from a script: ``(status, delay_s, headers)``."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, float, dict[str, str]]] = field(default_factory=list)

    def events(self) -> list[Received]:
        return [r for r in self.received if r.body.get("type") == "event_callback"]


@pytest.fixture
async def app() -> AsyncIterator[ScriptedApp]:
    verifier = SignatureVerifier(SIGNING_SECRET)
    scripted = ScriptedApp(url="")

    async def endpoint(request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        signed = verifier.is_valid(
            raw,
            request.headers["X-Slack-Request-Timestamp"],
            request.headers["X-Slack-Signature"],
        )
        scripted.received.append(
            Received(
                request.headers.get("X-Slack-Retry-Num"),
                request.headers.get("X-Slack-Retry-Reason"),
                signed,
                body,
            )
        )
        if body.get("type") == "url_verification":
            return web.json_response({"challenge": body["challenge"]})
        status, delay, headers = scripted.script.pop(0) if scripted.script else (200, 0.0, {})
        await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers)

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    scripted.url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    yield scripted
    await runner.cleanup()


async def _configure(emulator: SlackEmulator, url: str, **options: Any) -> None:
    options.setdefault("ack_timeout", 0.3)
    options.setdefault("retry_delays", (0.0, 0.0, 0.0))
    await emulator.events.configure(url, SIGNING_SECRET, **options)


async def test_configure_sends_the_signed_url_verification_challenge(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)

    (challenge,) = app.received
    assert challenge.body["type"] == "url_verification" and challenge.signed


async def test_a_url_that_does_not_echo_the_challenge_is_rejected(emulator: SlackEmulator) -> None:
    async def wrong(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    web_app = web.Application()
    web_app.router.add_post("/events", wrong)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        with pytest.raises(EventsUrlRejected, match="would not save it"):
            await emulator.events.configure(url, SIGNING_SECRET)
    finally:
        await runner.cleanup()


async def test_a_persons_message_arrives_in_slacks_envelope(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)

    said = emulator.people.post("U1", CHANNEL, "workers restarted")
    await emulator.events.settle()

    (received,) = app.events()
    envelope = received.body
    assert received.signed and received.retry_num is None
    assert envelope["event_id"].startswith("Ev") and isinstance(envelope["event_time"], int)
    assert (envelope["team_id"], envelope["api_app_id"]) == (emulator.team_id, emulator.app_id)
    assert envelope["authorizations"][0]["user_id"] == emulator.bot_user_id
    event = envelope["event"]
    assert (event["type"], event["channel"], event["channel_type"]) == (
        "message",
        CHANNEL,
        "channel",
    )
    assert (event["user"], event["text"], event["ts"]) == ("U1", "workers restarted", said.ts)
    (delivery,) = emulator.events.deliveries
    assert delivery.acknowledged and delivery.attempts[0].status == 200


async def test_what_people_do_arrives_as_the_events_slack_sends(
    emulator: SlackEmulator, client: AsyncWebClient, app: ScriptedApp
) -> None:
    channel_id = (await client.conversations_create(name="inc-events"))["channel"]["id"]
    await _configure(emulator, app.url)

    await client.conversations_invite(channel=channel_id, users="U1,U2")
    note = emulator.people.post("U1", channel_id, "DB locks?")
    emulator.people.edit("U1", channel_id, note.ts, "DB locks!")
    emulator.people.react("U2", channel_id, note.ts, "pushpin")
    emulator.people.unreact("U2", channel_id, note.ts, "pushpin")
    emulator.people.pin("U2", channel_id, note.ts)
    emulator.people.unpin("U2", channel_id, note.ts)
    emulator.people.delete("U1", channel_id, note.ts)
    emulator.people.archive("U2", channel_id)
    await emulator.events.settle()

    kinds = [(d.event["type"], d.event.get("subtype")) for d in emulator.events.deliveries]
    assert kinds == [
        ("message", "channel_join"),
        ("member_joined_channel", None),
        ("message", "channel_join"),
        ("member_joined_channel", None),
        ("message", None),
        ("message", "message_changed"),
        ("reaction_added", None),
        ("reaction_removed", None),
        ("pin_added", None),
        ("pin_removed", None),
        ("message", "message_deleted"),
        ("message", "channel_archive"),
        ("channel_archive", None),
    ]
    changed = emulator.events.delivered("message", "message_changed")[0].event
    assert changed["message"]["text"] == "DB locks!"
    assert changed["previous_message"]["text"] == "DB locks?"
    assert changed["message"]["edited"]["user"] == "U1"
    reaction = emulator.events.delivered("reaction_added")[0].event
    assert reaction["item"] == {"type": "message", "channel": channel_id, "ts": note.ts}
    assert (reaction["reaction"], reaction["item_user"]) == ("pushpin", "U1")
    pin = emulator.events.delivered("pin_added")[0].event
    assert (pin["channel_id"], pin["item"]["message"]["text"]) == (channel_id, "DB locks!")
    deleted = emulator.events.delivered("message", "message_deleted")[0].event
    assert deleted["deleted_ts"] == note.ts
    joined = emulator.events.delivered("member_joined_channel")[0].event
    assert (joined["user"], joined["inviter"], joined["channel_type"]) == (
        "U1",
        emulator.bot_user_id,
        "C",
    )
    assert len(app.events()) == len(kinds)


async def test_events_outside_the_subscriptions_are_not_sent(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url, bot_events=["reaction_added"])

    note = emulator.people.post("U1", CHANNEL, "hello")
    emulator.people.react("U2", CHANNEL, note.ts, "eyes")
    await emulator.events.settle()

    assert [r.body["event"]["type"] for r in app.events()] == ["reaction_added"]


async def test_events_of_a_channel_the_bot_is_not_in_are_not_sent(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    emulator.add_channel("C0ELSE", "elsewhere", bot_is_member=False)
    await _configure(emulator, app.url)

    emulator.people.post("U1", "C0ELSE", "not for the bot")
    await emulator.events.settle()

    assert app.events() == []


async def test_a_slow_answer_is_retried_with_slacks_headers(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)
    app.script = [(200, 1.0, {}), (500, 0.0, {})]

    emulator.people.post("U1", CHANNEL, "hello")
    await emulator.events.settle()

    assert [(r.retry_num, r.retry_reason) for r in app.events()] == [
        (None, None),
        ("1", "http_timeout"),
        ("2", "http_error"),
    ]
    assert len({r.body["event_id"] for r in app.events()}) == 1
    (delivery,) = emulator.events.deliveries
    assert [(a.outcome, a.status) for a in delivery.attempts] == [
        ("http_timeout", None),
        ("http_error", 500),
        ("ok", 200),
    ]


async def test_slack_gives_up_after_three_retries_and_on_no_retry(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)
    app.script = [(503, 0.0, {})] * 4 + [(500, 0.0, {"X-Slack-No-Retry": "1"})]

    emulator.people.post("U1", CHANNEL, "first")
    await emulator.events.settle()
    emulator.people.post("U1", CHANNEL, "second")
    await emulator.events.settle()

    first, second = emulator.events.deliveries
    assert [a.retry_num for a in first.attempts] == [0, 1, 2, 3]
    assert not first.acknowledged and first.settled
    assert [(a.outcome, a.no_retry) for a in second.attempts] == [("http_error", True)]


async def test_a_lost_first_delivery_reaches_the_app_only_as_retry_one(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)
    emulator.events.lose_next(outcome="http_timeout")

    emulator.people.post("U1", CHANNEL, "hello")
    await emulator.events.settle()

    assert [(r.retry_num, r.retry_reason) for r in app.events()] == [("1", "http_timeout")]


async def test_redeliver_sends_an_acknowledged_event_again(
    emulator: SlackEmulator, app: ScriptedApp
) -> None:
    await _configure(emulator, app.url)
    emulator.people.post("U1", CHANNEL, "hello")
    await emulator.events.settle()
    (delivery,) = emulator.events.deliveries

    attempt = await emulator.events.redeliver(delivery.event_id)

    assert attempt.forced and attempt.outcome == "ok"
    assert [(r.retry_num, r.body["event_id"]) for r in app.events()] == [
        (None, delivery.event_id),
        ("1", delivery.event_id),
    ]


async def test_a_bolt_app_gets_peoples_events_and_ignores_its_own_messages(
    emulator: SlackEmulator, client: AsyncWebClient, bolt: BoltHarness
) -> None:
    @bolt.app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        bolt.seen.append(event)

    @bolt.app.event("reaction_added")
    async def on_reaction(event: dict[str, Any]) -> None:
        bolt.seen.append(event)

    await _configure(emulator, bolt.url, ack_timeout=3.0)
    own = await client.chat_postMessage(channel=CHANNEL, text="Backlog!")
    emulator.people.react("U1", CHANNEL, own["ts"], "eyes")
    emulator.people.post("U2", CHANNEL, "looking", thread_ts=own["ts"])
    await emulator.events.settle()
    await emulator.wait_for(lambda: len(bolt.seen) == 2)

    bot_message = emulator.events.delivered("message")[0]
    assert bot_message.event["bot_id"] == emulator.bot_id and bot_message.acknowledged
    assert [(e["type"], e.get("text")) for e in bolt.seen] == [
        ("reaction_added", None),
        ("message", "looking"),
    ]
    assert bolt.seen[1]["thread_ts"] == own["ts"]


async def test_events_over_socket_mode() -> None:
    emu = SlackEmulator(
        bot_token="xoxb-socket",
        app_token="xapp-1-socket",
        channels={CHANNEL: "incidents"},
        users={"U1": SlackUserInfo(name="alice")},
    )
    await emu.start()
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token="xoxb-socket", base_url=emu.api_url),
    )
    received: list[dict[str, Any]] = []

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        received.append(event)

    handler = AsyncSocketModeHandler(app, "xapp-1-socket")
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await emu.socket_mode.wait_connected()
        await emu.events.configure(None, ack_timeout=3.0)
        emu.people.post("U1", CHANNEL, "over the socket")
        await emu.events.settle()
        await emu.wait_for(lambda: bool(received))
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await emu.stop()

    assert received[0]["text"] == "over the socket"
    (delivery,) = emu.events.deliveries
    assert delivery.transport == "socket_mode" and delivery.acknowledged
