"""The living alert's content, from what the bot knows at one sample.

Per queue: its depth, its trend over the playbook's ``capacity.trend_window``
(least squares, :func:`bot.domain.forecast.forecast_queue`) and what the trend
implies: when it empties at the current rate (:func:`drain_time`) or when it
crosses its threshold while growing (:func:`time_to_breach`). The Scale button's
worker count comes from the one capacity model (:func:`scale_suggestion`), whose
own fallback is the playbook's ``suggested_replicas`` when there are no samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.alert_state import AlertPhase, clear_level
from bot.domain.capacity import WorkerRecommendation, scale_suggestion
from bot.domain.errors import Refused
from bot.domain.forecast import forecast_queue
from bot.domain.models import ActionRequest, ActionState, Incident, QueueSample
from bot.domain.playbook import ActionKind, AlertRule, Playbook, RuleKind
from bot.domain.rules import RuleState, RuleStatus
from bot.domain.views import AlertView, QueueOutlook

_RAN = (ActionState.EXECUTING, ActionState.SUCCEEDED, ActionState.FAILED)


def thresholds(playbook: Playbook) -> dict[str, int]:
    """Each queue's lowest depth-rule threshold."""
    found: dict[str, int] = {}
    for rule in playbook.rules:
        if rule.kind is RuleKind.DEPTH_ABOVE:
            found[rule.queue] = min(rule.threshold, found.get(rule.queue, rule.threshold))
    return found


def recent(history: Sequence[QueueSample], playbook: Playbook, now: datetime) -> list[QueueSample]:
    """The samples the trend reads: the last ``capacity.trend_window`` before ``now``."""
    start = now - playbook.capacity.trend_window
    return [s for s in history if start <= s.at <= now]


#: The shortest stretch of samples after an action that the trend is read from alone.
MIN_TREND_SPAN = timedelta(minutes=1)


def trend_samples(
    playbook: Playbook,
    sample: QueueSample,
    history: Sequence[QueueSample],
    since: Sequence[datetime] = (),
) -> list[QueueSample]:
    """The samples the alert's trends read: the last ``capacity.trend_window``, and
    only those from the latest of ``since`` (the executed actions' times) whose samples
    already span :data:`MIN_TREND_SPAN` — a fit across a scale or a requeue mixes two
    regimes and can call a queue that has drained for minutes "growing"."""
    window = recent(history, playbook, sample.at)
    if not window or window[-1].at != sample.at:
        window = [*window, sample]
    for start in sorted(since, reverse=True):
        after = [s for s in window if s.at >= start]
        if len(after) >= 2 and after[-1].at - after[0].at >= MIN_TREND_SPAN:
            return after
    return window


def queue_outlooks(
    playbook: Playbook,
    sample: QueueSample,
    history: Sequence[QueueSample],
    since: Sequence[datetime] = (),
) -> tuple[QueueOutlook, ...]:
    """Every playbook queue as the alert shows it; ``since``: see :func:`trend_samples`."""
    limits = thresholds(playbook)
    window = trend_samples(playbook, sample, history, since)
    margin = playbook.recovery.hysteresis
    outlooks = []
    for queue in playbook.queue_names:
        limit = limits.get(queue)
        trend = forecast_queue(window, queue, limit)
        outlooks.append(
            QueueOutlook(
                queue=queue,
                depth=sample.depths.get(queue),
                threshold=limit,
                clear_level=clear_level(limit, margin) if limit is not None else None,
                per_minute=trend.per_minute if trend else None,
                drains_in=trend.empty_in if trend else None,
                breaches_in=trend.crosses_threshold_in if trend else None,
            )
        )
    return tuple(outlooks)


def rule_state_for(rule: AlertRule, states: Sequence[RuleState], incident: Incident) -> RuleState:
    """The incident's rule as the monitor sees it now; a rule the monitor does not
    evaluate (from Prometheus) counts as firing since detection."""
    for state in states:
        if state.rule.name == rule.name:
            return state
    return RuleState(rule=rule, status=RuleStatus.FIRING, active_since=incident.detected_at)


def scale_for(
    playbook: Playbook, queue: str, history: Sequence[QueueSample], ready: int | None
) -> WorkerRecommendation | None:
    """The capacity model's worker count for ``queue``'s deployment; None when the queue
    has no deployment."""
    try:
        return scale_suggestion(playbook, queue, history, ready)
    except Refused:
        return None


def scale_held_until(
    playbook: Playbook, deployment: str | None, actions: Sequence[ActionRequest]
) -> datetime | None:
    """Until when the capacity model's count is not offered after a scale of
    ``deployment``: its arrivals estimate (growth + ready x rate) assumes the ready
    workers held over the whole trend window, which a scale breaks until the window
    has moved past it."""
    scaled = [
        a.executed_at
        for a in actions
        if a.kind is ActionKind.SCALE
        and a.state in _RAN
        and a.executed_at is not None
        and a.params.get("deployment") == deployment
    ]
    return max(scaled) + playbook.capacity.trend_window if scaled else None


def last_action(actions: Sequence[ActionRequest]) -> ActionRequest | None:
    """The latest action that ran (or runs), by when it was approved."""
    ran = [a for a in actions if a.state in _RAN and a.executed_at is not None]
    return max(ran, key=lambda a: a.executed_at or a.requested_at, default=None)


def build_alert_view(
    *,
    incident: Incident,
    rule_state: RuleState,
    sample: QueueSample,
    history: Sequence[QueueSample],
    playbook: Playbook,
    phase: AlertPhase,
    actions: Sequence[ActionRequest] = (),
    ready: int | None = None,
) -> AlertView:
    """The alert at ``sample`` (the latest one)."""
    queue = rule_state.rule.queue
    scale = scale_for(playbook, queue, recent(history, playbook, sample.at), ready)
    held = scale_held_until(playbook, scale.deployment if scale else None, actions)
    if held is not None and sample.at < held:
        scale = None
    latest = last_action(actions)
    ran_at = [a.executed_at for a in actions if a.state in _RAN and a.executed_at is not None]
    return AlertView(
        incident=incident,
        rule_state=rule_state,
        sample=sample,
        history=tuple(history),
        playbook=playbook,
        phase=phase,
        queues=queue_outlooks(playbook, sample, history, ran_at),
        last_action=latest,
        pending_actions=sum(1 for a in actions if a.state is ActionState.PENDING),
        scale=scale,
        scale_held_until=held if held is not None and sample.at < held else None,
        ready=ready,
        updated_at=sample.at,
    )
