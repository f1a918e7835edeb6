"""What ``serve`` (and the demo) answer on HTTP and over Socket Mode: Slack's events
through Bolt, Alertmanager's webhook, PagerDuty's, health, readiness and metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.adapters.alertmanager import PayloadError, parse_webhook
from bot.adapters.pagerduty import pagerduty_webhook_handler
from bot.adapters.queues import depths
from bot.app import Runtime
from bot.domain.alerts import ExternalAlert
from bot.domain.models import QueueSample
from bot.metrics import BotMetrics
from bot.readiness import leader_status, readiness
from bot.startup import ConfigurationError, secret

log = logging.getLogger(__name__)
AlertRoute = Callable[[ExternalAlert], Runtime]


def web_application(
    runtime: Runtime,
    *,
    playbooks: Callable[[], dict[str, Any]] | None = None,
    alert_route: AlertRoute | None = None,
) -> web.Application:
    """``/slack/events``, ``/healthz``, ``/readyz`` and ``/metrics``. When one bot runs
    several playbooks: ``playbooks``, what ``/readyz`` says of each; ``alert_route``,
    the runtime (playbook) each Alertmanager alert is for."""
    exported = BotMetrics(
        playbook=runtime.playbook,
        redis=runtime.redis,
        store=runtime.store,
        rules=runtime.incidents.rules,
        clock=runtime.clock,
    )

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        with exported.slack_ack(bolt_request.body):
            bolt_response = await runtime.slack_app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def alertmanager(request: web.Request) -> web.Response:
        return await receive_alertmanager(runtime, request, alert_route)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        status, body = await readiness(runtime)
        # Pagers outside Slack are listed but never fail readiness (bot/services/paging.py).
        body["paging"] = runtime.paging.service.readiness()
        if playbooks is not None:
            body["playbooks"] = playbooks()
        # Whether this replica runs the background work: informational, like paging.
        body["leader"] = leader_status(runtime)
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = await exported.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/alertmanager", alertmanager)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    webhook_secret = secret(runtime.settings.pagerduty_webhook_secret)
    if webhook_secret:  # PagerDuty v3 webhooks in (signature-verified)
        inbox = runtime.paging.inbox.on_event
        app.router.add_post("/pagerduty", pagerduty_webhook_handler(webhook_secret, inbox))
    return app


async def receive_alertmanager(
    runtime: Runtime, request: web.Request, route: AlertRoute | None = None
) -> web.Response:
    """Alertmanager webhook v4: alerts named like a playbook rule open/extend the incident
    (of the playbook ``route`` gives for each alert; default ``runtime``'s).

    Answers 2xx only once every alert of the notification is stored, so a
    notification that could not be stored (PostgreSQL down) is retried by
    Alertmanager rather than lost.
    """
    token = secret(runtime.settings.alertmanager_token)
    offered = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return web.json_response({"error": "unauthorized"}, status=401)
    try:
        notification = parse_webhook(await request.read())
    except PayloadError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    groups: dict[int, tuple[Runtime, list[ExternalAlert]]] = {}
    for alert in notification.alerts:
        target = route(alert) if route is not None else runtime
        groups.setdefault(id(target), (target, []))[1].append(alert)
    outcomes = []
    try:
        for target, alerts in groups.values():
            sample = await _sample_now(target)
            outcomes += await target.incidents.on_external_alerts(
                alerts, sample, truncated=notification.truncated
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


async def _sample_now(runtime: Runtime) -> QueueSample:
    try:
        depths_now = await depths.queue_depths(runtime.redis, runtime.playbook.queue_names)
    except depths.QueuesUnavailable:
        depths_now = {}  # the alert still counts; the depth is shown as unknown (0)
    return QueueSample(at=runtime.clock(), depths=depths_now)


async def start_socket_mode(runtime: Runtime) -> AsyncSocketModeHandler | None:
    """With ``SLACK_APP_TOKEN`` set, also take Slack's traffic over Socket Mode (no
    public URL needed; the socket is authenticated, so no signature to check)."""
    app_token = secret(runtime.settings.slack_app_token)
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
