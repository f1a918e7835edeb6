"""``backlog-bot serve`` as a real process against the Slack and Kubernetes API
emulators, and the people in the channel who talk to it (signed requests, as in
:class:`bot.demo.sandbox.Sandbox`, but to another process)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.domain.playbook import Playbook
from bot.emulators.kube import KubeEmulator
from bot.emulators.slack_api import SlackEmulator, SlackUserInfo, StoredMessage
from bot.emulators.slack_requests import SlackClientSimulator
from tests.integration.proc import ROOT, bot_command, bot_env, free_port

TOKEN = "xoxb-serve-process-token"
SIGNING_SECRET = "serve-process-signing-secret"


async def start_emulators(playbook: Playbook) -> tuple[SlackEmulator, KubeEmulator]:
    """The Slack emulator with the playbook's people, the Kubernetes one with its
    deployments (two replicas each), as the sandbox sets them up."""
    slack = SlackEmulator(
        bot_token=TOKEN,
        users={
            p.user_id: SlackUserInfo(name=p.name, real_name=p.name.title(), title=p.title)
            for p in PEOPLE.values()
        },
        channels={INCIDENT_CHANNEL_ID: playbook.slack.incident_channel.lstrip("#")},
    )
    await slack.start()
    kube = KubeEmulator()
    await kube.start()
    for name, spec in playbook.deployments.items():
        labels = dict(part.split("=", 1) for part in spec.pod_selector.split(","))
        kube.add_deployment(
            playbook.namespace,
            name,
            replicas=2,
            labels=labels,
            pod_labels={**labels, "app": name},
        )
    return slack, kube


@dataclass
class BotProcess:
    """A running ``serve``; ``pid`` is the one to signal (PID 1 of its namespace when
    started under ``unshare``)."""

    process: asyncio.subprocess.Process
    pid: int
    port: int
    slack: SlackEmulator
    log_path: Path
    people: SlackClientSimulator = field(init=False)
    _tags: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.people = SlackClientSimulator(f"{self.base}/slack/events", SIGNING_SECRET)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> float:
        os.kill(self.pid, signum)
        return time.monotonic()

    async def wait(self, within: float) -> int:
        return await asyncio.wait_for(self.process.wait(), within)

    async def kill(self) -> None:
        if self.process.returncode is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            await self.process.wait()

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/readyz") as resp:
            return resp.status, await resp.json()

    async def command(self, who: str, text: str, *, within: float = 15.0) -> str:
        """``/backlog <text>`` typed by ``who``; the bot's answer to them."""
        person = PEOPLE[who]
        tag = f"cmd-{next(self._tags)}"
        url = self.slack.response_url(tag, channel=INCIDENT_CHANNEL_ID, user=person.user_id)
        result = await self.people.slash_command(
            text,
            user_id=person.user_id,
            user_name=person.name,
            channel_id=INCIDENT_CHANNEL_ID,
            response_url=url,
        )
        assert result.status == 200, result.body
        await self.slack.wait_for(lambda: bool(self.slack.responses(tag)), within=within)
        return self.slack.responses(tag)[-1].text

    async def click(self, who: str, message: StoredMessage, action_id: ActionId) -> None:
        """``who`` clicks the button; returns once the bot acknowledged the click."""
        person = PEOPLE[who]
        value = next(
            str(element.get("value", ""))
            for block in message.blocks or []
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("action_id") == action_id.value
        )
        result = await self.people.block_action(
            action_id.value,
            value,
            user_id=person.user_id,
            user_name=person.name,
            channel_id=INCIDENT_CHANNEL_ID,
            message_ts=message.ts,
            response_url=self.slack.response_url(
                f"click-{next(self._tags)}",
                channel=INCIDENT_CHANNEL_ID,
                user=person.user_id,
                message_ts=message.ts,
            ),
            message={
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks or [],
                "bot_id": message.bot_id,
            },
        )
        assert result.status == 200, result.body

    def message_with(self, action_id: ActionId) -> StoredMessage | None:
        for message in reversed(self.slack.messages(INCIDENT_CHANNEL_ID)):
            if has_button(message, action_id):
                return message
        return None


def has_button(message: StoredMessage, action_id: ActionId) -> bool:
    return any(
        element.get("action_id") == action_id.value
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    )


async def start_serve(
    tmp_path: Path,
    data_dir: Path,
    slack: SlackEmulator,
    *args: str,
    pid1: bool = False,
    **settings: str,
) -> BotProcess:
    """Starts ``backlog-bot serve ARGS`` with ``settings`` (plus the Slack ones and
    ``BACKLOG_BOT_DATA_DIR=data_dir``) and waits until ``/healthz`` answers.
    ``pid1``: as PID 1 of a new PID namespace."""
    port = free_port()
    env = bot_env(
        tmp_path,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        BACKLOG_BOT_DATA_DIR=str(data_dir),
        **settings,
    )
    command = bot_command("serve", *args)
    if pid1:
        command = ["unshare", "--pid", "--fork", "--mount-proc", *command]
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=ROOT, stdout=log, stderr=log
        )
    bot = BotProcess(process, process.pid, port, slack, log_path)
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"serve exited {process.returncode}:\n{bot.stderr}")
            try:
                async with http.get(f"{bot.base}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            if time.monotonic() > deadline:
                await bot.kill()
                raise AssertionError(f"serve did not answer /healthz:\n{bot.stderr}")
            await asyncio.sleep(0.1)
    if pid1:
        [child] = psutil.Process(process.pid).children()
        bot.pid = child.pid
    return bot
