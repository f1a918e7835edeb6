"""Builds the :class:`~.document.ReportDocument` from its sources (pure).

The contents follow the runbook's "Post-Resolution" template (date, duration, peak
queue size, root cause, timeline with detection / mitigation started / resolution,
actions taken, lessons learned, prevention measures), with what issue 10 adds: the
duration measured from when the backlog began (the first sample above the threshold),
time to detect / acknowledge / mitigate / recover, every queue's peak, the channel's
pinned and marked messages in the timeline, each action's approvers, parameters,
outcome and its queue's net rate before and after, and the escalation pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.chart import depth_thresholds
from bot.domain.models import ActionRequest, ActionState, EventKind, Incident, TimelineEntry
from bot.domain.playbook import ActionKind, Playbook, RuleKind
from bot.domain.report.document import (
    ActionLine,
    Contribution,
    Durations,
    PageLine,
    RateChange,
    ReportDocument,
    ReportSources,
    RootCause,
)
from bot.domain.report.durations import elapsed
from bot.domain.report.figures import (
    RATE_WINDOW,
    BacklogSpan,
    QueueFigures,
    backlog_span,
    net_rate,
    queue_figures,
)
from bot.domain.report.moments import channel_moments, timeline_moments
from bot.domain.report.notes import classify_note


def chart_file_name(incident_id: int) -> str:
    return f"incident-{incident_id}-queue-depths.png"


def compose_report(sources: ReportSources) -> ReportDocument:
    """The report of ``sources.incident`` as of ``sources.now``."""
    incident, playbook = sources.incident, sources.playbook
    end = incident.resolved_at or sources.now
    span = _span(sources, end)
    start = span.began or incident.detected_at
    thresholds = depth_thresholds(playbook)
    marks = playbook.report.mark_reactions
    moments = [
        *timeline_moments(incident, sources.timeline, span),
        *channel_moments(sources.channel, marks, sources.prompt_ts),
    ]
    moments.sort(key=lambda m: m.at)
    lessons, prevention = _contributions(sources)
    return ReportDocument(
        incident_id=incident.id,
        title=playbook.report.title,
        incident_title=incident.title,
        severity=incident.severity.value,
        status=incident.state.value,
        state=sources.state,
        built_at=sources.now,
        time_zone=playbook.time_zone,
        sections=tuple(playbook.report.sections),
        began=span.began,
        began_early=span.began_early,
        detected=incident.detected_at,
        acknowledged=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        mitigated=incident.mitigation_started_at,
        recovered=span.recovered,
        resolved=incident.resolved_at,
        resolved_by=incident.resolved_by,
        durations=_durations(incident, span, end),
        queues=tuple(_queues(sources, thresholds, start, end)),
        root_cause=_root_cause(incident, sources.timeline),
        timeline=tuple(moments),
        actions=tuple(_action(a, sources) for a in sources.actions),
        escalations=tuple(_pages(incident, sources.timeline, playbook)),
        lessons=lessons,
        prevention=prevention,
        people=dict(sources.people),
        caveats=sources.caveats + _sample_caveats(sources),
        chart_file=chart_file_name(incident.id),
        finalised_by=sources.finalised_by,
    )


def _queues(
    sources: ReportSources, thresholds: dict[str, int], start: datetime, end: datetime
) -> list[QueueFigures]:
    """Each queue's figures from the samples; without samples (raw samples are kept
    48 hours), the peak recorded on the incident as it happened."""
    figures = queue_figures(sources.samples, sources.playbook.queue_names, thresholds, start, end)
    if figures:
        return figures
    incident = sources.incident
    at = incident.peak_at or incident.detected_at
    queue = incident.peak_queue
    return [QueueFigures(queue, incident.peak_depth, at, thresholds.get(queue), None, 0)]


def _sample_caveats(sources: ReportSources) -> tuple[str, ...]:
    if sources.samples:
        return ()
    return (
        "No depth samples of this incident are kept any more (raw samples are kept 48 "
        "hours): the peak is the one recorded on the incident, and the times the samples "
        "tell (when the backlog began, recovery, time above the threshold) are not known.",
    )


def _span(sources: ReportSources, end: datetime) -> BacklogSpan:
    incident, playbook = sources.incident, sources.playbook
    rule = next((r for r in playbook.rules if r.name == incident.rule), None)
    threshold = rule.threshold if rule and rule.kind is RuleKind.DEPTH_ABOVE else None
    return backlog_span(sources.samples, incident.queue, threshold, incident.detected_at, end)


def _durations(incident: Incident, span: BacklogSpan, end: datetime) -> Durations:
    start = span.began or incident.detected_at

    def since(then: datetime | None, at: datetime | None) -> timedelta | None:
        return elapsed(then, at) if then is not None and at is not None else None

    return Durations(
        duration=elapsed(start, end),
        to_detect=since(span.began, incident.detected_at),
        to_acknowledge=since(incident.detected_at, incident.acknowledged_at),
        to_mitigate=since(start, incident.mitigation_started_at),
        to_recover=since(start, span.recovered),
    )


def _root_cause(incident: Incident, timeline: Sequence[TimelineEntry]) -> RootCause | None:
    """The person's root cause (the last ``/backlog rootcause``), else the top finding
    of the last diagnosis that found one, marked as such."""
    stated = [e for e in timeline if e.kind is EventKind.ROOT_CAUSE]
    if incident.root_cause or stated:
        last = stated[-1] if stated else None
        text = incident.root_cause or (last.text if last else "")
        at = last.at if last else incident.detected_at
        return RootCause(text, "rootcause", last.actor if last else None, at)
    diagnoses = [e for e in timeline if e.kind is EventKind.DIAGNOSED and e.data.get("top")]
    if diagnoses:
        last = diagnoses[-1]
        return RootCause(str(last.data["top"]), "diagnosis", last.actor, last.at)
    return None


def _contributions(
    sources: ReportSources,
) -> tuple[tuple[Contribution, ...], tuple[Contribution, ...]]:
    found: dict[EventKind, list[Contribution]] = {EventKind.LESSON: [], EventKind.PREVENTION: []}
    for entry in sources.timeline:
        if entry.kind in found:
            found[entry.kind].append(Contribution(entry.text, entry.actor, entry.at))
    if sources.prompt_ts is not None:
        for message in sources.channel:
            if message.thread_ts != sources.prompt_ts or message.deleted or not message.text:
                continue
            if message.from_bot or message.ts == sources.prompt_ts:
                continue
            kind, text = classify_note(message.text)
            if kind in found:
                found[kind].append(Contribution(text, message.user, message.at, "thread"))
    ordered = {k: tuple(sorted(v, key=lambda c: c.at)) for k, v in found.items()}
    return ordered[EventKind.LESSON], ordered[EventKind.PREVENTION]


# ---- actions ----------------------------------------------------------------------------


def action_queue(action: ActionRequest, playbook: Playbook, incident: Incident) -> str:
    """The queue an action was meant to help: the one worked by the deployment it
    scaled or restarted, the queue a requeue filled, else the incident's."""
    params = action.params
    deployments = [params.get("deployment"), *(params.get("deployments") or ())]
    if action.kind is not ActionKind.REQUEUE:
        for queue in playbook.queues:
            if queue.deployment and queue.deployment in deployments:
                return queue.name
    if action.kind is ActionKind.REQUEUE:
        target = params.get("target_queue") or playbook.stuck_jobs.requeue_to
        if isinstance(target, str) and playbook.queue(target):
            return target
    return incident.queue


