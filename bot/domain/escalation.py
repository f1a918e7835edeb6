"""When to page which escalation tier: a pure schedule over the incident's facts.

Grafana OnCall's shape (a snapshot, a cursor, the next ETA) without any I/O:
the caller passes the incident, what was already paged and the facts the
triggers need (depth samples, job ages, vendor observations, firing alerts), and
gets back the pages due now — each saying why, with the numbers, and since when
it was due — and when time alone could make the next one due.

Two causes of a page: a tier's timer ("nobody acknowledged within 30m"), which an
acknowledgement voids, and a runbook trigger ("backlog above 5,000 for 2 h"),
which pages even after an acknowledgement. Each tier is paged once per incident.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.forecast import forecast_queue
from bot.domain.measures import FiringAlert, JobAgeReading, VendorObservation
from bot.domain.models import ActionRequest, ActionState, Incident, QueueSample
from bot.domain.playbook import (
    Escalation,
    EscalationTier,
    EscalationTrigger,
    Playbook,
    TriggerKind,
)

#: A page sent this long after it fell due is marked late (the bot was not running, or
#: could not reach its database). Well above the scheduler's lag (milliseconds) and a
#: sample interval (15 s), so only real gaps are marked.
LATE_AFTER = timedelta(minutes=1)
#: The time-to-breach trigger trusts no trend over less than this (8 samples at the
#: default 15 s interval), like the capacity model (bot/domain/capacity.py).
MIN_TREND = timedelta(minutes=2)


class PageCause(StrEnum):
    TIMER = "timer"  # nobody acknowledged within the tier's `after`: an ack voids it
    TRIGGER = "trigger"  # a runbook condition: pages even after an ack
    MANUAL = "manual"  # /backlog escalate


@dataclass(frozen=True)
class Page:
    tier: EscalationTier
    reason: str
    cause: PageCause = PageCause.MANUAL
    due_at: datetime | None = None  #: when it fell due (None: now, by request)

    def late_by(self, now: datetime) -> timedelta | None:
        """How late a page sent at ``now`` is, when more than :data:`LATE_AFTER`."""
        if self.due_at is None or now - self.due_at <= LATE_AFTER:
            return None
        return now - self.due_at


@dataclass(frozen=True)
class Measurements:
    """What the bot measured besides depths, newest last."""

    ages: Sequence[JobAgeReading] = ()
    vendors: Sequence[VendorObservation] = ()
    alerts: Sequence[FiringAlert] = ()


@dataclass(frozen=True)
class EscalationPlan:
    due: tuple[Page, ...]
    next_check: datetime | None  # None: nothing left that time alone could trigger


@dataclass(frozen=True)
class _Check:
    """One trigger's verdict: fires now (``reason``), or could at ``eta`` on time alone."""

    tier: int
    reason: str = ""
    due_at: datetime | None = None
    eta: datetime | None = None


def plan_escalation(
    incident: Incident,
    escalation: Escalation,
    paged_tiers: Collection[int],
    actions: Sequence[ActionRequest],
    samples: Sequence[QueueSample],
    now: datetime,
    *,
    measured: Measurements = Measurements(),
    playbook: Playbook | None = None,
) -> EscalationPlan:
    """Pages due at ``now`` for an open incident, each tier at most once.

    ``samples`` are the recent depth samples, oldest first; ``measured`` the job ages,
    vendor observations and firing alerts; ``playbook`` gives the time-to-breach
    trigger the workers' capacity (without it, only triggers with ``breach_depth``).
    """
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
                why = f"nobody acknowledged within {_fmt(tier.after)} of detection"
                due[tier.level] = Page(tier, why, PageCause.TIMER, at)
            else:
                etas.append(at)
    for check in _triggers(incident, escalation, actions, samples, measured, playbook, now):
        if check.tier in paged_tiers or check.tier in due:
            continue
        if check.reason:
            tier = _tier(escalation, check.tier)
            due[check.tier] = Page(tier, check.reason, PageCause.TRIGGER, check.due_at or now)
        elif check.eta is not None:
            etas.append(check.eta)
    return EscalationPlan(
        due=tuple(due[level] for level in sorted(due)), next_check=min(etas, default=None)
    )


