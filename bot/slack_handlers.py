"""What the Slack listeners (bot/adapters/slack/app.py) call: thin adapters from
Bolt's calls to the services, built once per runtime by :mod:`bot.app`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bot.adapters.slack.app import ChannelHandlers, CommandCall, Handlers
from bot.adapters.slack.boundary import Answer
from bot.incident_wiring import ButtonHandlers
from bot.services.channel_events import ChannelEvents
from bot.services.commands import CommandRouter, Invocation
from bot.services.followups import FollowUps
from bot.services.report import ReportService


def slack_handlers(
    router: CommandRouter, buttons: ButtonHandlers, follow_ups: FollowUps
) -> Handlers:
    """Commands, approvals and incident buttons, Roll back and Re-analyse."""

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


def slack_channel_handlers(events: ChannelEvents, reports: ReportService) -> ChannelHandlers:
    """The incident channel's events (stored, then processed once) and Finalise report."""

    async def receive(body: Mapping[str, Any]) -> bool:
        return not (await events.receive(body)).processed

    async def process(event_id: str) -> None:
        await events.process(event_id, received=True)

    async def finalise(incident_id: int, user: str) -> Answer:
        return Answer(await reports.finalise(incident_id, user))

    return ChannelHandlers(receive=receive, process=process, finalise=finalise)
