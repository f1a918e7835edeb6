"""Shared by the escalation tests: a PhishNet playbook with pagers and measured triggers,
the routing keys, and helpers that read what people and pagers saw."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.demo.clock import ManualClock
from bot.demo.sandbox import Sandbox
from bot.domain.playbook import Playbook, parse_playbook
from bot.emulators.slack_api import StoredMessage

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
KEY_L1 = "0123456789abcdef0123456789abcdef"
KEY_L2 = "fedcba9876543210fedcba9876543210"
KEY_CTO = "c0ffee00c0ffee00c0ffee00c0ffee00"
ENVIRON = {"PD_ROUTING_KEY_L1": KEY_L1, "PD_ROUTING_KEY_L2": KEY_L2, "PD_ROUTING_KEY_CTO": KEY_CTO}
DEDUP = "backlog-bot/phishnet-queue-backlog/1"
WEBHOOK_SECRET = "whsec-test-0123456789"


def edited_playbook(edit: Callable[[dict[str, Any]], None] | None = None) -> Playbook:
    """PhishNet's playbook with PagerDuty on L1 and L2 and the CTO role, then ``edit``."""
    data = yaml.safe_load(PLAYBOOK.read_text())
    tiers = data["escalation"]["tiers"]
    tiers[0]["pagerduty"] = {"routing_key_env": "PD_ROUTING_KEY_L1"}
    tiers[1]["pagerduty"] = {"routing_key_env": "PD_ROUTING_KEY_L2"}
    data["roles"]["cto"]["pagerduty"] = {"routing_key_env": "PD_ROUTING_KEY_CTO"}
    if edit is not None:
        edit(data)
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "paging-test.yml")


def trigger_of(data: dict[str, Any], kind: str) -> dict[str, Any]:
    [trigger] = [t for t in data["escalation"]["triggers"] if t["kind"] == kind]
    return trigger


async def open_incident(
    sandbox: Sandbox, redis_client: Any, clock: ManualClock, *, fill: bool = True
) -> None:
    """A backlog above the rule's threshold for its 10 minutes: detected at 09:10, the
    clock left at 09:11. ``fill``: push 1,500 jobs first (else the test did)."""
    if fill:
        await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


def shown(message: StoredMessage) -> str:
    """What a person reads: the sections' text (the notification text is cut short)."""
    sections = [
        block["text"]["text"] for block in message.blocks or [] if block.get("type") == "section"
    ]
    return "\n".join(sections) or message.text


def pages(sandbox: Sandbox) -> list[str]:
    return [shown(m) for m in sandbox.channel_messages() if "Escalating incident" in m.text]


def said(sandbox: Sandbox, needle: str) -> list[str]:
    """What the incident channel's messages (thread replies included) with ``needle`` say."""
    return [shown(m) for m in sandbox.channel_messages() if needle in shown(m)]


def pd_actions(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(action, routing key) of each event PagerDuty accepted, in order."""
    return [
        (e.action or "", (e.body or {}).get("routing_key", ""))
        for e in sandbox.pagerduty.accepted()
    ]


class HookReceiver:
    """A team's own pager endpoint (the generic webhook): keeps bodies, answers 202."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.json_response({"result": "ok"}, status=202)

    async def __aenter__(self) -> HookReceiver:
        app = web.Application()
        app.router.add_post("/hooks/T0KEN", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hooks/T0KEN"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
