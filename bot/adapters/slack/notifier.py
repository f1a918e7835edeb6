"""Posting to Slack (the services' Notifier) and resolving roles (Directory)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import blocks
from bot.domain.chart import ChartData, alert_chart
from bot.domain.models import ActionRequest, Incident
from bot.domain.playbook import ActionPolicy, Playbook
from bot.domain.views import AlertView, Posted

log = logging.getLogger(__name__)

#: Draws a chart as PNG bytes (``bot.adapters.chart.render_depth_chart``); injected
#: because adapters do not import each other.
ChartRenderer = Callable[[ChartData], bytes]


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, render_chart: ChartRenderer | None = None) -> None:
        self._client = client
        self._render_chart = render_chart

    async def _post(self, channel: str, text: str, **kwargs: Any) -> Posted:
        response = await self._client.chat_postMessage(channel=channel, text=text, **kwargs)
        return Posted(channel=str(response["channel"]), ts=str(response["ts"]))

    async def post_alert(self, view: AlertView) -> Posted:
        posted = await self._post(
            view.playbook.slack.incident_channel,
            blocks.alert_text(view),
            blocks=blocks.alert_blocks(view),
        )
        await self._post_chart(view, posted)
        return posted

    async def _post_chart(self, view: AlertView, posted: Posted) -> None:
        rule = view.rule_state.rule
        if self._render_chart is None or len(view.history) < 2:
            return
        # matplotlib takes a few hundred milliseconds: off the event loop.
        png = await asyncio.to_thread(self._render_chart, alert_chart(view))
        try:
            await self._client.files_upload_v2(
                channel=posted.channel,
                thread_ts=posted.ts,
                content=png,
                filename=f"{rule.queue}-depth.png",
                title=f"Queue depths, incident #{view.incident.id}",
            )
        except SlackApiError as exc:
            # The alert itself is posted; a missing picture must not hide it.
            log.warning("chart upload failed", extra={"error": exc.response.get("error")})

    async def post_approval_request(
        self, request: ActionRequest, policy: ActionPolicy, channel: str
    ) -> Posted:
        return await self._post(
            channel,
            blocks.approval_text(request),
            blocks=blocks.approval_blocks(request, policy),
        )

    async def update_approval_request(
        self, request: ActionRequest, policy: ActionPolicy, note: str = ""
    ) -> None:
        if not request.channel or not request.message_ts:
            return
        await self._client.chat_update(
            channel=request.channel,
            ts=request.message_ts,
            text=blocks.approval_text(request),
            blocks=blocks.approval_blocks(request, policy, note),
        )

    async def post_in_thread(self, channel: str, thread_ts: str | None, text: str) -> Posted:
        if thread_ts:
            return await self._post(channel, text, thread_ts=thread_ts)
        return await self._post(channel, text)

    async def post(self, channel: str, text: str) -> Posted:
        return await self._post(channel, text)

    async def update(self, posted: Posted, text: str) -> None:
        await self._client.chat_update(channel=posted.channel, ts=posted.ts, text=text)

    async def post_report(self, channel: str, incident: Incident, markdown: str) -> Posted:
        return await self._post(
            channel,
            f"Report for incident #{incident.id}",
            blocks=blocks.report_blocks(incident, markdown),
        )

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._client.chat_postEphemeral(channel=channel, user=user, text=text)


class SlackDirectory:
    """Role membership from the playbook, with Slack user groups expanded.

    Group membership is cached briefly: approvals are rare, and a stale cache
    of a minute is safer than a Slack outage blocking every approval.
    """

    def __init__(self, client: AsyncWebClient, playbook: Playbook, ttl_seconds: float = 60) -> None:
        self._client = client
        self._playbook = playbook
        self._ttl = ttl_seconds
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, roles: Sequence[str]) -> frozenset[str]:
        users: set[str] = set()
        for name in roles:
            role = self._playbook.roles.get(name)
            if role is None:
                continue
            users.update(role.users)
            for group in role.usergroups:
                users.update(await self._group(group))
        return frozenset(users)

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        response = await self._client.usergroups_users_list(usergroup=group)
        users: list[Any] = response.get("users", [])
        members = frozenset(str(u) for u in users)
        self._groups[group] = (now, members)
        return members
