"""Did the action help? A verdict from the queue's depth samples before and after it.

The consumers' throughput cannot be read from depths alone (a depth is arrivals minus
what was consumed), so it is derived the way :mod:`bot.domain.capacity` estimates
arrivals, assuming the producers keep their pace across the action:

* net growth ``g`` (jobs/min) = the least-squares slope of the queue's depth
  (:func:`bot.domain.forecast.forecast_queue`), before the action (over the playbook's
  ``capacity.trend_window``) and after it (from when its effect starts);
* arrivals = ``g_before`` + ``workers_before`` * ``capacity.jobs_per_worker_minute``;
* consumer throughput = arrivals - net growth, before and after.

The verdict uses only the change, ``change = g_before - g_after`` (jobs/min more that the
consumers take), which does not depend on the worker rate assumed:

* **helping** when the change is above the margin, or the queue emptied after the action
  while it had not been empty before;
* **worse** when it is below minus the margin;
* **no effect** otherwise;
* margin = the largest of ``effect_check.min_change_per_minute`` (default 5 jobs/min),
  ``effect_check.min_change`` (default 10 %) of the throughput before (of ``|g_before|``
  when the throughput is unknown) and twice the two slopes' combined standard error
  (so noise alone is not called an effect).

A trend needs 3 samples over at least 2 minutes (:data:`MIN_OBSERVATION`, as the
capacity model); until both sides have one the check waits, and a window that ends
without them gives **unknown** with the reason. An action that failed (a scale or
restart whose pods never became Ready, a Job that failed) is **failed** with its
reason: its queue is not judged. Samples between the action's start and the moment its
effect starts (e.g. while a scale's pods were starting) belong to neither side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.domain.capacity import MIN_OBSERVATION
from bot.domain.forecast import QueueForecast, drain_time, forecast_queue, time_to_breach
from bot.domain.models import ActionRequest, QueueSample
from bot.domain.playbook import ActionKind, Capacity, EffectCheck, Playbook
from bot.domain.report import format_duration


class Verdict(StrEnum):
    HELPING = "helping"
    NO_EFFECT = "no effect"
    WORSE = "worse"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the window ended without enough data to judge


@dataclass(frozen=True)
class Side:
    """The queue's trend on one side of the action: ``depth`` (jobs) is the last sample
    of the side (for "before": the depth when the action started), ``per_minute`` the
    net growth (jobs/min, negative: draining), ``slope_error`` its standard error."""

    depth: int
    per_minute: float
    slope_error: float
    samples: int
    observed_seconds: float
    time_to_drain_seconds: float | None = None
    time_to_breach_seconds: float | None = None

    @property
    def time_to_drain(self) -> timedelta | None:
        return _seconds(self.time_to_drain_seconds)

    @property
    def time_to_breach(self) -> timedelta | None:
        return _seconds(self.time_to_breach_seconds)


@dataclass(frozen=True)
class EffectNumbers:
    """Before and after, for the thread, the living alert and the report.

    Rates are jobs per minute. ``throughput_*`` are the consumers' (None when the
    workers before the action are unknown); ``change`` is the throughput gained,
    ``g_before - g_after``; ``margin`` the smallest change that counts.
    """

    queue: str
    before: Side | None = None
    after: Side | None = None
    arrivals_per_minute: float | None = None
    throughput_before: float | None = None
    throughput_after: float | None = None
    change: float | None = None
    margin: float | None = None
    emptied: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (stored in PostgreSQL); :meth:`from_json` reads it back."""
        out: dict[str, Any] = {
            key: getattr(self, key)
            for key in (
                "queue",
                "arrivals_per_minute",
                "throughput_before",
                "throughput_after",
                "change",
                "margin",
                "emptied",
            )
        }
        out["before"] = None if self.before is None else vars(self.before).copy()
        out["after"] = None if self.after is None else vars(self.after).copy()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EffectNumbers:
        def side(value: Any) -> Side | None:
            return Side(**value) if isinstance(value, dict) else None

        return cls(
            queue=str(data.get("queue", "")),
            before=side(data.get("before")),
            after=side(data.get("after")),
            arrivals_per_minute=data.get("arrivals_per_minute"),
            throughput_before=data.get("throughput_before"),
            throughput_after=data.get("throughput_after"),
            change=data.get("change"),
            margin=data.get("margin"),
            emptied=bool(data.get("emptied", False)),
        )


