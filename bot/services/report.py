"""The incident report: its sources gathered, built, stored, posted and finalised.

Sources: the bot's timeline, the actions, the depth samples and pages from
PostgreSQL; the incident channel as the Events API recorded it, read back from Slack
when the report is built (:class:`HistoryReader`) so edits and deletions show even if
an event was missed; names from ``users.info``. The pure work is
:func:`bot.domain.report.compose_report`.

Lifecycle: ``/backlog report`` builds a draft at any time (stored as a new version
when it changed); ``/backlog resolve`` stores the first post-resolution draft and
posts it to the channel as a Markdown file with the chart, under a message that asks
for lessons learned and prevention measures and carries the *Finalise report* button;
notes keep adding to the draft until someone clicks it; then the final version is
stored (once: a unique index), posted, and never rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.adapters.store import Store
from bot.adapters.store.outbox import incident_destination
from bot.domain.chart import ChartData
from bot.domain.errors import Refused
from bot.domain.models import Clock, EventKind, Incident
from bot.domain.permissions import allowed_roles
from bot.domain.playbook import Playbook
from bot.domain.report import (
    ReportDocument,
    ReportSources,
    ReportState,
    StoredReport,
    render_markdown,
    report_data,
)
from bot.domain.report.chart import report_chart
from bot.domain.report.compose import compose_report
from bot.services.messages import Messages
from bot.services.ports import Directory
from bot.services.report_inputs import (
    ChannelView,
    HistoryReader,
    VerdictSource,
    already_final,
    names_for,
    no_verdicts,
    read_channel,
    read_records,
    same_report,
)

log = logging.getLogger(__name__)

ChartRenderer = Callable[[ChartData], bytes]


@dataclass(frozen=True)
class Built:
    document: ReportDocument
    sources: ReportSources
    markdown: str


class ReportService:
    def __init__(
        self,
        store: Store,
        messages: Messages | None,
        playbook: Playbook,
        clock: Clock,
        *,
        history: HistoryReader | None = None,
        render_chart: ChartRenderer | None = None,
        verdicts: VerdictSource = no_verdicts,
        directory: Directory | None = None,
    ) -> None:
        """``directory``: who is in the playbook's roles, to check who may finalise (as
        for ``/backlog resolve``); None: anyone may."""
        self._directory = directory
        self._store = store
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._history = history
        self._render_chart = render_chart
        self._verdicts = verdicts

    # ---- what people ask for ------------------------------------------------------

    async def current(self, incident_id: int | None, user: str | None = None) -> StoredReport:
        """The final report if there is one, else a draft built now: shown, and once the
        incident is resolved stored as a new version when it differs from the last one
        (an open incident's draft changes by the minute, so it is not kept). Raises
        Refused when there is no such incident."""
        incident = await self._incident(incident_id)
        final = await self._store.final_report(incident.id)
        if final is not None:
            return final
        now = self._clock()
        built = await self.assemble(incident, now)
        latest = await self._store.latest_report(incident.id)
        if latest is not None and same_report(latest.data, built.document):
            return latest
        if incident.is_open:
            return StoredReport(
                incident_id=incident.id,
                version=0,
                state=ReportState.DRAFT,
                markdown=built.markdown,
                data=report_data(built.document),
                built_at=now,
                built_by=user,
            )
        stored = await self._store.save_report(
            incident.id,
            state=ReportState.DRAFT,
            markdown=built.markdown,
            document=report_data(built.document),
            at=now,
            by=user,
        )
        return stored or await self._stored_final(incident.id)

    async def on_resolved(
        self, tx: Store, incident: Incident, user: str, channel: ChannelView, now: datetime
    ) -> StoredReport:
        """In the resolving transaction: stores the first draft and posts it with the
        prompt for lessons and the *Finalise report* button."""
        built = await self.build(tx, incident, channel, now)
        stored = await tx.save_report(
            incident.id,
            state=ReportState.DRAFT,
            markdown=built.markdown,
            document=report_data(built.document),
            at=now,
            by=user,
        )
        if stored is None:  # finalised already (cannot happen before resolution)
            return await self._stored_final(incident.id)
        if self._messages is not None:
            chart = await self.chart_png(built)
            await self._messages.report(
                tx, incident, stored, built.document, self._where(incident), chart=chart
            )
        return stored

    async def finalise(self, incident_id: int, user: str) -> str:
        """The *Finalise report* button: builds and stores the final version (once),
        posts it, and takes the button away. Raises Refused when ``user`` may not
        resolve incidents (the playbook's permissions), the incident is still open or
        its report is already final."""
        await self._may_finalise(user, incident_id)
        incident = await self._incident(incident_id)
        if incident.is_open:
            raise Refused(
                f"Incident #{incident.id} is still open: resolve it first (`/backlog resolve`)."
            )
        final = await self._store.final_report(incident.id)
        if final is not None:
            raise Refused(already_final(final))
        now = self._clock()
        channel = await self.read_channel(incident, now)
        async with self._store.transaction() as tx:
            built = await self.build(
                tx, incident, channel, now, state=ReportState.FINAL, finalised_by=user
            )
            stored = await tx.save_report(
                incident.id,
                state=ReportState.FINAL,
                markdown=built.markdown,
                document=report_data(built.document),
                at=now,
                by=user,
            )
            if stored is None:
                raise Refused(already_final(await self._stored_final(incident.id)))
            await tx.add_event(
                incident.id,
                at=now,
                kind=EventKind.REPORT_FINALISED,
                actor=user,
                text=f"Report finalised (version {stored.version})",
            )
            await tx.audit(
                at=now,
                actor=user,
                action="finalise-report",
                target=f"incident/{incident.id}",
                outcome=f"version {stored.version}",
            )
            if self._messages is not None:
                chart = await self.chart_png(built)
                await self._messages.report(
                    tx, incident, stored, built.document, self._where(incident), chart=chart
                )
        return (
            f"The report of incident #{incident.id} is final (version {stored.version}); "
            "it is posted in the channel."
        )

    async def open_for_notes(self) -> Incident | None:
        """The latest incident, if it is resolved and its report is not final yet
        (where lessons and prevention measures still go)."""
        latest = await self._store.latest_incident(self._playbook.name)
        if latest is None or latest.is_open:
            return None
        if await self._store.final_report(latest.id) is not None:
            return None
        return latest

    # ---- building ---------------------------------------------------------------------

    async def read_channel(self, incident: Incident, now: datetime) -> ChannelView:
        """The channel's messages (see :func:`~bot.services.report_inputs.read_channel`)."""
        return await read_channel(self._store, self._history, incident, now)

    async def build(
        self,
        store: Store,
        incident: Incident,
        channel: ChannelView,
        now: datetime,
        *,
        state: ReportState = ReportState.DRAFT,
        finalised_by: str | None = None,
    ) -> Built:
        """Reads the incident's records from ``store`` (a transaction's, to see its
        own writes) and builds the report."""
        records = await self._records(store, incident, now)
        return await self._built(store, records, channel, state, finalised_by)

    async def assemble(
        self,
        incident: Incident,
        now: datetime,
        *,
        state: ReportState = ReportState.DRAFT,
        finalised_by: str | None = None,
    ) -> Built:
        """Reads the channel back and the incident's records at once (they do not
        depend on each other), then builds the report."""
        channel, records = await asyncio.gather(
            self.read_channel(incident, now), self._records(self._store, incident, now)
        )
        return await self._built(self._store, records, channel, state, finalised_by)

    async def _built(
        self,
        store: Store,
        records: ReportSources,
        channel: ChannelView,
        state: ReportState,
        finalised_by: str | None,
    ) -> Built:
        sources = replace(
            records,
            channel=channel.messages,
            caveats=channel.caveats,
            state=state,
            finalised_by=finalised_by,
        )
        sources = replace(sources, people=await names_for(store, self._history, sources))
        document = compose_report(sources)
        return Built(document, sources, render_markdown(document))

    async def _records(self, store: Store, incident: Incident, now: datetime) -> ReportSources:
        return await read_records(store, self._playbook, incident, now, self._verdicts)

    async def chart_png(self, built: Built) -> bytes | None:
        """The report's chart as PNG (None without a renderer)."""
        if self._render_chart is None:
            return None
        data = report_chart(built.sources, built.document)
        # matplotlib takes a few hundred milliseconds: off the event loop.
        return await asyncio.to_thread(self._render_chart, data)

    # ---- helpers ------------------------------------------------------------------------

    async def _may_finalise(self, user: str, incident_id: int) -> None:
        playbook = self._playbook
        roles = allowed_roles("resolve", tuple(playbook.roles), playbook.permissions)
        if roles is None or self._directory is None:
            return
        if user in await self._directory.members(roles):
            return
        await self._store.audit(
            at=self._clock(),
            actor=user,
            action="finalise-report",
            target=f"incident/{incident_id}",
            outcome="refused",
            details={"reason": "not in an allowed role", "roles": list(roles)},
        )
        named = ", ".join(f"`{r}`" for r in roles)
        raise Refused(
            f"Only members of {named} may finalise the report (as for `/backlog resolve`, "
            "the playbook's permissions); nothing was done."
        )

    def _where(self, incident: Incident) -> str:
        # Wherever the incident lives (its own channel once created, else the
        # announcement channel): the sender resolves it.
        return incident_destination(incident.id)

    async def _incident(self, incident_id: int | None) -> Incident:
        if incident_id is None:
            latest = await self._store.latest_incident(self._playbook.name)
            if latest is None:
                raise Refused("There is no incident yet, so there is no report.")
            return latest
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            raise Refused(f"There is no incident #{incident_id}.")
        return incident

    async def _stored_final(self, incident_id: int) -> StoredReport:
        final = await self._store.final_report(incident_id)
        if final is None:  # the unique index said otherwise a moment ago
            raise Refused(f"The report of incident #{incident_id} could not be stored; try again.")
        return final


async def printed_report(
    store: Store, playbook: Playbook, incident_id: int, now: datetime
) -> tuple[str, Mapping[str, Any]] | None:
    """``backlog-bot report``: the final report as stored, else a draft built now from
    the database alone (Markdown and its data); None when there is no such incident."""
    incident = await store.get_incident(incident_id)
    if incident is None:
        return None
    final = await store.final_report(incident_id)
    if final is not None:
        return final.markdown, final.data
    service = ReportService(store, None, playbook, lambda: now)
    built = await service.build(store, incident, await service.read_channel(incident, now), now)
    return built.markdown, report_data(built.document)
