"""Wiring of the incident's channel, living alert and buttons (issue 9), kept apart
from bot/app.py so the main wiring stays readable: what the outbox sender needs to
set channels up, what it tells the services when a message lands, and the click
handlers of the incident's buttons."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.slack.app import IncidentButtonCall
from bot.adapters.slack.boundary import Answer
from bot.adapters.slack.directory import SlackDirectory
from bot.adapters.slack.setup import SlackSetup
from bot.adapters.slack.transport import make_sender_client
from bot.adapters.store import Store
from bot.adapters.store.outbox import OutboxMessage
from bot.domain.delivery import Delivered
from bot.domain.models import Clock
from bot.services.actions import ActionService
from bot.services.buttons import IncidentButtons, IncidentClick
from bot.services.delivery_setup import SetupDelivery
from bot.services.incidents import IncidentService
from bot.services.living_alert import ReadyWorkers

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 3.0


def ready_workers(
    kube: KubeClient, namespace: str, timeout: float = READY_TIMEOUT_SECONDS
) -> ReadyWorkers:
    """Ready replicas of a deployment for the alert's Scale button; None when the
    Kubernetes API does not answer within ``timeout`` seconds
    (``BACKLOG_BOT_KUBE_READ_TIMEOUT``; the capacity model then says so)."""

    async def ready(deployment: str) -> int | None:
        try:
            status = await asyncio.wait_for(kube.deployment_status(namespace, deployment), timeout)
        except (KubeError, TimeoutError, OSError) as exc:
            log.info("ready workers unknown", extra={"deployment": deployment, "error": str(exc)})
            return None
        return status.ready

    return ready


def setup_delivery(
    store: Store,
    *,
    token: str,
    api_url: str,
    directory: SlackDirectory,
    incidents: IncidentService,
    clock: Clock,
) -> SetupDelivery:
    """The outbox rows that create and set up incident channels."""
    transport = SlackSetup(make_sender_client(token, api_url), directory.group_members)
    return SetupDelivery(store, transport, incidents.channels, clock)


def report_link_hook(
    incidents: IncidentService,
) -> Callable[[OutboxMessage, Delivered], Awaitable[None]]:
    """When an incident's report is posted, its resolved alert links to it."""

    async def delivered(message: OutboxMessage, where: Delivered) -> None:
        incident_id = message.incident_id
        if incident_id is None or where.permalink is None:
            return
        if message.key.startswith(f"incident/{incident_id}/report/"):
            await incidents.report_linked(incident_id, where.permalink)

    return delivered


class ButtonHandlers:
    """The click handlers Bolt calls for the incident's buttons and approvals."""

    def __init__(self, buttons: IncidentButtons, actions: ActionService) -> None:
        self._buttons = buttons
        self._actions = actions

    async def incident_button(self, call: IncidentButtonCall) -> Answer:
        reply = await self._buttons.click(
            IncidentClick(call.what, call.incident_id, call.user, call.channel, call.args)
        )
        return Answer(reply.text, reply.ephemeral)

    async def approve(self, request_id: uuid.UUID, user: str) -> Answer:
        stale = await self._buttons.guard_request(request_id)
        if stale is not None:
            return Answer(stale)
        return Answer((await self._actions.approve(request_id, user)).message)

    async def deny(self, request_id: uuid.UUID, user: str) -> Answer:
        stale = await self._buttons.guard_request(request_id)
        if stale is not None:
            return Answer(stale)
        return Answer((await self._actions.deny(request_id, user)).message)