def _triggers(
    incident: Incident,
    escalation: Escalation,
    actions: Sequence[ActionRequest],
    samples: Sequence[QueueSample],
    measured: Measurements,
    playbook: Playbook | None,
    now: datetime,
) -> list[_Check]:
    """Each trigger's verdict. A trigger naming Alertmanager ``alerts`` also fires while
    one of them is firing, whatever its kind."""
    found: list[_Check] = []
    for trigger in escalation.triggers:
        alert = next((a for a in measured.alerts if a.name in trigger.alerts), None)
        if alert is not None:
            reason = (
                f"{trigger.description}: Alertmanager reports `{alert.name}` firing since "
                f"{alert.since:%H:%M} UTC"
            )
            found.append(_Check(trigger.tier, reason, alert.received_at))
            continue
        match trigger.kind:
            case TriggerKind.DEPTH_ABOVE_FOR:
                found += _depth_above_for(trigger, samples, now)
            case TriggerKind.NOT_RESOLVED_AFTER_ACTION:
                found += _not_resolved_after(trigger, incident, actions, samples, now)
            case TriggerKind.SLA_DELAY:
                found += _sla_delay(trigger, measured.ages)
            case TriggerKind.TIME_TO_BREACH:
                found += _time_to_breach(trigger, samples, playbook)
            case TriggerKind.EXTERNAL_API_UNAVAILABLE:
                found += _vendors_down(trigger, measured.vendors)
    return found


def _depth_above_for(
    trigger: EscalationTrigger, samples: Sequence[QueueSample], now: datetime
) -> list[_Check]:
    if not trigger.threshold or not trigger.for_:
        return []
    since = _above_since(samples, trigger.threshold)
    if since is None:
        return []
    if now - since < trigger.for_:
        return [_Check(trigger.tier, eta=since + trigger.for_)]
    queue, depth = max(samples[-1].depths.items(), key=lambda kv: kv[1])
    reason = (
        f"{trigger.description}: `{queue}` holds {depth:,} jobs, and the largest queue has been "
        f"above {trigger.threshold:,} since {since:%H:%M} UTC ({_fmt(now - since)})"
    )
    return [_Check(trigger.tier, reason, since + trigger.for_)]


def _not_resolved_after(
    trigger: EscalationTrigger,
    incident: Incident,
    actions: Sequence[ActionRequest],
    samples: Sequence[QueueSample],
    now: datetime,
) -> list[_Check]:
    if not trigger.within:
        return []
    done = [
        a.finished_at
        for a in actions
        if a.kind == trigger.action and a.state is ActionState.SUCCEEDED and a.finished_at
    ]
    if not done:
        return []
    first = min(done)
    deadline = first + trigger.within
    if now < deadline:
        return [_Check(trigger.tier, eta=deadline)]
    depth = samples[-1].depths.get(incident.queue) if samples else None
    still = f"; `{incident.queue}` holds {depth:,} jobs" if depth is not None else ""
    action = trigger.action.value if trigger.action else "the action"
    reason = (
        f"{trigger.description}: {action} succeeded at {first:%H:%M} UTC, {_fmt(now - first)} "
        f"ago, and incident #{incident.id} is still open{still}"
    )
    return [_Check(trigger.tier, reason, deadline)]


def _sla_delay(trigger: EscalationTrigger, ages: Sequence[JobAgeReading]) -> list[_Check]:
    """Fires when the latest reading of a watched queue shows its oldest waiting job
    older than ``max_delay``. Re-checked at each sample: no ETA on time alone (the job
    may be taken any moment)."""
    if not trigger.max_delay:
        return []
    latest: dict[str, JobAgeReading] = {}
    for reading in ages:
        if trigger.queue in (None, reading.queue):
            latest[reading.queue] = reading  # newest last
    for queue, reading in sorted(latest.items()):
        if reading.age is not None and reading.error is None and reading.age > trigger.max_delay:
            reason = (
                f"{trigger.description}: the oldest job waiting in `{queue}` has waited "
                f"{_fmt(reading.age)} (SLA {_fmt(trigger.max_delay)}), "
                f"read at {reading.at:%H:%M:%S} UTC"
            )
            return [_Check(trigger.tier, reason, reading.at)]
    return []


def breach_depth(trigger: EscalationTrigger, playbook: Playbook | None) -> tuple[int, str] | None:
    """The depth at which ``trigger``'s queue breaches its SLA, and how it was reached:
    the trigger's ``breach_depth``, else what the queue's deployment clears in
    ``max_delay`` at its ``max_replicas`` and the playbook's ``jobs_per_worker_minute``
    (the runbook's capacity model): more than that waiting, and even the most workers
    the playbook allows leave the newest job waiting past the SLA."""
    if trigger.breach_depth is not None:
        return trigger.breach_depth, "the playbook's breach depth"
    if playbook is None or trigger.queue is None or trigger.max_delay is None:
        return None
    queue = playbook.queue(trigger.queue)
    if queue is None or queue.deployment is None:
        return None
    workers = playbook.deployments[queue.deployment].max_replicas
    rate = playbook.capacity.jobs_per_worker_minute
    depth = round(workers * rate * trigger.max_delay.total_seconds() / 60)
    return depth, f"what {workers} workers at {rate}/min clear in {_fmt(trigger.max_delay)}"


