"""Wiring: builds the adapters from settings, connects the services, serves HTTP.

Nothing here runs at import time; :func:`build_runtime` is called by the CLI,
the demo and the tests with the same code path.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.adapters.alertmanager import PayloadError, parse_webhook
from bot.adapters.chart import render_depth_chart
from bot.adapters.kube import KubeClient
from bot.adapters.pagerduty import pagerduty_webhook_handler
from bot.adapters.queues import depths
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.slack.app import ChannelHandlers, CommandCall, Handlers, build_slack_app
from bot.adapters.slack.boundary import Answer
from bot.adapters.slack.client import make_client
from bot.adapters.slack.directory import SlackDirectory
from bot.adapters.slack.history import ChannelHistory
from bot.adapters.slack.transport import SlackTransport, make_sender_client
from bot.adapters.store import LeaderLock, Store, migrate
from bot.adapters.store.leases import ActionLeases
from bot.adapters.store.outbox import OutboxMessage
from bot.adapters.store.sender import SenderConnection
from bot.domain.delivery import Delivered
from bot.domain.models import Clock, QueueSample, system_clock
from bot.domain.playbook import Playbook, load_playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis, default_data_dir
from bot.incident_wiring import ButtonHandlers, ready_workers, report_link_hook, setup_delivery
from bot.metrics import BotMetrics
from bot.paging_runtime import Paging, build_paging
from bot.services.actions import ActionService
from bot.services.buttons import IncidentButtons
from bot.services.channel_events import ChannelEvents
from bot.services.commands import CommandRouter, Invocation
from bot.services.delivery import SlackSender
from bot.services.diagnosis import DiagnosisService
from bot.services.effects import EffectService
from bot.services.escalation import EscalationService
from bot.services.followups import FollowUps
from bot.services.incidents import IncidentService
from bot.services.messages import Messages, alert_key
from bot.services.monitor import Monitor
from bot.services.paging import PagingService
from bot.services.report import ReportService
from bot.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PLAYBOOK = Path("playbooks/queue-backlog.yml")


class ConfigurationError(RuntimeError):
    """A setting the bot cannot start without; ``str()`` says which."""


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
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = field(default_factory=list)

    async def start_background(self) -> None:
        """Starts delivering the outbox, reports actions a dead process left running,
        and processes channel events a dead process stored but never processed."""
        await self.sender.start()
        await self.paging.sender.start()
        await self.actions.recover_interrupted()
        await self.channel_events.sweep()

    async def close(self) -> None:
        await self.sender.stop()
        await self.paging.close()
        await self.monitor.close()
        await self.leases.close()
        await self.store.close()
        await self.redis.aclose()
        self.kube.close()
        for server in reversed(self.embedded):
            server.stop()


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else ""


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    playbook: Playbook | None = None,
    kube: KubeClient | None = None,
    environ: Mapping[str, str] | None = None,
) -> Runtime:
    """Connects to (or starts) Redis and PostgreSQL, migrates, and wires the services.
    ``environ`` holds the secrets the playbook's pagers name (default ``os.environ``)."""
    token = _secret(settings.slack_bot_token)
    signing_secret = _secret(settings.slack_signing_secret)
    if not token or not signing_secret:
        raise ConfigurationError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set")
    logs.redact.register(
        [
            token,
            signing_secret,
            _secret(settings.slack_app_token),
            _secret(settings.alertmanager_token),
            _secret(settings.pagerduty_webhook_secret),
        ]
    )
    playbook = playbook or load_playbook(playbook_file(settings.playbook))
    backends = await start_backends(settings)
    redis_url, database_url, embedded = backends.redis_url, backends.database_url, backends.embedded
    try:
        redis = depths.connect(redis_url)  # lazy: no I/O yet
    except ValueError as exc:  # a URL redis-py or the cluster URL parser refuses
        raise ConfigurationError(str(exc)) from exc

    await migrate(database_url)
    store = await Store.connect(database_url)
    kube = kube or KubeClient.from_config(settings.kubeconfig)
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
        ready_workers=ready_workers(kube, playbook.namespace),
        reports=reports,
    )
    await incidents.restore()
    leader = LeaderLock(database_url)
    monitor = Monitor(redis, store, incidents, messages, playbook, clock, leader)
    leases = ActionLeases(database_url)
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
    _wire_delivery_hooks(sender, store, actions)
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
    slack_app = build_slack_app(
        client=slack,
        signing_secret=signing_secret,
        handlers=_handlers(router, buttons, follow_ups),
        channel=_channel_handlers(channel_events, reports),
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
        embedded=embedded,
    )


def _wire_effects(effects: EffectService, actions: ActionService, monitor: Monitor) -> None:
    """Issue 12: every executed action gets its effect check (scheduled in the
    transaction that records its outcome, judged on each monitor sample, after the
    other hooks), and what the executors change or snapshot is kept for Roll back /
    Re-analyse."""
    actions.on_finished = effects.schedule
    actions.executors.recorder = effects
    monitor.after_sample.append(effects.on_sample)


