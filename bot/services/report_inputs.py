"""What a report is built from, gathered: the incident channel (as the Events API
recorded it, merged with a re-read from Slack when there is a reader), the incident's
records from PostgreSQL, and the names of the people it mentions.

See bot/services/report.py for the lifecycle; bot/domain/report/ does the pure work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from bot.adapters.store import Store
from bot.domain.chart import LEAD_TIME
from bot.domain.errors import BotError
from bot.domain.models import Incident
from bot.domain.playbook import Playbook
from bot.domain.report import (
    ActionVerdict,
    ChannelMessage,
    HistoryRead,
    ReportDocument,
    ReportSources,
    StoredReport,
    merge_channel,
    report_data,
)
from bot.services.messages import report_prompt_key

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")
#: Depth samples read before detection: the chart's hour, plus room for the rule's
#: ``for:`` (the backlog began that long before the alert) and a margin.
_MARGIN = timedelta(minutes=5)
#: How far Slack's clock (message timestamps) may run ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)

VerdictSource = Callable[[int], Awaitable[Mapping[UUID, ActionVerdict]]]
"""Effect-check verdicts of an incident's actions, by request id (the hook for the
effect checks: the report shows each under its action and marks it on the chart)."""


class HistoryReader(Protocol):
    """Reads the incident channel back (bot/adapters/slack/history.py)."""

    async def read(self, channel: str, oldest: datetime, latest: datetime) -> HistoryRead: ...

    async def names(self, users: Iterable[str]) -> dict[str, str]: ...


async def no_verdicts(_incident_id: int) -> Mapping[UUID, ActionVerdict]:
    return {}


@dataclass(frozen=True)
class ChannelView:
    """The incident channel's messages for one build, and what could not be read."""

    messages: tuple[ChannelMessage, ...]
    caveats: tuple[str, ...] = ()


async def read_channel(
    store: Store, history: HistoryReader | None, incident: Incident, now: datetime
) -> ChannelView:
    """The channel's messages from an hour before detection to ``now``: as the events
    recorded them, merged with a re-read from Slack when possible (when not, the
    caveat says why). Slack stamps messages by its own clock, so the window reaches
    :data:`CLOCK_SKEW` past ``now``: a message said a moment ago is in."""
    oldest = incident.detected_at - LEAD_TIME
    latest = now + CLOCK_SKEW
    channel = incident.channel or ""
    recorded = await store.channel_record(channel, oldest, latest) if channel else []
    if history is None:
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
        read = await history.read(channel, oldest, latest)
    except BotError as exc:
        log.warning("channel history unavailable", extra={"incident": incident.id})
        why = f"{exc}; channel messages are as the events recorded them."
        return ChannelView(tuple(recorded), (why,))
    return ChannelView(tuple(merge_channel(recorded, read)))


async def read_records(
    store: Store,
    playbook: Playbook,
    incident: Incident,
    now: datetime,
    verdicts: VerdictSource = no_verdicts,
) -> ReportSources:
    """What PostgreSQL holds of the incident (the channel left empty): timeline,
    actions, depth samples from before the backlog began, the report prompt's ts."""
    current = await store.get_incident(incident.id) or incident
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
        verdicts=await verdicts(current.id),
        prompt_ts=prompt.ts if prompt is not None else None,
    )


async def names_for(
    store: Store, history: HistoryReader | None, sources: ReportSources
) -> dict[str, str]:
    """Names of the people the report mentions (``users.info``); offline, the names
    the last stored version knew."""
    if history is None:
        latest = await store.latest_report(sources.incident.id)
        known = latest.data.get("people") if latest is not None else None
        return {str(k): str(v) for k, v in (known or {}).items()}
    return await history.names(people_in(sources))


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
        if message.from_bot:
            continue
        if message.kept(marks) or (sources.prompt_ts and message.thread_ts == sources.prompt_ts):
            found.update(u for u in (message.user, message.pinned_by) if u)
            for users in message.marks(marks).values():
                found.update(users)
    return {user for user in found if _SLACK_USER.match(user)}


def same_report(stored: Mapping[str, Any], document: ReportDocument) -> bool:
    """Whether a stored draft says what ``document`` says (its build time aside)."""
    fresh = report_data(document)
    ignore = ("built_at",)
    return {k: v for k, v in stored.items() if k not in ignore} == {
        k: v for k, v in fresh.items() if k not in ignore
    }


def already_final(final: StoredReport) -> str:
    by = f" by <@{final.built_by}>" if final.built_by else ""
    return (
        f"The report of incident #{final.incident_id} was already finalised{by} at "
        f"{final.built_at:%Y-%m-%d %H:%M} UTC (version {final.version}); it no longer changes."
    )
