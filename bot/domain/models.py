"""Domain values shared by the core: incidents, timeline entries, action requests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from bot.domain.playbook import ActionKind, Severity

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    DETECTED = "detected"
    RULE_FIRING = "rule_firing"
    ACKNOWLEDGED = "acknowledged"
    ACTION_REQUESTED = "action_requested"
    ACTION_APPROVED = "action_approved"
    ACTION_DENIED = "action_denied"
    ACTION_SUCCEEDED = "action_succeeded"
    ACTION_FAILED = "action_failed"
    EFFECT_VERDICT = "effect_verdict"  # an effect check's verdict on an action
    DRAIN_COUNTED = "drain_counted"  # what an emergency drain took of its snapshot
    NOTE = "note"
    ROOT_CAUSE = "root_cause"
    LESSON = "lesson"
    PREVENTION = "prevention"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    DIAGNOSED = "diagnosed"  # data: {"top": the top finding's title, or None}
    REPORT_FINALISED = "report_finalised"


@dataclass(frozen=True)
class QueueSample:
    """Depth of every playbook queue at one instant."""

    at: datetime
    depths: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.depths.values())


@dataclass(frozen=True)
class Incident:
    id: int
    playbook: str
    title: str
    severity: Severity
    state: IncidentState
    rule: str
    queue: str
    detected_at: datetime
    peak_depth: int
    peak_queue: str
    peak_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigation_started_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    root_cause: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    channel_status: str = "fixed"
    channel_name: str | None = None
    channel_note: str | None = None
    clear_since: datetime | None = None
    recovery_announced_at: datetime | None = None
    alert_phase: str = "firing"
    report_link: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state is not IncidentState.RESOLVED

    def duration(self, now: datetime) -> timedelta:
        return (self.resolved_at or now) - self.detected_at

    @property
    def has_own_channel(self) -> bool:
        """The bot created a channel for this incident (``channel_status`` is one of
        pending, dedicated, fallback, fixed: see migration 0004)."""
        return self.channel_status == "dedicated"


@dataclass(frozen=True)
class TimelineEntry:
    incident_id: int
    at: datetime
    kind: EventKind
    actor: str | None
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


class ActionState(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in {
            ActionState.SUCCEEDED,
            ActionState.FAILED,
            ActionState.DENIED,
            ActionState.EXPIRED,
        }


@dataclass(frozen=True)
class Approval:
    approver: str
    at: datetime


@dataclass(frozen=True)
class ActionRequest:
    id: UUID
    incident_id: int | None
    kind: ActionKind
    params: Mapping[str, Any]
    summary: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    state: ActionState
    approvals: tuple[Approval, ...] = ()
    details: tuple[str, ...] = ()
    denied_by: str | None = None
    executed_at: datetime | None = None
    finished_at: datetime | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    progress: Mapping[str, Any] = field(default_factory=dict)

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a.approver for a in self.approvals)


@dataclass(frozen=True)
class DeploymentStatus:
    """What the bot needs to know of a worker deployment."""

    name: str
    desired: int
    ready: int
    available: int
    updated: int
