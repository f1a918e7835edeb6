"""The Slack Web API emulator, driven by the real slack_sdk client and a real Bolt app."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.emulators.slack_api import EmulatorEvent, SlackEmulator, SlackUserInfo, render_text
from bot.emulators.slack_requests import SlackClientSimulator, sign

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C0INCIDENT"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")

APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Backlog on analysis_queue"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*12,400* jobs waiting"},
        "fields": [
            {"type": "mrkdwn", "text": "*Workers:* 3"},
            {"type": "mrkdwn", "text": "*Oldest:* 14 min"},
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "playbook queue-backlog"}]},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": "fix-1",
            },
            {
                "type": "button",
                "action_id": "deny",
                "text": {"type": "plain_text", "text": "Deny"},
                "style": "danger",
                "value": "fix-1",
            },
        ],
    },
]


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    emu = SlackEmulator(
        bot_token=TOKEN,
        channels={CHANNEL: "backlog-incidents"},
        users={
            "U1": SlackUserInfo(name="alice", real_name="Alice Ops", email="alice@example.com"),
            "U2": SlackUserInfo(name="bob"),
        },
        usergroups={"S0ONCALL": ["U1", "U2"]},
    )
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
def client(emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emulator.api_url)


async def _slack_error(coro: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


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

    error = await _slack_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
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

    error = await _slack_error(client.chat_postEphemeral(channel=CHANNEL, user="U404", text="x"))
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

    error = await _slack_error(client.conversations_replies(channel=CHANNEL, ts="1.000002"))
    assert error.response["error"] == "thread_not_found"


async def test_post_to_a_user_opens_a_dm(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.chat_postMessage(channel="U2", text="you are paged")

    assert result["channel"] == "DU2"
    assert [m.text for m in emulator.messages("DU2")] == ["you are paged"]


# ------------------------------------------------------------------ errors


async def test_wrong_token_is_invalid_auth_and_no_token_is_not_authed(
    emulator: SlackEmulator,
) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=emulator.api_url)
    error = await _slack_error(wrong.chat_postMessage(channel=CHANNEL, text="hi"))
    assert error.response["error"] == "invalid_auth"
    assert error.response.status_code == 200

    anonymous = AsyncWebClient(base_url=emulator.api_url)
    error = await _slack_error(anonymous.auth_test())
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
    error = await _slack_error(client.api_call("chat.postMessage", json=kwargs))

    assert error.response["ok"] is False
    assert error.response["error"] == expected
    assert emulator.calls_to("chat.postMessage")[0].error == expected
    assert emulator.messages(CHANNEL) == []


async def test_invalid_blocks_says_where(client: AsyncWebClient) -> None:
    error = await _slack_error(
        client.chat_postMessage(channel=CHANNEL, text="t", blocks=[{"type": "divider"}] * 51)
    )
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


async def test_unknown_method(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    error = await _slack_error(client.api_call("chat.teleport"))

    assert error.response.status_code == 200
    assert error.response["error"] == "unknown_method"


async def test_rate_limit_raises_429_with_retry_after_without_a_retry_handler(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.rate_limit_next("chat.postMessage", retry_after=7)

    error = await _slack_error(client.chat_postMessage(channel=CHANNEL, text="hi"))

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
    error = await _slack_error(client.chat_postMessage(channel=CHANNEL, text="lost"))
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
        error = await _slack_error(client.users_info(user="U1"))
        assert error.response["error"] == "fatal_error"
    info = await client.users_info(user="U1")

    assert info["user"]["real_name"] == "Alice Ops"


# ------------------------------------------------------------------ other methods


async def test_users_usergroups_permalink_and_auth(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    auth = await client.auth_test()
    assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == ("UBOT", "T0001", "B0001")

    user = await client.users_info(user="U1")
    assert user["user"]["name"] == "alice"
    assert user["user"]["profile"]["email"] == "alice@example.com"
    missing = await _slack_error(client.users_info(user="U999"))
    assert missing.response["error"] == "user_not_found"

    group = await client.usergroups_users_list(usergroup="S0ONCALL")
    assert group["users"] == ["U1", "U2"]
    no_group = await _slack_error(client.usergroups_users_list(usergroup="S0NOPE"))
    assert no_group.response["error"] == "no_such_subteam"

    posted = await client.chat_postMessage(channel=CHANNEL, text="link me")
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}")


async def test_files_upload_v2_end_to_end(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.files_upload_v2(
        channel=CHANNEL,
        content="# Incident report\nAll good.",
        filename="incident-report.md",
        title="Incident report",
        initial_comment="Report attached",
    )

    assert result["file"]["title"] == "Incident report"
    assert result["file"]["name"] == "incident-report.md"
    (upload,) = emulator.uploads
    assert upload.content == b"# Incident report\nAll good."
    assert upload.completed and upload.channels == [CHANNEL]
    (message,) = emulator.messages(CHANNEL)
    assert message.text == "Report attached"
    assert message.files[0]["id"] == upload.file_id == result["file"]["id"]
    assert [c.method for c in emulator.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_complete_upload_of_a_file_never_uploaded_is_file_not_found(
    client: AsyncWebClient,
) -> None:
    url = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    error = await _slack_error(
        client.files_completeUploadExternal(files=[{"id": url["file_id"]}], channel_id=CHANNEL)
    )
    assert error.response["error"] == "file_not_found"


async def test_response_url_acts_like_slacks(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Approve?", blocks=APPROVAL_BLOCKS)
    url = emulator.response_url("r", channel=CHANNEL, user="U1", message_ts=posted["ts"])
    webhook = AsyncWebhookClient(url)

    shared = await webhook.send(text="Everyone sees this", response_type="in_channel")
    emulator.fail_next("response_url", "expired_url", status=404)
    expired = await webhook.send(text="too late")
    deleted = await webhook.send_dict({"delete_original": True})

    assert (shared.status_code, expired.status_code, deleted.status_code) == (200, 404, 200)
    assert [m.text for m in emulator.messages(CHANNEL)] == ["Everyone sees this"]
    assert [r.status for r in emulator.responses("r")] == [200, 404, 200]
    assert emulator.responses("r")[2].delete_original


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


# ------------------------------------------------------------------ a real Bolt app


@dataclass
class BoltHarness:
    app: AsyncApp
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def bolt(emulator: SlackEmulator) -> AsyncIterator[BoltHarness]:
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=TOKEN, base_url=emulator.api_url),
    )

    async def endpoint(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield BoltHarness(app, f"http://127.0.0.1:{port}/slack/events")
    finally:
        await runner.cleanup()


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
