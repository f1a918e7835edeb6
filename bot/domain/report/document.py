"""The report as plain values: what :mod:`.compose` builds and :mod:`.markdown` and
:mod:`.serialize` write out. Times are timezone-aware; people are Slack user ids
(``people`` maps them to names); text a person typed is kept as typed (escaping is
the writers' job)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from bot.domain.models import ActionRequest, Incident, QueueSample, TimelineEntry
from bot.domain.playbook import Playbook
from bot.domain.report.channel import ChannelMessage
from bot.domain.report.figures import QueueFigures


class ReportState(StrEnum):
    DRAFT = "draft"  # lessons and prevention may still be added
    FINAL = "final"  # finalised with the button: stored, never rebuilt


@dataclass(frozen=True)
class ActionVerdict:
    """What an effect check concluded about an action (the hook for
    ``bot/services``' effect checks): a sentence, and when it was reached."""

    text: str
    at: datetime | None = None


@dataclass(frozen=True)
class ReportSources:
    """Everything one report is built from (see :func:`.compose.compose_report`).

    ``samples``: depth samples from at least an hour before detection to ``now``;
    ``channel``: the incident channel's messages, already merged from events and a
    re-read (:func:`.channel.merge_channel`); ``people``: user id → name;
    ``verdicts``: effect-check verdicts by action request id; ``prompt_ts``: the ts of
    the message asking for lessons, whose thread replies ``lesson: …`` /
    ``prevention: …`` count; ``caveats``: sentences on what could not be read.
    """

    incident: Incident
    playbook: Playbook
    timeline: tuple[TimelineEntry, ...]
    actions: tuple[ActionRequest, ...]
    samples: tuple[QueueSample, ...]
    now: datetime
    channel: tuple[ChannelMessage, ...] = ()
    people: Mapping[str, str] = field(default_factory=dict)
    verdicts: Mapping[UUID, ActionVerdict] = field(default_factory=dict)
    prompt_ts: str | None = None
    caveats: tuple[str, ...] = ()
    state: ReportState = ReportState.DRAFT
    finalised_by: str | None = None


class MomentKind(StrEnum):
    BEGAN = "backlog_began"
    DETECTED = "detection"
    RULE = "rule"
    ACKNOWLEDGED = "acknowledged"
    DIAGNOSIS = "diagnosis"
    ACTION = "action"
    MITIGATION = "mitigation_started"
    PAGE = "page"
    NOTE = "note"
    ROOT_CAUSE = "root_cause"
    LESSON = "lesson"
    PREVENTION = "prevention"
    MESSAGE = "message"
    RECOVERED = "recovered"
    RESOLVED = "resolution"


@dataclass(frozen=True)
class Moment:
    """One line of the timeline. ``text`` is the bot's own mrkdwn when ``typed`` is
    False, else as a person typed it; ``who`` a user id."""

    at: datetime
    kind: MomentKind
    text: str
    who: str | None = None
    typed: bool = False
    detail: str = ""


@dataclass(frozen=True)
class MessageMoment(Moment):
    """A person's message kept for the timeline (pinned or marked)."""

    pinned_by: str | None = None
    marks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    in_thread: bool = False
    edited_at: datetime | None = None
    deleted: bool = False
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class RateChange:
    """The action's queue's net rate (jobs/min, negative: draining) in the
    :data:`~.figures.RATE_WINDOW` before it started and after it finished."""

    queue: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class ActionLine:
    id: UUID
    kind: str
    summary: str
    parameters: Mapping[str, Any]
    requested_by: str
    requested_at: datetime
    approvals: tuple[tuple[str, datetime], ...]
    state: str
    outcome: str
    started_at: datetime | None
    finished_at: datetime | None
    denied_by: str | None
    rates: RateChange | None
    verdict: ActionVerdict | None


@dataclass(frozen=True)
class PageLine:
    """One escalation page: the tier, when and whom it paged, why, and who
    acknowledged the incident and how long after this page (None: nobody)."""

    tier: int
    name: str
    paged_at: datetime
    people: tuple[str, ...]
    reason: str
    by: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    after_ack: bool


@dataclass(frozen=True)
class RootCause:
    """``source`` is ``rootcause`` (a person's ``/backlog rootcause``) or ``diagnosis``
    (the top finding of the last diagnosis, nobody confirmed it)."""

    text: str
    source: str
    by: str | None
    at: datetime


@dataclass(frozen=True)
class Contribution:
    """A lesson or prevention measure; ``source`` ``note`` (``/backlog note``) or
    ``thread`` (a reply in the report prompt's thread, as it reads now)."""

    text: str
    by: str | None
    at: datetime
    source: str = "note"


@dataclass(frozen=True)
class Durations:
    """The incident's spans (None: an end is not known). ``duration`` runs from
    ``began`` (or detection when the start is unknown) to resolution, or to ``now``
    while the incident is open."""

    duration: timedelta
    to_detect: timedelta | None
    to_acknowledge: timedelta | None
    to_mitigate: timedelta | None
    to_recover: timedelta | None


@dataclass(frozen=True)
class ReportDocument:
    incident_id: int
    title: str
    incident_title: str
    severity: str
    status: str
    state: ReportState
    built_at: datetime
    time_zone: str
    sections: tuple[str, ...]
    began: datetime | None
    began_early: bool
    detected: datetime
    acknowledged: datetime | None
    acknowledged_by: str | None
    mitigated: datetime | None
    recovered: datetime | None
    resolved: datetime | None
    resolved_by: str | None
    durations: Durations
    queues: tuple[QueueFigures, ...]
    root_cause: RootCause | None
    timeline: tuple[Moment, ...]
    actions: tuple[ActionLine, ...]
    escalations: tuple[PageLine, ...]
    lessons: tuple[Contribution, ...]
    prevention: tuple[Contribution, ...]
    people: Mapping[str, str]
    caveats: tuple[str, ...]
    chart_file: str
    finalised_by: str | None = None

    @property
    def peak(self) -> QueueFigures | None:
        """The highest queue (the runbook's one "Peak Queue Size")."""
        return max(self.queues, key=lambda q: (q.peak, -q.peak_at.timestamp()), default=None)


@dataclass(frozen=True)
class StoredReport:
    """One stored version of a report: its Markdown and its document as data
    (:func:`~.serialize.report_data`), who had it built (None: the bot) and when."""

    incident_id: int
    version: int
    state: ReportState
    markdown: str
    data: Mapping[str, Any]
    built_at: datetime
    built_by: str | None