def _wire_delivery_hooks(sender: SlackSender, store: Store, actions: ActionService) -> None:
    """What the rest of the bot learns from deliveries: where an incident's alert is,
    and that a request whose approval message Slack refused cannot be approved."""

    async def delivered(message: OutboxMessage, where: Delivered) -> None:
        if message.incident_id is not None and message.key == alert_key(message.incident_id):
            await store.set_incident_message(message.incident_id, where.channel, where.ts)
        request_id = _request_id_of(message.key)
        if request_id is not None:
            await store.set_action_message(request_id, where.channel, where.ts)

    async def refused(message: OutboxMessage, why: str) -> None:
        request_id = _request_id_of(message.key)
        if request_id is not None:
            await actions.on_request_message_refused(request_id, why)

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


@dataclass
class Backends:
    redis_url: str
    database_url: str
    embedded: list[EmbeddedRedis | EmbeddedPostgres]

    def stop(self) -> None:
        for server in reversed(self.embedded):
            server.stop()


async def start_backends(settings: Settings, *, redis: bool = True) -> Backends:
    """The configured Redis and PostgreSQL, or embedded ones where no URL is set."""
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = []
    data_dir = settings.data_dir or default_data_dir()
    redis_url = settings.redis_url or ""
    if redis and not redis_url:
        server = EmbeddedRedis(data_dir / "redis")
        redis_url = await asyncio.to_thread(server.start)
        embedded.append(server)
    database_url = _secret(settings.database_url)
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres")
        database_url = await asyncio.to_thread(pg.start)
        embedded.append(pg)
    logs.redact.register([database_url, redis_url])
    return Backends(redis_url=redis_url, database_url=database_url, embedded=embedded)


def _handlers(router: CommandRouter, buttons: ButtonHandlers, follow_ups: FollowUps) -> Handlers:
    async def command(call: CommandCall) -> Answer:
        reply = await router.handle(
            Invocation(text=call.text, user=call.user, channel=call.channel)
        )
        return Answer(text=reply.text, ephemeral=reply.ephemeral)

    async def roll_back(request_id: uuid.UUID, user: str, channel: str) -> Answer:
        request = await follow_ups.request_rollback(request_id, user, channel)
        return Answer(f"Approval requested: {request.summary}.")

    async def reanalyse(request_id: uuid.UUID, user: str, channel: str) -> Answer:
        request = await follow_ups.request_reanalysis(request_id, user, channel)
        return Answer(f"Approval requested: {request.summary}.")

    return Handlers(
        command=command,
        approve=buttons.approve,
        deny=buttons.deny,
        incident_button=buttons.incident_button,
        roll_back=roll_back,
        reanalyse=reanalyse,
    )


def _channel_handlers(events: ChannelEvents, reports: ReportService) -> ChannelHandlers:
    async def receive(body: Mapping[str, Any]) -> bool:
        return not (await events.receive(body)).processed

    async def process(event_id: str) -> None:
        await events.process(event_id, received=True)

    async def finalise(incident_id: int, user: str) -> Answer:
        return Answer(await reports.finalise(incident_id, user))

    return ChannelHandlers(receive=receive, process=process, finalise=finalise)


def web_application(runtime: Runtime) -> web.Application:
    """``/slack/events``, ``/healthz``, ``/readyz`` and ``/metrics``."""
    exported = BotMetrics(
        playbook=runtime.playbook,
        redis=runtime.redis,
        store=runtime.store,
        rules=runtime.incidents.rules,
    )

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        with exported.slack_ack(bolt_request.body):
            bolt_response = await runtime.slack_app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def alertmanager(request: web.Request) -> web.Response:
        return await receive_alertmanager(runtime, request)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness(runtime)
        status = 200 if all(checks.values()) else 503
        # Pagers outside Slack are listed but never fail readiness (bot/services/paging.py).
        paging = runtime.paging.service.readiness()
        return web.json_response({"checks": checks, "paging": paging}, status=status)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = await exported.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/alertmanager", alertmanager)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    webhook_secret = _secret(runtime.settings.pagerduty_webhook_secret)
    if webhook_secret:  # PagerDuty v3 webhooks in (signature-verified)
        inbox = runtime.paging.inbox.on_event
        app.router.add_post("/pagerduty", pagerduty_webhook_handler(webhook_secret, inbox))
    return app