def _time_to_breach(
    trigger: EscalationTrigger, samples: Sequence[QueueSample], playbook: Playbook | None
) -> list[_Check]:
    """Fires when the depth trend (least squares over the playbook's trend window) reaches
    the SLA's depth within ``breach_within``. Re-checked at each sample."""
    limit = breach_depth(trigger, playbook)
    if limit is None or trigger.queue is None or trigger.breach_within is None or not samples:
        return []
    depth_limit, how = limit
    window = playbook.capacity.trend_window if playbook else timedelta(minutes=15)
    recent = [s for s in samples if s.at >= samples[-1].at - window]
    trend = forecast_queue(recent, trigger.queue, depth_limit)
    if trend is None or trend.observed_for < MIN_TREND or trend.crosses_threshold_in is None:
        return []
    if trend.crosses_threshold_in > trigger.breach_within:
        return []
    where = (
        f"already holds {trend.depth:,} jobs, more than {depth_limit:,} ({how})"
        if not trend.crosses_threshold_in
        else f"holds {trend.depth:,} jobs and grows {trend.per_minute:,.0f}/min: it reaches "
        f"{depth_limit:,} ({how}) in ~{_fmt(trend.crosses_threshold_in)}, under the "
        f"{_fmt(trigger.breach_within)} limit"
    )
    return [_Check(trigger.tier, f"{trigger.description}: `{trigger.queue}` {where}", None)]


def _vendors_down(
    trigger: EscalationTrigger, observations: Sequence[VendorObservation]
) -> list[_Check]:
    """Fires when every look at a vendor's calls over ``for`` found calls and every one
    of them failing; an unbroken run shorter than that gives an ETA."""
    if not trigger.for_:
        return []
    found: list[_Check] = []
    for vendor in trigger.vendors:
        seen = [o for o in observations if o.vendor == vendor.name]
        run: list[VendorObservation] = []
        for observation in reversed(seen):  # newest first
            if not observation.all_failing:
                break
            run.append(observation)
        if not run:
            continue
        start, last = run[-1].at, run[0]
        if last.at - start < trigger.for_:
            found.append(_Check(trigger.tier, eta=start + trigger.for_))
            continue
        reason = (
            f"{trigger.description}: every call to {vendor.name} has failed since "
            f"{start:%H:%M} UTC ({_fmt(last.at - start)}; {last.failures:,} of {last.calls:,} "
            f"in the latest look at `{vendor.deployment}`'s logs)"
        )
        return [_Check(trigger.tier, reason, start + trigger.for_)]
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


def unmeasured(playbook: Playbook) -> list[tuple[str, str]]:
    """(trigger kind, sentence) for each trigger the bot cannot measure with this
    playbook: it then fires only from an Alertmanager alert it names, or by hand."""
    notes = []
    watched = {q.name for q in playbook.queues if q.job_age is not None}
    for trigger in playbook.escalation.triggers:
        kind = trigger.kind
        targets = {trigger.queue} if trigger.queue else watched
        if kind is TriggerKind.SLA_DELAY and not targets & watched:
            where = (
                f"the playbook gives `{trigger.queue}` no `job_age`"
                if trigger.queue
                else "no queue in the playbook has a `job_age`"
            )
            note = (
                f"“{trigger.description}” is not measured: {where} to read the oldest "
                "job's enqueue time from"
            )
        elif kind is TriggerKind.EXTERNAL_API_UNAVAILABLE and not trigger.vendors:
            note = (
                f"“{trigger.description}” is not measured: the playbook names no `vendors` "
                "whose calls to watch"
            )
        else:
            continue
        note += (
            f"; it fires only while Alertmanager reports {', '.join(trigger.alerts)}."
            if trigger.alerts
            else "; it fires only by `/backlog escalate`."
        )
        notes.append((kind.value, note))
    return notes


def _tier(escalation: Escalation, level: int) -> EscalationTier:
    for tier in escalation.tiers:
        if tier.level == level:
            return tier
    return escalation.tiers[-1]


def _fmt(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{max(int(delta.total_seconds()), 0)}s"
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


__all__ = [
    "LATE_AFTER",
    "EscalationPlan",
    "Measurements",
    "Page",
    "PageCause",
    "breach_depth",
    "plan_escalation",
    "unmeasured",
]
