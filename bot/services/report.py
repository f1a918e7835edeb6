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
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from bot.adapters.store import Store
from bot.adapters.store.outbox import incident_destination
from bot.domain.chart import LEAD_TIME, ChartData
from bot.domain.errors import BotError, Refused
from bot.domain.models import Clock, EventKind, Incident
from bot.domain.playbook import Playbook
from bot.domain.report import (
    ActionVerdict,
    ChannelMessage,
    HistoryRead,
    ReportDocument,
    ReportSources,
    ReportState,
    StoredReport,
    merge_channel,
    render_markdown,
    report_data,
)
from bot.domain.report.chart import report_chart
from bot.domain.report.compose import compose_report
from bot.services.messages import Messages, report_prompt_key

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")
#: Depth samples read before detection: the chart's hour, plus room for the rule's
#: ``for:`` (the backlog began that long before the alert) and a margin.
_MARGIN = timedelta(minutes=5)

ChartRenderer = Callable[[ChartData], bytes]
VerdictSource = Callable[[int], Awaitable[Mapping[UUID, ActionVerdict]]]
"""Effect-check verdicts of an incident's actions, by request id (the hook for the
effect checks: the report shows each under its action and marks it on the chart)."""


class HistoryReader(Protocol):
    """Reads the incident channel back (bot/adapters/slack/history.py)."""

    async def read(self, channel: str, oldest: datetime, latest: datetime) -> HistoryRead: ...

    async def names(self, users: Iterable[str]) -> dict[str, str]: ...


async def _no_verdicts(_incident_id: int) -> Mapping[UUID, ActionVerdict]:
    return {}


@dataclass(frozen=True)
class ChannelView:
    """The incident channel's messages for one build, and what could not be read."""

    messages: tuple[ChannelMessage, ...]
    caveats: tuple[str, ...] = ()


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
        verdicts: VerdictSource = _no_verdicts,
    ) -> None:
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
        if latest is not None and _same(latest.data, built.document):
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
        posts it, and takes the button away. Raises Refused when the incident is still
        open or its report is already final."""
        incident = await self._incident(incident_id)
        if incident.is_open:
            raise Refused(
                f"Incident #{incident.id} is still open: resolve it first (`/backlog resolve`)."
            )
        final = await self._store.final_report(incident.id)
        if final is not None:
            raise Refused(_already_final(final))
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
                raise Refused(_already_final(await self._stored_final(incident.id)))
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
        """The channel's messages from an hour before detection to ``now``: as the
        events recorded them, merged with a re-read from Slack when possible."""
        oldest = incident.detected_at - LEAD_TIME
        channel = incident.channel or ""
        recorded = await self._store.channel_record(channel, oldest, now) if channel else []
        if self._history is None:
            why = (
                "The incident channel was not read back from Slack for this copy; channel "
                "messages are as the events recorded them."
            )
            return ChannelView(tuple(recorded), (why,))
        if not _CHANNEL_ID.match(channel):
            why = (
                "The incident channel's history was not read back (its id is not known: "
                "the alert was never delivered); channel messages are as the events "
                "recorded them."
            )
            return ChannelView(tuple(recorded), (why,))
        try:
            read = await self._history.read(channel, oldest, now)
        except BotError as exc:
            log.warning("channel history unavailable", extra={"incident": incident.id})
            why = f"{exc}; channel messages are as the events recorded them."
            return ChannelView(tuple(recorded), (why,))
        return ChannelView(tuple(merge_channel(recorded, read)))

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
        sources = replace(sources, people=await self._names(store, sources))
        document = compose_report(sources)
        return Built(document, sources, render_markdown(document))

    async def _records(self, store: Store, incident: Incident, now: datetime) -> ReportSources:
        """What PostgreSQL holds of the incident (the channel left empty)."""
        current = await store.get_incident(incident.id) or incident
        playbook = self._playbook
        longest = max((rule.for_ for rule in playbook.rules), default=timedelta(0))
        start = current.detected_at - LEAD_TIME - longest - _MARGIN
        prompt = await store.outbox_message(report_prompt_key(current.id))
        return ReportSources(
            incident=current,
            playbook=playbook,
            timeline=tuple(await store.timeline(current.id)),
            actions=tuple(await store.actions_for_incident(current.id)),
            samples=tuple(
                await store.samples_between(playbook.name, start, current.resolved_at or now)
            ),
            now=now,
            verdicts=await self._verdicts(current.id),
            prompt_ts=prompt.ts if prompt is not None else None,
        )

    async def _names(self, store: Store, sources: ReportSources) -> dict[str, str]:
        if self._history is None:  # offline: the names the last stored version knew
            latest = await store.latest_report(sources.incident.id)
            known = latest.data.get("people") if latest is not None else None
            return {str(k): str(v) for k, v in (known or {}).items()}
        return await self._history.names(people_in(sources))

    async def chart_png(self, built: Built) -> bytes | None:
        """The report's chart as PNG (None without a renderer)."""
        if self._render_chart is None:
            return None
        data = report_chart(built.sources, built.document)
        # matplotlib takes a few hundred milliseconds: off the event loop.
        return await asyncio.to_thread(self._render_chart, data)

    # ---- helpers ------------------------------------------------------------------------

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


def people_in(sources: ReportSources) -> set[str]:
    """Every user id the report names (to look their names up)."""
    found: set[str] = set()
    incident = sources.incident
    found.update(u for u in (incident.acknowledged_by, incident.resolved_by) if u)
    found.update(u for u in (sources.finalised_by,) if u)
    for action in sources.actions:
        found.add(action.requested_by)
        found.update(action.approvers)
        if action.denied_by:
            found.add(action.denied_by)
    for entry in sources.timeline:
        if entry.actor:
            found.add(entry.actor)
        found.update(_MENTION.findall(entry.text))
        found.update(str(u) for u in entry.data.get("paged") or ())
    marks = sources.playbook.report.mark_reactions
    for message in sources.channel:
        if message.kept(marks) or (sources.prompt_ts and message.thread_ts == sources.prompt_ts):
            found.update(u for u in (message.user, message.pinned_by) if u)
            for users in message.marks(marks).values():
                found.update(users)
    return found


def _same(stored: Mapping[str, Any], document: ReportDocument) -> bool:
    """Whether a stored draft says what ``document`` says (its build time aside)."""
    fresh = report_data(document)
    ignore = ("built_at",)
    return {k: v for k, v in stored.items() if k not in ignore} == {
        k: v for k, v in fresh.items() if k not in ignore
    }


def _already_final(final: StoredReport) -> str:
    by = f" by <@{final.built_by}>" if final.built_by else ""
    return (
        f"The report of incident #{final.incident_id} was already finalised{by} at "
        f"{final.built_at:%Y-%m-%d %H:%M} UTC (version {final.version}); it no longer changes."
    )


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