async def receive_alertmanager(runtime: Runtime, request: web.Request) -> web.Response:
    """Alertmanager webhook v4: alerts named like a playbook rule open/extend the incident.

    Answers 2xx only once every alert of the notification is stored, so a
    notification that could not be stored (PostgreSQL down) is retried by
    Alertmanager rather than lost.
    """
    token = _secret(runtime.settings.alertmanager_token)
    offered = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return web.json_response({"error": "unauthorized"}, status=401)
    try:
        notification = parse_webhook(await request.read())
    except PayloadError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        depths_now = await depths.queue_depths(runtime.redis, runtime.playbook.queue_names)
    except depths.QueuesUnavailable:
        depths_now = {}  # the alert still counts; the depth is shown as unknown (0)
    sample = QueueSample(at=runtime.clock(), depths=depths_now)
    try:
        outcomes = await runtime.incidents.on_external_alerts(
            notification.alerts, sample, truncated=notification.truncated
        )
    except Exception:  # not stored: Alertmanager must retry (it does on any non-2xx)
        log.exception("alertmanager notification could not be stored")
        return web.json_response(
            {"error": "the notification could not be stored; retry"}, status=503
        )
    return web.json_response(
        {
            "results": [
                {"alert": o.alert, "status": o.status, "outcome": o.outcome} for o in outcomes
            ],
            "truncated": notification.truncated,
        }
    )


async def readiness(runtime: Runtime) -> dict[str, bool]:
    async def slack_ok() -> bool:
        try:
            await runtime.slack.auth_test()
        except (TimeoutError, SlackApiError, OSError):
            return False
        return True

    async def store_ok() -> bool:
        try:
            return await runtime.store.ping()
        except (TimeoutError, OSError):
            return False

    redis_ok, db_ok, slack_ok_ = await asyncio.gather(
        depths.ping(runtime.redis), store_ok(), slack_ok()
    )
    return {"redis": redis_ok, "postgres": db_ok, "slack": slack_ok_}


async def start_socket_mode(runtime: Runtime) -> AsyncSocketModeHandler | None:
    """With ``SLACK_APP_TOKEN`` set, also take Slack's traffic over Socket Mode (no
    public URL needed; the socket is authenticated, so no signature to check)."""
    app_token = _secret(runtime.settings.slack_app_token)
    if not app_token:
        return None
    # The Socket Mode client retries a refused token forever in the background;
    # check it once up front so a wrong SLACK_APP_TOKEN stops the start-up instead.
    try:
        await runtime.slack.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise ConfigurationError(
            f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')})"
        ) from exc
    handler = AsyncSocketModeHandler(runtime.slack_app, app_token)
    connect: Any = handler.connect_async  # untyped in slack_bolt
    await connect()
    log.info("socket mode connected")
    return handler


async def serve(settings: Settings) -> None:
    """Runs the bot until cancelled: HTTP server plus the sampling loop."""
    runtime = await build_runtime(settings)
    # What start-up built (the imported libraries, the wiring) lives as long as the
    # process: frozen out of the collector, a full collection no longer walks it and
    # stops taking 100-300 ms in the middle of a burst of acks (benchmarks/README.md).
    gc.collect()
    gc.freeze()
    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        runtime.monitor.tick,
        "interval",
        seconds=settings.sample_interval_seconds,
        max_instances=1,
        coalesce=True,
        id="monitor",
    )
    scheduler.add_job(
        runtime.actions.recover_interrupted,
        "interval",
        seconds=10,
        max_instances=1,
        coalesce=True,
        id="interrupted",
    )
    # Channel events stored but left unprocessed (a retry never came), forgotten after a day.
    scheduler.add_job(
        runtime.channel_events.sweep,
        "interval",
        seconds=30,
        max_instances=1,
        coalesce=True,
        id="channel-events",
    )
    scheduler.add_job(
        runtime.actions.expire_pending,
        "interval",
        seconds=30,
        max_instances=1,
        coalesce=True,
        id="expiry",
    )
    runner = web.AppRunner(web_application(runtime))
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)  # noqa: S104 - a server
    await site.start()
    await runtime.start_background()
    scheduler.start()
    # Pages are decided from PostgreSQL; a `date` job wakes the escalation when the next
    # one falls due (re-planned after every change), so a restart loses no timer.
    await runtime.paging.timer.attach(scheduler)
    socket_mode = await start_socket_mode(runtime)
    log.info(
        "backlog bot serving", extra={"port": settings.port, "playbook": runtime.playbook.name}
    )
    try:
        await asyncio.Event().wait()
    finally:
        if socket_mode is not None:
            close: Any = socket_mode.close_async  # untyped in slack_bolt
            await close()
        scheduler.shutdown(wait=False)
        await runner.cleanup()
        await runtime.close()


def playbook_file(path: Path) -> Path:
    """The playbook to load: ``path`` if it exists, else the packaged PhishNet
    playbook when ``path`` is the default (so an installed bot runs anywhere)."""
    if path.exists() or path != DEFAULT_PLAYBOOK:
        return path
    packaged = Path(str(resources.files("bot") / "playbooks" / "queue-backlog.yml"))
    return packaged if packaged.exists() else path