@dataclass(frozen=True)
class Judgement:
    """The effect check's state: ``verdict`` None while it waits for data; ``final``
    once the window is over (or the action failed); ``reason`` one sentence."""

    verdict: Verdict | None
    final: bool
    reason: str
    numbers: EffectNumbers | None = None


@dataclass(frozen=True)
class Watch:
    """What an effect check watches: ``queue`` from ``effect_from`` until ``until``,
    comparing with the trend before ``action_at``. ``workers_before`` is the worker
    count before the action (None: unknown); ``threshold`` the queue's alert line."""

    queue: str
    action_at: datetime
    effect_from: datetime
    until: datetime
    workers_before: int | None = None
    threshold: int | None = None


def watched_queue(
    playbook: Playbook, request: ActionRequest, incident_queue: str | None
) -> str | None:
    """The queue whose depth tells whether ``request`` helped: the queue(s) its
    deployments work (scale, restart, tune), the queue it pushes onto (requeue,
    re-analysis), the queue the drain empties. Among several, the incident's own queue
    first. None when the action works no playbook queue."""
    params = request.params
    if request.kind is ActionKind.DRAIN:
        return playbook.drain_queue
    if request.kind in (ActionKind.REQUEUE, ActionKind.REANALYSE):
        target = str(params.get("target_queue", ""))
        return target if target in playbook.queue_names else None
    deployments = {str(d) for d in params.get("deployments", ())}
    if "deployment" in params:
        deployments.add(str(params["deployment"]))
    candidates = [q.name for q in playbook.queues if q.deployment in deployments]
    if incident_queue in candidates:
        return incident_queue
    return candidates[0] if candidates else None


def watch_window(
    kind: ActionKind, executed_at: datetime, finished_at: datetime, settings: EffectCheck
) -> tuple[datetime, datetime]:
    """``(effect_from, until)`` for an action that ran from ``executed_at`` to
    ``finished_at``. Most actions take effect when they finish (a scale once its pods
    are Ready, a restart once rolled out); a drain Job works while it runs, so its
    effect is watched from its start, and at least until it ended."""
    if kind is ActionKind.DRAIN:
        return executed_at, max(finished_at, executed_at + settings.window)
    return finished_at, finished_at + settings.window


def failed(error: str) -> Judgement:
    """The verdict on an action that failed: its queue is not judged."""
    return Judgement(
        Verdict.FAILED, True, f"The action failed, so its effect was not measured: {error}"
    )


def judge(
    watch: Watch,
    samples: Sequence[QueueSample],
    now: datetime,
    capacity: Capacity,
    settings: EffectCheck,
) -> Judgement:
    """The verdict on ``watch`` at ``now`` from ``samples`` (any order; only those of
    ``watch.queue`` in the two windows are read). See the module docstring for the
    rules and thresholds."""
    final = now >= watch.until
    mine = sorted((s for s in samples if watch.queue in s.depths), key=lambda s: s.at)
    before = [s for s in mine if watch.action_at - capacity.trend_window <= s.at <= watch.action_at]
    after = [s for s in mine if watch.effect_from <= s.at <= min(now, watch.until)]
    trend_before = _trend(before, watch.queue)
    if trend_before is None:
        return _waiting(final, "there were not enough depth samples before the action", before)
    depths_before = [s.depths[watch.queue] for s in before]
    depths_after = [s.depths[watch.queue] for s in after]
    if depths_after and max(depths_before) == 0 and max(depths_after) == 0:
        return _waiting(final, "the queue stayed empty, so there is nothing to measure", after)
    emptied = bool(depths_after) and min(depths_before) > 0 and 0 in depths_after
    if emptied:
        # Once empty, the depth cannot fall further: only the run down to zero is a rate.
        after = after[: depths_after.index(0) + 1]
    trend_after = _trend(after, watch.queue) or (_run_down(after, watch.queue) if emptied else None)
    if trend_after is None:
        return _waiting(final, "there are not enough depth samples since the action yet", after)
    numbers = _numbers(watch, trend_before, trend_after, min(depths_before), capacity, settings)
    numbers = EffectNumbers(**{**vars(numbers), "emptied": emptied})
    return Judgement(_verdict(numbers), final, _reason(numbers), numbers)


