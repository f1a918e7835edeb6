"""When to page which escalation tier: a pure schedule over the incident's facts.

Grafana OnCall's shape (a snapshot, a cursor, the next ETA) without any I/O:
the caller passes the incident, what was already paged and the facts the
triggers need, and gets back the pages due now and when to look again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.models import ActionRequest, ActionState, Incident, QueueSample
from bot.domain.playbook import Escalation, EscalationTier, TriggerKind


@dataclass(frozen=True)
class Page:
    tier: EscalationTier
    reason: str


@dataclass(frozen=True)
class EscalationPlan:
    due: tuple[Page, ...]
    next_check: datetime | None  # None: nothing left that time alone could trigger


def plan_escalation(
    incident: Incident,
    escalation: Escalation,
    paged_tiers: Collection[int],
    actions: Sequence[ActionRequest],
    samples: Sequence[QueueSample],
    now: datetime,
) -> EscalationPlan:
    """Pages due at ``now`` for an open incident, each tier at most once."""
    if not incident.is_open:
        return EscalationPlan(due=(), next_check=None)
    due: dict[int, Page] = {}
    etas: list[datetime] = []
    if incident.acknowledged_at is None:
        for tier in escalation.tiers:
            at = incident.detected_at + tier.after
            if tier.level in paged_tiers:
                continue
            if now >= at:
                due[tier.level] = Page(
                    tier, f"nobody acknowledged within {_fmt(tier.after)} of detection"
                )
            else:
                etas.append(at)
    for level, reason, eta in _triggers(incident, escalation, actions, samples, now):
        if level not in paged_tiers and level not in due:
            if reason:
                due[level] = Page(_tier(escalation, level), reason)
            elif eta is not None:
                etas.append(eta)
    return EscalationPlan(
        due=tuple(due[level] for level in sorted(due)), next_check=min(etas, default=None)
    )


def _triggers(
    incident: Incident,
    escalation: Escalation,
    actions: Sequence[ActionRequest],
    samples: Sequence[QueueSample],
    now: datetime,
) -> list[tuple[int, str, datetime | None]]:
    """(tier, reason if it fires now, when it could fire next) for each trigger we can see.

    ``sla_delay`` and ``external_api_unavailable`` need facts the bot does not
    sample (job ages, vendor status); they reach the bot as Alertmanager alerts
    or a person's ``/backlog escalate``.
    """
    found: list[tuple[int, str, datetime | None]] = []
    for trigger in escalation.triggers:
        if trigger.kind is TriggerKind.DEPTH_ABOVE_FOR and trigger.threshold and trigger.for_:
            since = _above_since(samples, trigger.threshold)
            if since is not None and now - since >= trigger.for_:
                found.append((trigger.tier, trigger.description, None))
            elif since is not None:
                found.append((trigger.tier, "", since + trigger.for_))
        elif trigger.kind is TriggerKind.NOT_RESOLVED_AFTER_ACTION and trigger.within:
            done = [
                a.finished_at
                for a in actions
                if a.kind == trigger.action and a.state is ActionState.SUCCEEDED and a.finished_at
            ]
            if done:
                deadline = min(done) + trigger.within
                reason = trigger.description if now >= deadline else ""
                found.append((trigger.tier, reason, None if reason else deadline))
    return found


def _above_since(samples: Sequence[QueueSample], threshold: int) -> datetime | None:
    """Start of the current unbroken run of samples whose largest queue is above threshold."""
    since: datetime | None = None
    for sample in samples:
        if sample.depths and max(sample.depths.values()) > threshold:
            since = since or sample.at
        else:
            since = None
    return since


def _tier(escalation: Escalation, level: int) -> EscalationTier:
    for tier in escalation.tiers:
        if tier.level == level:
            return tier
    return escalation.tiers[-1]


def _fmt(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
