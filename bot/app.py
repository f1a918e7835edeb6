"""Wiring: builds the adapters from settings, connects the services, serves HTTP.

Nothing here runs at import time; :func:`build_runtime` is called by the CLI,
the demo and the tests with the same code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.adapters.chart import render_depth_chart
from bot.adapters.kube import KubeClient
from bot.adapters.queues import depths
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.slack.app import ChannelHandlers, Handlers, build_slack_app
from bot.adapters.slack.client import make_client
from bot.adapters.slack.directory import SlackDirectory
from bot.adapters.slack.history import ChannelHistory
from bot.adapters.slack.transport import SlackTransport, make_sender_client
from bot.adapters.store import LeaderLock, Store, migrate
from bot.adapters.store.leases import ActionLeases
from bot.adapters.store.outbox import OutboxMessage
from bot.adapters.store.sender import SenderConnection
from bot.backends import Backends, start_backends
from bot.domain.delivery import Delivered
from bot.domain.models import Clock, system_clock
from bot.domain.playbook import Playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis
from bot.incident_wiring import ButtonHandlers, ready_workers, report_link_hook, setup_delivery
from bot.paging_runtime import Paging, build_paging
from bot.services.actions import ActionService
from bot.services.buttons import IncidentButtons
from bot.services.channel_events import ChannelEvents
from bot.services.commands import CommandRouter
from bot.services.delivery import SlackSender
from bot.services.diagnosis import DiagnosisService
from bot.services.effects import EffectService
from bot.services.escalation import EscalationService
from bot.services.followups import FollowUps
from bot.services.incidents import IncidentService
from bot.services.leadership import Leadership
from bot.services.messages import Messages, alert_key
from bot.services.monitor import Monitor
from bot.services.paging import PagingService
from bot.services.report import ReportService
from bot.settings import Settings
from bot.slack_handlers import slack_channel_handlers, slack_handlers
from bot.startup import (
    DEFAULT_PLAYBOOK,
    ConfigurationError,
    configured_kube,
    configured_playbook,
    playbook_backends,
    playbook_file,
    secret,
    slack_secrets,
    verify_postgres,
    verify_redis,
)

log = logging.getLogger(__name__)

# Re-exported: the demo, the CLI and the tests import them from here.
__all__ = ["DEFAULT_PLAYBOOK", "Backends", "ConfigurationError", "playbook_file", "start_backends"]


@dataclass
class Runtime:
    settings: Settings
    playbook: Playbook
    clock: Clock
    store: Store
    redis: RedisClient
    kube: KubeClient
    slack: AsyncWebClient
    incidents: IncidentService
    monitor: Monitor
    actions: ActionService
    router: CommandRouter
    escalation: EscalationService
    slack_app: AsyncApp
    sender: SlackSender
    leases: ActionLeases
    paging: Paging
    reports: ReportService
    channel_events: ChannelEvents
    effects: EffectService
    leader: LeaderLock
    #: Set by ``serve`` (bot/lifecycle.py); None where one process runs everything (demo).
    leadership: Leadership | None = None
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = field(default_factory=list)
    # What the Slack listeners call, kept so several playbooks can share one Bolt app
    # (bot/organisation.py).
    handlers: Handlers | None = None
    channel_handlers: ChannelHandlers | None = None

    async def start_senders(self) -> None:
        """Starts delivering the Slack and page outboxes (``serve``: on the replica that
        leads, bot/lifecycle.py)."""
        await self.sender.start()
        await self.paging.sender.start()

    async def start_background(self) -> None:
        """Where one process runs everything (the demo, the tests' sandbox): starts the
        senders, reports actions a dead process left running, and processes channel
        events a dead process stored but never processed."""
        await self.start_senders()
        await self.actions.recover_interrupted()
        await self.channel_events.sweep()

    async def stop_background(self) -> None:
        """Stops the outbox senders (this replica no longer leads); what they had not
        delivered stays in the outbox for the leader."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.paging.sender.stop)
            stack.push_async_callback(self.sender.stop)

    async def close(self) -> None:
        """Stops the senders, releases the leader lock (another replica takes over at
        once), closes the clients, and stops the embedded servers — each step even when
        an earlier one fails."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, Backends(self.embedded).stop)
            stack.callback(self.kube.close)
            stack.push_async_callback(self.redis.aclose)
            stack.push_async_callback(self.store.close)
            stack.push_async_callback(self.leases.close)
            stack.push_async_callback(self.leader.release)
            stack.push_async_callback(self.paging.close)
            stack.push_async_callback(self.sender.stop)


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    playbook: Playbook | None = None,
    kube: KubeClient | None = None,
    environ: Mapping[str, str] | None = None,
    backends: Backends | None = None,
) -> Runtime:
    """Checks the settings, connects to Redis and PostgreSQL (started embedded only
    when ``backends`` says so), migrates, and wires the services. ``environ`` holds the
    secrets the playbook's pagers name (default ``os.environ``).

    Raises :class:`ConfigurationError` (one line naming the setting) for anything the
    bot cannot start with; then nothing is left running or open, the ``kube`` and
    ``backends`` given included (the runtime would have owned them).
    """
    async with contextlib.AsyncExitStack() as undo:
        if backends is not None:
            undo.push_async_callback(asyncio.to_thread, backends.stop)
        token, signing_secret = slack_secrets(settings)
        logs.redact.register(
            [
                token,
                signing_secret,
                secret(settings.slack_app_token),
                secret(settings.alertmanager_token),
                secret(settings.pagerduty_webhook_secret),
            ]
        )
        playbook = playbook or configured_playbook(settings)
        kube = kube or configured_kube(settings)
        undo.callback(kube.close)
        if backends is None:
            backends = await start_backends(settings)
            undo.push_async_callback(asyncio.to_thread, backends.stop)
        backends = playbook_backends(playbook, backends, environ)
        runtime = await _wire(
            settings, clock, playbook, kube, backends, (token, signing_secret), environ, undo
        )
        undo.pop_all()  # the runtime owns all of it now
        return runtime
    raise AssertionError("unreachable")  # the exit stack re-raises any failure


async def _wire(
    settings: Settings,
    clock: Clock,
    playbook: Playbook,
    kube: KubeClient,
    backends: Backends,
    slack_secret_pair: tuple[str, str],
    environ: Mapping[str, str] | None,
    undo: contextlib.AsyncExitStack,
) -> Runtime:
    token, signing_secret = slack_secret_pair
    database_url, redis_url = backends.database_url, backends.redis_url
    await verify_postgres(database_url, embedded=backends.has("postgres"))
    await migrate(database_url)
    store = await Store.connect(database_url)
    undo.push_async_callback(store.close)
    try:
        redis = depths.connect(redis_url)  # lazy: no I/O yet
    except ValueError as exc:  # a URL redis-py or the cluster URL parser refuses
        raise ConfigurationError(f"{playbook.redis.url_env}: {exc}") from exc
    undo.push_async_callback(redis.aclose)
    await verify_redis(
        redis, redis_url, embedded=backends.has("redis"), setting=playbook.redis.url_env
    )
    slack = make_client(token, settings.slack_api_url)
    messages = Messages(
        clock, render_chart=render_depth_chart, alert_refresh=playbook.slack.alert_refresh
    )
    directory = SlackDirectory(slack, playbook)
    history = ChannelHistory(slack)
    effects = EffectService(
        store=store, kube=kube, messages=messages, playbook=playbook, clock=clock
    )
    reports = ReportService(
        store,
        messages,
        playbook,
        clock,
        history=history,
        render_chart=render_depth_chart,
        directory=directory,
        verdicts=effects.report_verdicts,
    )
    channel_events = ChannelEvents(store, clock, history.bot_ids)
    incidents = IncidentService(
        store,
        messages,
        playbook,
        clock,
        ready_workers=ready_workers(kube, playbook.namespace, settings.kube_read_timeout_seconds),
        reports=reports,
    )
    await incidents.restore()
    monitor = Monitor(redis, store, incidents, messages, playbook, clock)
    leases = ActionLeases(database_url)
    undo.push_async_callback(leases.close)
    actions = ActionService(
        store=store,
        redis=redis,
        kube=kube,
        messages=messages,
        directory=directory,
        leases=leases,
        playbook=playbook,
        clock=clock,
    )
    pagers = PagingService(store, messages, playbook, clock, environ=environ)
    escalation = EscalationService(store, messages, directory, playbook, clock, pagers)
    paging = build_paging(settings, escalation, pagers, redis, kube, database_url, environ)
    undo.push_async_callback(paging.close)
    # After each sample: the job ages, a look at the vendors, then the escalation re-plans.
    monitor.after_sample += [
        paging.job_ages.after_sample,
        paging.vendors.after_sample,
        paging.timer.after_sample,
    ]
    _wire_effects(effects, actions, monitor)
    follow_ups = FollowUps(
        store=store,
        kube=kube,
        redis=redis,
        actions=actions,
        directory=directory,
        playbook=playbook,
        clock=clock,
    )
    sender = SlackSender(
        store,
        SlackTransport(
            make_sender_client(token, settings.slack_api_url, settings.slack_timeout_seconds)
        ),
        SenderConnection(database_url),
        clock=clock,
        announcement_channel=playbook.slack.announcement_channel,
        setup=setup_delivery(
            store,
            token=token,
            api_url=settings.slack_api_url,
            directory=directory,
            incidents=incidents,
            clock=clock,
        ),
    )
    wire_delivery_hooks(sender, store, actions.on_request_message_refused)
    sender.on_delivered.append(report_link_hook(incidents))
    router = CommandRouter(
        playbook=playbook,
        escalation=escalation,
        diagnosis=DiagnosisService(kube, playbook, store, clock),
        store=store,
        redis=redis,
        kube=kube,
        incidents=incidents,
        actions=actions,
        messages=messages,
        directory=directory,
        clock=clock,
    )
    buttons = ButtonHandlers(IncidentButtons(store, router, incidents.channels), actions)
    handlers = slack_handlers(router, buttons, follow_ups)
    channel_handlers = slack_channel_handlers(channel_events, reports)
    slack_app = build_slack_app(
        client=slack, signing_secret=signing_secret, handlers=handlers, channel=channel_handlers
    )
    return Runtime(
        settings=settings,
        playbook=playbook,
        clock=clock,
        store=store,
        redis=redis,
        kube=kube,
        slack=slack,
        incidents=incidents,
        monitor=monitor,
        actions=actions,
        router=router,
        escalation=escalation,
        slack_app=slack_app,
        sender=sender,
        leases=leases,
        paging=paging,
        reports=reports,
        channel_events=channel_events,
        effects=effects,
        leader=LeaderLock(database_url),
        embedded=backends.embedded,
        handlers=handlers,
        channel_handlers=channel_handlers,
    )


def _wire_effects(effects: EffectService, actions: ActionService, monitor: Monitor) -> None:
    """Issue 12: every executed action gets its effect check (scheduled in the
    transaction that records its outcome, judged on each monitor sample, after the
    other hooks), and what the executors change or snapshot is kept for Roll back /
    Re-analyse."""
    actions.on_finished = effects.schedule
    actions.executors.recorder = effects
    monitor.after_sample.append(effects.on_sample)


def wire_delivery_hooks(
    sender: SlackSender,
    store: Store,
    request_refused: Callable[[uuid.UUID, str], Awaitable[None]],
) -> None:
    """What the rest of the bot learns from deliveries: where an incident's alert and a
    request's approval message are, and (``request_refused(request_id, why)``) that a
    request whose approval message Slack refused cannot be approved."""

    async def delivered(message: OutboxMessage, where: Delivered) -> None:
        if message.incident_id is not None and message.key == alert_key(message.incident_id):
            await store.set_incident_message(message.incident_id, where.channel, where.ts)
        request_id = _request_id_of(message.key)
        if request_id is not None:
            await store.set_action_message(request_id, where.channel, where.ts)

    async def refused(message: OutboxMessage, why: str) -> None:
        request_id = _request_id_of(message.key)
        if request_id is not None:
            await request_refused(request_id, why)

    sender.on_delivered.append(delivered)
    sender.on_refused.append(refused)


def _request_id_of(key: str) -> uuid.UUID | None:
    """The request id of an approval request's own message key (``request/<uuid>``)."""
    prefix, _, rest = key.partition("/")
    if prefix != "request" or "/" in rest:
        return None
    try:
        return uuid.UUID(rest)
    except ValueError:
        return None