def _waiting(final: bool, why: str, used: Sequence[QueueSample]) -> Judgement:
    need = f"a trend needs 3 samples over at least {format_duration(MIN_OBSERVATION)}"
    if final:
        return Judgement(Verdict.UNKNOWN, True, f"No verdict: {why} ({need}).")
    return Judgement(None, False, f"Waiting for data: {why} ({need}; {len(used)} so far).")


def _trend(samples: Sequence[QueueSample], queue: str) -> QueueForecast | None:
    trend = forecast_queue(samples, queue, None)
    if trend is None or trend.observed_for < MIN_OBSERVATION:
        return None
    return trend


def _run_down(samples: Sequence[QueueSample], queue: str) -> QueueForecast | None:
    """A queue that emptied too soon for a trend: the straight line from the first
    sample after the action to the first empty one."""
    first, last = samples[0], samples[-1]
    minutes = (last.at - first.at).total_seconds() / 60
    if minutes <= 0:
        return None
    depth = first.depths[queue]
    return QueueForecast(
        queue, 0, -depth / minutes, None, None, timedelta(0), 0.0, last.at - first.at, len(samples)
    )


def _numbers(
    watch: Watch,
    before: QueueForecast,
    after: QueueForecast,
    lowest_before: int,
    capacity: Capacity,
    settings: EffectCheck,
) -> EffectNumbers:
    change = before.per_minute - after.per_minute
    arrivals = throughput_before = throughput_after = None
    workers = watch.workers_before
    # As the capacity model: with the queue running dry before, the workers were idle
    # at times, so their count says nothing of the arrivals.
    keeping_up = workers is not None and before.per_minute < 1 and lowest_before < workers
    if workers is not None and not keeping_up:
        arrivals = max(before.per_minute + workers * capacity.jobs_per_worker_minute, 0.0)
        throughput_before = max(arrivals - before.per_minute, 0.0)
        throughput_after = max(arrivals - after.per_minute, 0.0)
    reference = throughput_before if throughput_before is not None else abs(before.per_minute)
    noise = 2 * math.hypot(_finite(before.slope_error), _finite(after.slope_error))
    margin = max(settings.min_change_per_minute, settings.min_change * reference, noise)
    return EffectNumbers(
        queue=watch.queue,
        before=_side(before, watch.threshold),
        after=_side(after, watch.threshold),
        arrivals_per_minute=arrivals,
        throughput_before=throughput_before,
        throughput_after=throughput_after,
        change=change,
        margin=margin,
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _side(trend: QueueForecast, threshold: int | None) -> Side:
    drain = drain_time(trend.depth, trend.per_minute)
    breach = time_to_breach(trend.depth, trend.per_minute, threshold) if threshold else None
    return Side(
        depth=trend.depth,
        per_minute=trend.per_minute,
        slope_error=_finite(trend.slope_error),
        samples=trend.samples,
        observed_seconds=trend.observed_for.total_seconds(),
        time_to_drain_seconds=None if drain is None else drain.total_seconds(),
        time_to_breach_seconds=None if breach is None else breach.total_seconds(),
    )


def _verdict(numbers: EffectNumbers) -> Verdict:
    change, margin = numbers.change or 0.0, numbers.margin or 0.0
    if numbers.emptied or change > margin:
        return Verdict.HELPING
    if change < -margin:
        return Verdict.WORSE
    return Verdict.NO_EFFECT


def _reason(numbers: EffectNumbers) -> str:
    change, margin = numbers.change or 0.0, numbers.margin or 0.0
    if numbers.emptied:
        return f"`{numbers.queue}` emptied after the action."
    if change > margin:
        return (
            f"The consumers take {change:,.0f} jobs/min more (more than the "
            f"{margin:,.0f}/min that counts)."
        )
    if change < -margin:
        return (
            f"The consumers take {-change:,.0f} jobs/min fewer (more than the "
            f"{margin:,.0f}/min that counts)."
        )
    return (
        f"The consumers' throughput changed by {change:+,.0f} jobs/min, within the "
        f"±{margin:,.0f}/min that does not count as an effect."
    )


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)
