"""What the bot says in Slack: rendered from domain values and written to the outbox.

Every method takes the transaction store of the state change that causes the
message, so the two commit together (``async with store.transaction() as tx``);
the sender (bot/services/delivery.py) delivers after the commit. Each message
has a key, so a message is posted once and later edits go to the same message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.adapters.slack import blocks, report_blocks
from bot.adapters.slack import incident_blocks as texts
from bot.adapters.store import Store
from bot.adapters.store.outbox import incident_destination
from bot.domain.chart import ChartData, alert_chart
from bot.domain.models import Clock, Incident
from bot.domain.playbook import EscalationTier
from bot.domain.report import ReportDocument, ReportState, StoredReport
from bot.domain.views import AlertView
from bot.services.action_messages import ActionMessages
from bot.services.message_keys import (
    alert_key,
    final_report_key,
    page_dm_key,
    page_key,
    recovery_key,
    report_prompt_key,
    request_key,
)

__all__ = [
    "ChartRenderer",
    "Messages",
    "alert_key",
    "final_report_key",
    "page_dm_key",
    "page_key",
    "recovery_key",
    "report_prompt_key",
    "request_key",
]


ChartRenderer = Callable[[ChartData], bytes]


class Messages(ActionMessages):
    def __init__(
        self,
        clock: Clock,
        render_chart: ChartRenderer | None = None,
        *,
        alert_refresh: timedelta | None = None,
    ) -> None:
        super().__init__(clock)
        self._render_chart = render_chart
        self._alert_refresh = alert_refresh

    async def alert(self, tx: Store, view: AlertView, channel: str | None = None) -> str:
        """The incident's alert (where the incident lives unless ``channel`` is given),
        and its depth chart in the alert's thread. Later edits
        (:meth:`alert_changed`) reach Slack at most once per the playbook's
        ``slack.alert_refresh``, except changes of state."""
        incident = view.incident
        channel = channel or incident_destination(incident.id)
        key = alert_key(incident.id)
        body = blocks.payload(blocks.alert_text(view), blocks.alert_blocks(view))
        await tx.enqueue_message(
            key,
            channel,
            body,
            at=self._clock(),
            incident_id=incident.id,
            min_interval=self._alert_refresh,
        )
        if self._render_chart is None or len(view.history) < 2:
            return key
        # matplotlib takes a few hundred milliseconds: off the event loop.
        png = await asyncio.to_thread(self._render_chart, alert_chart(view))
        await tx.enqueue_message(
            f"{key}/chart",
            channel,
            {
                "filename": f"incident-{incident.id}-queue-depths.png",
                "title": f"Queue depths, incident #{incident.id}",
                "text": "",
            },
            at=self._clock(),
            thread_key=key,
            incident_id=incident.id,
            kind="file",
            content=png,
        )
        return key

    async def alert_changed(self, tx: Store, view: AlertView, *, urgent: bool = False) -> None:
        """The alert as it should look now (``urgent``: a change of state, shown at once;
        otherwise coalesced with the edits around it)."""
        body = blocks.payload(blocks.alert_text(view), blocks.alert_blocks(view))
        await tx.update_message(alert_key(view.incident.id), body, urgent=urgent)

    async def close_buttons(self, tx: Store, key: str, line: str) -> bool:
        """The message ``key`` keeps its text, loses its buttons and says ``line``
        instead (what became of what they offered). False when there is no such
        message."""
        message = await tx.outbox_message(key)
        if message is None:
            return False
        old = [b for b in message.payload.get("blocks") or [] if isinstance(b, dict)]
        body = {**message.payload, "blocks": [*blocks.without_buttons(old), blocks.section(line)]}
        return await tx.update_message(key, body, urgent=True)

    async def page(
        self,
        tx: Store,
        incident: Incident,
        tier: EscalationTier,
        people: list[str],
        reason: str,
        depth: int | None,
        *,
        extra: Sequence[str] = (),
    ) -> None:
        """A page: in the incident's channel, mentioning the tier's people, with an
        Acknowledge button (``extra``: more lines, such as where else it was paged); and a
        direct message to each of them (``chat.postMessage`` to a user id opens the DM)."""
        text = texts.page_text(incident, tier, people, reason, extra)
        at = self._clock()
        await tx.enqueue_message(
            page_key(incident.id, tier.level),
            incident_destination(incident.id),
            blocks.payload(text, texts.page_blocks(incident, text)),
            at=at,
            incident_id=incident.id,
        )
        dm = texts.page_dm_text(incident, tier, reason, depth)
        for user in people:
            await tx.enqueue_message(
                page_dm_key(incident.id, tier.level, user),
                user,
                blocks.payload(dm, texts.page_blocks(incident, dm)),
                at=at,
                incident_id=incident.id,
            )

    async def pages_acknowledged(
        self, tx: Store, incident: Incident, paged: dict[int, list[str]], user: str
    ) -> None:
        """Every page of the incident (and each paged person's DM) says who acknowledged."""
        line = texts.acknowledged_line(user, self._clock())
        for level, people in paged.items():
            await self.close_buttons(tx, page_key(incident.id, level), line)
            for person in people:
                await self.close_buttons(tx, page_dm_key(incident.id, level, person), line)

    async def recovery(self, tx: Store, incident: Incident, text: str, at: datetime) -> None:
        """Recovery announced in the incident's channel, with a Resolve button."""
        await tx.enqueue_message(
            recovery_key(incident.id, at),
            incident_destination(incident.id),
            blocks.payload(text, texts.recovery_blocks(incident, text)),
            at=at,
            incident_id=incident.id,
        )

    async def closing(self, tx: Store, incident: Incident) -> None:
        """After the report, in the incident's own channel only: it stays open, and an
        Archive button (archiving is never automatic)."""
        await tx.enqueue_message(
            f"incident/{incident.id}/closing",
            incident_destination(incident.id),
            {
                **blocks.payload(texts.closing_text(incident), texts.closing_blocks(incident)),
                "dedicated_only": True,
            },
            at=self._clock(),
            incident_id=incident.id,
        )

    async def report(
        self,
        tx: Store,
        incident: Incident,
        report: StoredReport,
        document: ReportDocument,
        channel: str,
        *,
        chart: bytes | None,
    ) -> None:
        """A report version in the channel: a short summary message whose thread holds
        the whole report as a Markdown file (never cut) and the chart as a PNG.

        A draft's summary is the prompt for lessons with the *Finalise report* button
        (:func:`report_prompt_key`); the final version gets a message of its own
        (:func:`final_report_key`), and the prompt loses its button. Both summaries
        are posted with ``permalink``, so the resolved alert links to the report (the
        delivery hooks).
        """
        final = report.state is ReportState.FINAL
        key = report_prompt_key(incident.id)
        if final:
            await tx.update_message(
                key,
                blocks.payload(
                    report_blocks.prompt_text(document, report),
                    report_blocks.finalised_prompt_blocks(document, report),
                ),
            )
            key = final_report_key(incident.id)
            body = blocks.payload(
                report_blocks.final_text(document), report_blocks.final_blocks(document, report)
            )
        else:
            body = blocks.payload(
                report_blocks.prompt_text(document, report),
                report_blocks.prompt_blocks(document, report),
            )
        at = self._clock()
        await tx.enqueue_message(
            key, channel, {**body, "permalink": True}, at=at, incident_id=incident.id
        )
        name = report_blocks.report_file_name(report)
        version = "final" if final else f"v{report.version}"
        await tx.enqueue_message(
            f"{key}/{version}/markdown",
            channel,
            {"filename": name, "title": f"Incident #{incident.id} report ({version})", "text": ""},
            at=at,
            thread_key=key,
            incident_id=incident.id,
            kind="file",
            content=report.markdown.encode("utf-8"),
        )
        if chart is not None:
            await tx.enqueue_message(
                f"{key}/{version}/chart",
                channel,
                {
                    "filename": document.chart_file,
                    "title": f"Queue depths, incident #{incident.id}",
                    "text": "",
                },
                at=at,
                thread_key=key,
                incident_id=incident.id,
                kind="file",
                content=chart,
            )