def _action(action: ActionRequest, sources: ReportSources) -> ActionLine:
    rates = None
    if action.executed_at is not None:
        queue = action_queue(action, sources.playbook, sources.incident)
        after_from = action.finished_at or action.executed_at
        rates = RateChange(
            queue,
            net_rate(sources.samples, queue, action.executed_at - RATE_WINDOW, action.executed_at),
            net_rate(sources.samples, queue, after_from, after_from + RATE_WINDOW),
        )
    return ActionLine(
        id=action.id,
        kind=action.kind.value,
        summary=action.summary,
        parameters=dict(action.params),
        requested_by=action.requested_by,
        requested_at=action.requested_at,
        approvals=tuple((a.approver, a.at) for a in action.approvals),
        state=action.state.value,
        outcome=_outcome(action),
        started_at=action.executed_at,
        finished_at=action.finished_at,
        denied_by=action.denied_by,
        rates=rates,
        verdict=sources.verdicts.get(action.id),
    )


def _outcome(action: ActionRequest) -> str:
    match action.state:
        case ActionState.SUCCEEDED:
            return "succeeded"
        case ActionState.FAILED:
            return f"failed: {action.error or 'unknown error'}"
        case ActionState.DENIED:
            return "denied"
        case ActionState.EXPIRED:
            return "expired before it was approved; nothing was done"
        case ActionState.EXECUTING:
            return "still running"
    return "waiting for approval"


# ---- escalations ------------------------------------------------------------------------


def _pages(
    incident: Incident, timeline: Sequence[TimelineEntry], playbook: Playbook
) -> list[PageLine]:
    names = {tier.level: tier.name for tier in playbook.escalation.tiers}
    pages = []
    for entry in timeline:
        if entry.kind is not EventKind.ESCALATED:
            continue
        tier = int(entry.data.get("tier", 0) or 0)
        name = names.get(tier, f"tier {tier}")
        _, _, reason = entry.text.partition(": ")
        people = tuple(str(p) for p in entry.data.get("paged") or ())
        acked_at = incident.acknowledged_at
        after_ack = acked_at is not None and entry.at >= acked_at
        pages.append(
            PageLine(
                tier=tier,
                name=name,
                paged_at=entry.at,
                people=people,
                reason=reason or entry.text,
                by=entry.actor,
                acknowledged_by=None if after_ack else incident.acknowledged_by,
                acknowledged_at=None if after_ack else acked_at,
                after_ack=after_ack,
            )
        )
    return pages
