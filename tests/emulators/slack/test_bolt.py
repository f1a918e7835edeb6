"""A real Bolt app driven through the emulator and signed requests."""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator
from bot.emulators.slack_requests import SlackClientSimulator, sign
from tests.emulators.slack.support import (
    APPROVAL_BLOCKS,
    CHANNEL,
    SIGNING_SECRET,
    BoltHarness,
)

# ------------------------------------------------------------------ a real Bolt app


def _simulator(bolt: BoltHarness) -> SlackClientSimulator:
    return SlackClientSimulator(bolt.url, SIGNING_SECRET)


async def test_bolt_app_answers_a_signed_slash_command_via_respond_and_say(
    emulator: SlackEmulator, bolt: BoltHarness
) -> None:
    @bolt.app.command("/backlog")
    async def backlog(ack: Any, respond: Any, say: Any, command: dict[str, Any]) -> None:
        await ack()
        bolt.seen.append(command)
        await respond(f"Checking `{command['text']}`…")
        await say(text="Backlog on analysis_queue", blocks=APPROVAL_BLOCKS)

    result = await _simulator(bolt).slash_command(
        "status analysis_queue",
        user_id="U1",
        user_name="alice",
        channel_id=CHANNEL,
        response_url=emulator.response_url("cmd-1", channel=CHANNEL, user="U1"),
    )
    await emulator.wait_for(
        lambda: bool(emulator.responses("cmd-1") and emulator.messages(CHANNEL))
    )

    assert result.status == 200
    assert bolt.seen[0]["user_id"] == "U1" and bolt.seen[0]["channel_name"] == "backlog-incidents"
    (response,) = emulator.responses("cmd-1")
    assert response.text == "Checking `status analysis_queue`…"
    assert response.response_type == "ephemeral"
    assert [m.text for m in emulator.ephemerals(CHANNEL, user="U1")] == [response.text]
    (message,) = emulator.messages(CHANNEL)
    assert message.text == "Backlog on analysis_queue" and message.blocks == APPROVAL_BLOCKS
    assert len(emulator.calls_to("auth.test")) == 1  # Bolt authorizes lazily, via the emulator


async def test_bolt_app_handles_a_button_click_on_a_posted_message(
    emulator: SlackEmulator, client: AsyncWebClient, bolt: BoltHarness
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Approve?", blocks=APPROVAL_BLOCKS)

    @bolt.app.action("approve")
    async def approve(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        bolt.seen.append(body)
        await respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    result = await _simulator(bolt).block_action(
        "approve",
        "fix-1",
        user_id="U1",
        user_name="alice",
        channel_id=CHANNEL,
        message_ts=posted["ts"],
        message=posted["message"],
        response_url=emulator.response_url(
            "act-1", channel=CHANNEL, user="U1", message_ts=posted["ts"]
        ),
    )
    await emulator.wait_for(lambda: bool(emulator.responses("act-1")))

    assert result.status == 200
    body = bolt.seen[0]
    assert body["actions"][0]["text"]["text"] == "Approve"
    assert body["actions"][0]["block_id"] == "approval"
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    (message,) = emulator.messages(CHANNEL)
    assert message.text == "Approved by <@U1>"
    assert [v.text for v in message.versions] == ["Approve?", "Approved by <@U1>"]


@pytest.mark.parametrize("tamper", ["bad_signature", "stale_timestamp"])
async def test_bolt_refuses_bad_signatures_and_stale_timestamps(
    emulator: SlackEmulator, bolt: BoltHarness, tamper: str
) -> None:
    @bolt.app.command("/backlog")
    async def backlog(ack: Any, command: dict[str, Any]) -> None:
        bolt.seen.append(command)
        await ack()

    result = await _simulator(bolt).slash_command(
        "status",
        user_id="U1",
        user_name="alice",
        channel_id=CHANNEL,
        response_url=emulator.response_url("cmd-x", channel=CHANNEL, user="U1"),
        bad_signature=tamper == "bad_signature",
        stale_timestamp=tamper == "stale_timestamp",
    )

    assert result.status == 401
    assert bolt.seen == []
    assert emulator.calls == [] and emulator.responses() == []


async def test_retry_headers_reach_the_app(emulator: SlackEmulator, bolt: BoltHarness) -> None:
    @bolt.app.command("/backlog")
    async def backlog(ack: Any, request: Any) -> None:
        bolt.seen.append(dict(request.headers))
        await ack()

    result = await _simulator(bolt).slash_command(
        "status",
        user_id="U1",
        user_name="alice",
        channel_id=CHANNEL,
        response_url=emulator.response_url("cmd-r"),
        retry_num=2,
        retry_reason="http_timeout",
    )

    assert result.status == 200
    assert bolt.seen[0]["x-slack-retry-num"] == ["2"]
    assert bolt.seen[0]["x-slack-retry-reason"] == ["http_timeout"]


def test_sign_matches_slack_sdk_verifier() -> None:
    body = b"token=x&team_id=T0001&text=status"
    timestamp = str(int(time.time()))
    signature = sign(SIGNING_SECRET, timestamp, body)

    assert signature.startswith("v0=")
    assert SignatureVerifier(SIGNING_SECRET).is_valid(body, timestamp, signature)
    assert not SignatureVerifier("other-secret").is_valid(body, timestamp, signature)
