"""The bot, whole, against loopback emulators: used by the demo and the tests.

Real parts everywhere the bot is concerned: its HTTP server with Bolt and
signature checks, the real ``slack_sdk`` client talking to the Slack API
emulator, the real ``kubernetes`` client talking to the Kubernetes API
emulator, real Redis and real PostgreSQL. People in the channel are played by
:class:`~bot.emulators.slack_requests.SlackClientSimulator`, which signs its
requests with the signing secret exactly as Slack does.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.adapters.slack.channel_events import SUBSCRIBED_EVENTS
from bot.app import Runtime, build_runtime
from bot.domain.models import Clock
from bot.domain.playbook import Playbook
from bot.emulators.kube import KubeEmulator
from bot.emulators.pagerduty import PagerDutyEmulator
from bot.emulators.slack_api import EmulatorEvent, SlackEmulator, SlackUserInfo, StoredMessage
from bot.emulators.slack_requests import SlackClientSimulator
from bot.settings import Settings
from bot.web import web_application

INCIDENT_CHANNEL_ID = "C0INCIDENTS"
"""The announcement channel's id (named as the playbook's ``announcement_channel``)."""


def manifest_scopes() -> tuple[str, ...]:
    """The bot scopes of the Slack app's manifest (bot/manifest.yml): the sandbox's
    token has exactly these, so a call needing another scope fails as in Slack."""
    text = (resources.files("bot") / "manifest.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return tuple(str(s) for s in data["oauth_config"]["scopes"]["bot"])


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    title: str


# The PhishNet playbook's role members, plus someone with no approval rights.
PEOPLE = {
    "alice": Person("U0SREONCALL", "alice", "SRE on call"),
    "bob": Person("U0SENIORDEVOPS", "bob", "Senior DevOps Engineer"),
    "carol": Person("U0ENGLEAD", "carol", "Engineering Team Lead"),
    "erin": Person("U0CTO", "erin", "CTO"),
    "dave": Person("U0DEV", "dave", "Developer"),
}


@dataclass(frozen=True)
class Answer:
    """What a person saw after a command or a click."""

    http_status: int
    text: str


class Sandbox:
    """Starts the emulators, the bot's runtime and its HTTP server on loopback."""

    def __init__(
        self,
        *,
        playbook: Playbook,
        redis_url: str,
        database_url: str,
        work_dir: Path,
        clock: Clock,
        on_event: Callable[[EmulatorEvent], None] | None = None,
        worker_replicas: Mapping[str, int] | None = None,
        alertmanager_token: str | None = None,
        app_token: str | None = None,
        replica_of: Sandbox | None = None,
        slack_timeout_seconds: int = 10,
        environ: Mapping[str, str] | None = None,
        pagerduty_webhook_secret: str | None = None,
        scopes: Iterable[str] | None = None,
        usergroups: Mapping[str, list[str]] | None = None,
        events: bool = False,
        event_retry_delays: Sequence[float] = (0.0, 60.0, 300.0),
    ) -> None:
        """``replica_of``: run a second bot process against the same Slack workspace,
        Kubernetes cluster, PagerDuty, Redis and database as that sandbox (two replicas).
        ``environ``: the variables the playbook's pagers name (routing keys, hook URLs),
        instead of the process's environment. ``scopes``: the bot token's scopes
        (default: the manifest's); ``usergroups``: Slack user groups of the workspace
        (id -> member ids). ``events``: the Slack emulator delivers the Events API to
        this bot (the manifest's subscriptions; Slack's retries after
        ``event_retry_delays``)."""
        self._environ = dict(environ or {})
        self._pagerduty_secret = pagerduty_webhook_secret
        self._scopes = tuple(scopes) if scopes is not None else manifest_scopes()
        self._usergroups = dict(usergroups or {})
        self._events = events
        self._event_retry_delays = tuple(event_retry_delays)
        self._replica_of = replica_of
        self._slack_timeout = slack_timeout_seconds
        self.app_token = app_token
        self._alertmanager_token = alertmanager_token
        self.playbook = playbook
        self._redis_url = redis_url
        self._database_url = database_url
        self.work_dir = work_dir
        self._clock = clock
        self._on_event = on_event
        self._replicas = dict(worker_replicas or {})
        # One Slack app for every replica: the same credentials.
        self.bot_token, self.signing_secret = _credentials(replica_of)
        self._tags = itertools.count(1)
        self.slack: SlackEmulator
        self.kube: KubeEmulator
        self.pagerduty: PagerDutyEmulator
        self.runtime: Runtime
        self.endpoint = ""
        self._runner: web.AppRunner | None = None
        self._people: SlackClientSimulator

    async def start(self) -> Sandbox:
        if self._replica_of is not None:
            self.slack, self.kube = self._replica_of.slack, self._replica_of.kube
            self.pagerduty = self._replica_of.pagerduty
        else:
            await self._start_emulators()
        await self._start_bot()
        return self

    async def restart(self) -> None:
        """Stops the bot process (its runtime and HTTP server) and starts a new one on the
        same emulators, Redis and database, as after a crash or a deploy. The HTTP
        server gets a new port."""
        await self._stop_bot()
        await self._start_bot()

    async def _start_bot(self) -> None:
        kubeconfig = self.kube.write_kubeconfig(
            self.work_dir / "kubeconfig", namespace=self.playbook.namespace
        )
        settings = Settings(
            slack_bot_token=self.bot_token,
            slack_signing_secret=self.signing_secret,
            slack_api_url=self.slack.api_url,
            slack_timeout_seconds=self._slack_timeout,
            redis_url=self._redis_url,
            database_url=self._database_url,
            kubeconfig=kubeconfig,
            data_dir=self.work_dir,
            alertmanager_token=self._alertmanager_token,
            slack_app_token=self.app_token,
            pagerduty_events_url=self.pagerduty.events_url,
            pagerduty_webhook_secret=self._pagerduty_secret,
            # The emulator is on loopback: a slow answer means a loaded machine, not a
            # slow API server, and the tests and the demo check the ready count.
            kube_read_timeout_seconds=30.0,
        )
        self.runtime = await build_runtime(
            settings, clock=self._clock, playbook=self.playbook, environ=self._environ
        )
        await self.runtime.start_background()
        self._runner = web.AppRunner(web_application(self.runtime), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}/slack/events"
        self._people = SlackClientSimulator(self.endpoint, self.signing_secret)
        if self._events:
            await self.slack.events.configure(
                self.endpoint,
                self.signing_secret,
                bot_events=SUBSCRIBED_EVENTS,
                retry_delays=self._event_retry_delays,
            )

    async def _start_emulators(self) -> None:
        channel_name = self.playbook.slack.incident_channel.lstrip("#")
        self.slack = SlackEmulator(
            bot_token=self.bot_token,
            users={
                p.user_id: SlackUserInfo(name=p.name, real_name=p.name.title(), title=p.title)
                for p in PEOPLE.values()
            },
            channels={INCIDENT_CHANNEL_ID: channel_name},
            on_event=self._on_event,
            app_token=self.app_token,
            scopes=self._scopes,
            usergroups=self._usergroups,
            # Slack's timestamps on the bot's clock, so messages and the bot's own
            # records (the report's timeline) tell one story.
            clock=lambda: self._clock().timestamp(),
        )
        await self.slack.start()
        self.kube = KubeEmulator()
        await self.kube.start()
        self.pagerduty = PagerDutyEmulator(clock=lambda: self._clock().timestamp())
        await self.pagerduty.start()
        for name, spec in self.playbook.deployments.items():
            labels = dict(part.split("=", 1) for part in spec.pod_selector.split(","))
            self.kube.add_deployment(
                self.playbook.namespace,
                name,
                replicas=self._replicas.get(name, 2),
                labels=labels,
                pod_labels={**labels, "app": name},
            )

    @property
    def base_url(self) -> str:
        """The bot's HTTP server, ``http://127.0.0.1:PORT``: add ``/metrics``,
        ``/alertmanager``, ``/healthz``... (set once :meth:`start` has run)."""
        return self.endpoint.removesuffix("/slack/events")

    async def _stop_bot(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.runtime.close()

    async def stop(self) -> None:
        await self._stop_bot()
        if self._replica_of is None:
            await self.pagerduty.stop()
            await self.kube.stop()
            await self.slack.stop()

    async def settle(self) -> None:
        """Waits until everything the bot has to say now has reached Slack and the
        pagers (a pager's refusal is said in Slack, hence Slack again)."""
        await self.runtime.sender.flush()
        await self.runtime.paging.sender.flush()
        await self.runtime.sender.flush()

    @property
    def pagerduty_url(self) -> str:
        """Where PagerDuty's v3 webhooks reach this bot (with a webhook secret set)."""
        return self.base_url + "/pagerduty"

    async def events_settled(self) -> None:
        """Waits until the Events API has delivered what happened (retries due now
        included) and the bot has processed it."""
        await self.slack.events.settle()
        await self.runtime.channel_events.idle()

    # ---- people in the channel -----------------------------------------

    async def command(
        self, who: str, text: str, *, channel: str | None = None, within: float = 10.0
    ) -> Answer:
        """``/backlog <text>`` typed by ``who`` in ``channel`` (default: where the open
        incident lives, else the announcement channel); returns the bot's reply to them."""
        person = PEOPLE[who]
        where = channel or await self.incident_channel() or INCIDENT_CHANNEL_ID
        tag = f"cmd-{next(self._tags)}"
        url = self.slack.response_url(tag, channel=where, user=person.user_id)
        result = await self._people.slash_command(
            text,
            user_id=person.user_id,
            user_name=person.name,
            channel_id=where,
            response_url=url,
        )
        if result.status != 200:
            return Answer(result.status, result.body)
        await self.slack.wait_for(lambda: bool(self.slack.responses(tag)), within=within)
        await self.settle()
        return Answer(result.status, self.slack.responses(tag)[-1].text)

    async def click(
        self, who: str, message: StoredMessage, action_id: str, *, within: float = 10.0
    ) -> Answer:
        """``who`` clicks the button ``action_id`` on ``message``; returns what they see."""
        person = PEOPLE[who]
        value = _button_value(message, action_id)
        tag = f"click-{next(self._tags)}"
        result = await self._people.block_action(
            action_id,
            value,
            user_id=person.user_id,
            user_name=person.name,
            channel_id=message.channel,
            message_ts=message.ts,
            response_url=self.slack.response_url(
                tag, channel=message.channel, user=person.user_id, message_ts=message.ts
            ),
            message={
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks or [],
                "bot_id": message.bot_id,
            },
        )
        if result.status != 200:
            return Answer(result.status, result.body)
        await self.slack.wait_for(lambda: bool(self.slack.responses(tag)), within=within)
        await self.settle()
        return Answer(result.status, self.slack.responses(tag)[-1].text)

    async def tick(self) -> None:
        """One monitor sample, and what it made the bot say, delivered."""
        await self.runtime.monitor.tick()
        await self.settle()

    # ---- what the channel shows ----------------------------------------

    async def incident_channel(self) -> str | None:
        """The id of the channel the open incident lives in, once Slack has it."""
        incident = await self.runtime.store.open_incident_for(self.playbook.name)
        if incident is None or incident.channel is None:
            return None
        if incident.channel in self.slack.workspace.channels:
            return incident.channel
        return None

    def incident_channels(self) -> list[str]:
        """Ids of the channels the bot created (one per incident), oldest first."""
        ws = self.slack.workspace
        return [c.id for c in ws.channels.values() if c.creator == ws.bot_user_id]

    def channel_messages(self) -> list[StoredMessage]:
        """What people see in the announcement channel and every incident channel,
        oldest first (ephemeral messages and Slack's own join/topic notices left out)."""
        found = [
            m
            for channel in [INCIDENT_CHANNEL_ID, *self.incident_channels()]
            for m in self.slack.messages(channel)
            if not m.is_ephemeral and not m.is_system
        ]
        return sorted(found, key=lambda m: (float(m.ts), m.channel))

    def find_message(self, action_id: str) -> StoredMessage | None:
        """The newest channel message carrying a button ``action_id``."""
        for message in reversed(self.channel_messages()):
            if _has_button(message, action_id):
                return message
        return None


def _credentials(replica_of: Sandbox | None) -> tuple[str, str]:
    if replica_of is not None:
        return replica_of.bot_token, replica_of.signing_secret
    return "xoxb-" + secrets.token_hex(12), secrets.token_hex(16)


def _buttons(message: StoredMessage) -> list[dict[str, Any]]:
    return _buttons_in(message.blocks)


def _buttons_in(blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    found = []
    for block in blocks or []:
        if block.get("type") == "actions":
            found += [e for e in block.get("elements", []) if e.get("type") == "button"]
    return found


def _has_button(message: StoredMessage, action_id: str) -> bool:
    return any(b.get("action_id") == action_id for b in _buttons(message))


def _button_value(message: StoredMessage, action_id: str) -> str:
    # A person may click on a version of the message their client still shows
    # after the bot updated it (a late double click), so older versions count.
    for version in reversed(message.versions):
        for element in _buttons_in(version.blocks):
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    raise LookupError(f"no button {action_id} on message {message.ts}")
