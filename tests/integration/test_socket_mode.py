"""Socket Mode: the real Bolt handler and slack_sdk client over a WebSocket."""

from __future__ import annotations

import json

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.web import start_socket_mode


@pytest.fixture
async def socket_sandbox(make_sandbox):
    box = await make_sandbox(app_token="xapp-1-A0001-socket-test")
    handler = await start_socket_mode(box.runtime)
    await box.slack.socket_mode.wait_connected()
    yield box
    await handler.close_async()  # type: ignore[no-untyped-call]


async def test_commands_and_buttons_over_socket_mode(socket_sandbox):
    box = socket_sandbox
    alice, bob = PEOPLE["alice"], PEOPLE["bob"]
    url = box.slack.response_url("sm-1", channel=INCIDENT_CHANNEL_ID, user=alice.user_id)
    await box.slack.socket_mode.send(
        "slash_commands",
        {
            "command": "/backlog",
            "text": "scale phishnet-worker-email 5",
            "user_id": alice.user_id,
            "user_name": alice.name,
            "channel_id": INCIDENT_CHANNEL_ID,
            "team_id": "T0001",
            "response_url": url,
            "trigger_id": "1.2.3",
        },
    )  # acknowledged within Slack's 3 s
    await box.slack.wait_for(lambda: bool(box.slack.responses("sm-1")))
    assert box.slack.responses("sm-1")[0].text.startswith("Approval requested: Scale")
    await box.settle()
    approval = box.find_message(ActionId.APPROVE.value)
    value = approval.blocks[-1]["elements"][0]["value"]
    click_url = box.slack.response_url("sm-2", channel=INCIDENT_CHANNEL_ID, user=bob.user_id)
    await box.slack.socket_mode.send(
        "interactive",
        {
            "type": "block_actions",
            "user": {"id": bob.user_id, "username": bob.name, "team_id": "T0001"},
            "team": {"id": "T0001"},
            "channel": {"id": INCIDENT_CHANNEL_ID},
            "container": {"type": "message", "message_ts": approval.ts},
            "message": {"ts": approval.ts, "text": approval.text},
            "response_url": click_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": ActionId.APPROVE.value,
                    "value": value,
                    "block_id": "backlog_approval_buttons",
                    "action_ts": "1",
                }
            ],
        },
    )
    await box.slack.wait_for(lambda: bool(box.slack.responses("sm-2")), within=10)
    assert box.slack.responses("sm-2")[0].text == "Approved; the action succeeded."
    status = await box.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 5
    opened = box.slack.calls_to("apps.connections.open")
    assert opened and opened[0].ok
    assert "xapp-1-A0001-socket-test" not in json.dumps([c.args for c in box.slack.calls])


async def test_wrong_app_token_is_refused(make_sandbox):
    from bot.app import ConfigurationError

    box = await make_sandbox(app_token="xapp-right")
    box.slack.app_token = "xapp-something-else"
    with pytest.raises(ConfigurationError) as refused:
        await start_socket_mode(box.runtime)
    assert str(refused.value) == "SLACK_APP_TOKEN was refused by Slack (invalid_auth)"
