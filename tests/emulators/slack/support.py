"""Shared names for the Slack emulator's tests: the token, the channel, blocks, helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

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


async def slack_error(coro: Any) -> SlackApiError:
    """The :class:`SlackApiError` that awaiting ``coro`` raises (the test fails if none)."""
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


@dataclass
class BoltHarness:
    """A real Bolt app served on loopback, its ``/slack/events`` URL and what it saw."""

    app: AsyncApp
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
