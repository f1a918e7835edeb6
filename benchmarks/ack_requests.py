"""The requests the ack-latency benchmark (``benchmarks/ack_latency.py``) sends, as
Slack sends them: a signed ``/backlog`` slash command or a click on an Approve button,
timed from sending to the answer (milliseconds)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.emulators.slack_requests import sign

APPROVER = PEOPLE["bob"]


@dataclass
class Target:
    name: str
    url: str
    secret: str


def command_body(text: str, user: Any, response_url: str) -> bytes:
    return urlencode(
        {
            "token": "unused",
            "team_id": "T0001",
            "team_domain": "backlog-bot-demo",
            "channel_id": INCIDENT_CHANNEL_ID,
            "channel_name": "phishnet-incidents",
            "user_id": user.user_id,
            "user_name": user.name,
            "command": "/backlog",
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": secrets.token_hex(8),
        }
    ).encode()


def click_body(request_id: str, message_ts: str, response_url: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": APPROVER.user_id, "username": APPROVER.name, "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": INCIDENT_CHANNEL_ID,
        },
        "trigger_id": secrets.token_hex(8),
        "team": {"id": "T0001", "domain": "backlog-bot-demo"},
        "channel": {"id": INCIDENT_CHANNEL_ID, "name": "phishnet-incidents"},
        "response_url": response_url,
        "message": {"type": "message", "ts": message_ts, "text": "Approval needed"},
        "actions": [
            {
                "type": "button",
                "action_id": "backlog_approve",
                "block_id": "backlog_approval_buttons",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": request_id,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def timed_post(http: aiohttp.ClientSession, target: Target, body: bytes) -> float:
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(target.secret, stamp, body),
    }
    started = time.perf_counter()
    async with http.post(target.url, data=body, headers=headers) as resp:
        await resp.read()
        elapsed = time.perf_counter() - started
        if resp.status != 200:
            raise SystemExit(f"{target.name} answered HTTP {resp.status}")
    return elapsed * 1000
