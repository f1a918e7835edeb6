"""How many workers a queue needs: the one capacity model behind every worker count
the bot shows (``/backlog forecast``, the alert's Scale button, the approval text,
the report), each with a sentence saying how it was computed.

The model (the runbook's "Predictive Scaling" ``QueuePredictor.recommend_scaling``,
made to use what the bot observes):

* arrivals/min = the queue's net growth (least-squares trend over the playbook's
  ``capacity.trend_window``) + what the ready workers clear
  (ready * ``jobs_per_worker_minute``);
* needed = ceil((arrivals + backlog / ``drain_within``) / ``jobs_per_worker_minute``):
  keep up with what arrives and clear what waits within ``drain_within``;
* clamped to [max(``capacity.min_workers``, the deployment's ``min_replicas``),
  the deployment's ``max_replicas``].

When the trend cannot be trusted (fewer than three samples, under two minutes of
them, or a slope uncertain by more than one worker's rate) it falls back to the
runbook's own form, backlog / (rate * target time), and says so. The runbook
truncates (``int(...)``); we round up, since 8.4 workers' worth of backlog is not
cleared in time by 8. With no samples at all the playbook's fixed
``suggested_replicas`` is the answer.

Two edges of "arrivals = growth + ready * rate": it assumes the ready workers are
busy, which is false when the queue runs dry (fewer jobs waiting than workers at
some sample, not growing): then the arrivals are only bounded by what the workers
could do, and the model keeps the ready count rather than invent a number. With
the ready count unknown (Kubernetes unreachable) the growth alone is a lower bound
on arrivals; a queue that is not growing then gets the runbook's form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.domain.errors import Refused
from bot.domain.forecast import QueueForecast, forecast_queue
from bot.domain.models import QueueSample
from bot.domain.playbook import Capacity, Deployment, Playbook
from bot.domain.report import format_duration

#: The shortest stretch of samples whose slope we trust (8 samples at the default
#: 15 s interval); shorter observations fall back to the runbook's simple form.
MIN_OBSERVATION = timedelta(minutes=2)


class Method(StrEnum):
    OBSERVED = "observed"  # arrivals from the trend and the ready workers
    KEEPING_UP = "keeping up"  # workers idle at times: arrivals not measurable
    RUNBOOK = "runbook"  # backlog / (rate * target time)
    FIXED = "fixed"  # no samples: the playbook's suggested_replicas


@dataclass(frozen=True)
class WorkerRecommendation:
    """A worker count for one queue's deployment and how it was reached.

    ``workers`` is within [``floor``, ``cap``]; ``needed`` is the model's number before
    that clamp. Rates are jobs per minute; ``arrivals_per_minute`` is None when the
    method did not estimate it (and a lower bound when ``ready`` is None).
    """

    queue: str
    deployment: str
    workers: int
    needed: int
    floor: int
    cap: int
    method: Method
    explanation: str
    depth: int | None = None
    per_minute: float | None = None
    arrivals_per_minute: float | None = None
    ready: int | None = None

    @property
    def capped(self) -> bool:
        return self.needed > self.cap


def scale_suggestion(
    playbook: Playbook, queue: str, samples: Sequence[QueueSample], ready: int | None
) -> WorkerRecommendation:
    """The worker count for ``queue``'s deployment from ``samples`` (any window, any
    order: only the last ``capacity.trend_window`` before the newest sample of the
    queue is read) and the deployment's ``ready`` replicas (None: unknown).

    Raises :class:`Refused` when the queue is not in the playbook or has no deployment.
    """
    spec = playbook.queue(queue)
    if spec is None or spec.deployment is None:
        raise Refused(f"`{queue}` has no worker deployment in the playbook, so no worker count.")
    return recommend_workers(
        queue,
        spec.deployment,
        playbook.deployments[spec.deployment],
        playbook.capacity,
        samples,
        ready,
    )


def recommend_workers(
    queue: str,
    deployment_name: str,
    deployment: Deployment,
    capacity: Capacity,
    samples: Sequence[QueueSample],
    ready: int | None,
) -> WorkerRecommendation:
    """:func:`scale_suggestion` with the playbook's parts given one by one."""
    bounds = _Bounds(
        queue,
        deployment_name,
        max(capacity.min_workers, deployment.min_replicas),
        deployment.max_replicas,
    )
    recent = _recent(samples, queue, capacity.trend_window)
    if not recent:
        return _fixed(bounds, deployment.suggested_replicas, ready)
    depth = recent[-1].depths[queue]
    trend = forecast_queue(recent, queue, None)
    reason = _untrusted(trend, recent, capacity, ready)
    if trend is None or reason is not None:
        return _runbook(bounds, capacity, depth, reason or "", ready)
    min_depth = min(s.depths[queue] for s in recent)
    if ready is not None and trend.per_minute < 1 and min_depth < ready:
        return _keeping_up(bounds, capacity, trend, ready)
    return _observed(bounds, capacity, trend, ready)


@dataclass(frozen=True)
class _Bounds:
    queue: str
    deployment: str
    floor: int
    cap: int

    def clamp(self, needed: int) -> tuple[int, str]:
        if needed > self.cap:
            return self.cap, f", capped at the deployment's maximum of {self.cap}"
        if needed < self.floor:
            return self.floor, f", raised to the minimum of {self.floor}"
        return needed, f" (bounds {self.floor} to {self.cap})"


def _recent(samples: Sequence[QueueSample], queue: str, window: timedelta) -> list[QueueSample]:
    mine = sorted((s for s in samples if queue in s.depths), key=lambda s: s.at)
    if not mine:
        return []
    start = mine[-1].at - window
    return [s for s in mine if s.at >= start]


def _untrusted(
    trend: QueueForecast | None,
    recent: Sequence[QueueSample],
    capacity: Capacity,
    ready: int | None,
) -> str | None:
    if trend is None or trend.observed_for < MIN_OBSERVATION:
        span = recent[-1].at - recent[0].at
        return (
            f"only {_count(len(recent), 'sample')} over {format_duration(span)} (a trend "
            f"needs 3 over at least {format_duration(MIN_OBSERVATION)})"
        )
    if trend.slope_error > capacity.jobs_per_worker_minute:
        return (
            f"the trend is too noisy (±{trend.slope_error:,.0f}/min, more than one worker's "
            f"{capacity.jobs_per_worker_minute}/min)"
        )
    if ready is None and trend.per_minute < 1:
        # Growth alone bounds the arrivals from below; without it there is no estimate.
        return "the ready workers are unknown and the queue is not growing"
    return None


def _observed(
    bounds: _Bounds, capacity: Capacity, trend: QueueForecast, ready: int | None
) -> WorkerRecommendation:
    rate = capacity.jobs_per_worker_minute
    drain_minutes = capacity.drain_within.total_seconds() / 60
    if ready is None:
        arrivals = max(trend.per_minute, 0.0)
        seen = f"with the ready workers unknown → at least {arrivals:,.0f} arrivals/min"
    else:
        arrivals = max(trend.per_minute + ready * rate, 0.0)
        seen = f"with {_count(ready, 'worker')} ready → about {arrivals:,.0f} arrivals/min"
    needed = _ceil((arrivals + trend.depth / drain_minutes) / rate)
    workers, bound = bounds.clamp(needed)
    text = (
        f"{bounds.queue}: {trend.depth:,} waiting, {_motion(trend.per_minute)} {seen}; "
        f"at {rate} jobs per worker-minute, clearing the backlog within "
        f"{format_duration(capacity.drain_within)} needs {_count(needed, 'worker')}{bound}"
    )
    return _recommendation(bounds, workers, needed, Method.OBSERVED, text, trend, arrivals, ready)


def _keeping_up(
    bounds: _Bounds, capacity: Capacity, trend: QueueForecast, ready: int
) -> WorkerRecommendation:
    workers, bound = bounds.clamp(ready)
    text = (
        f"{bounds.queue}: {trend.depth:,} waiting, {_motion(trend.per_minute)} with "
        f"{_count(ready, 'worker')} ready: they keep up (at times fewer jobs waited than "
        f"workers), so arrivals are at most their {ready * capacity.jobs_per_worker_minute:,}"
        f"/min and cannot be measured; keeping {_count(ready, 'worker')}{bound}"
    )
    return _recommendation(bounds, workers, ready, Method.KEEPING_UP, text, trend, None, ready)


def _runbook(
    bounds: _Bounds, capacity: Capacity, depth: int, reason: str, ready: int | None
) -> WorkerRecommendation:
    rate = capacity.jobs_per_worker_minute
    per_worker = rate * capacity.drain_within.total_seconds() / 60
    exact = depth / per_worker
    needed = _ceil(exact)
    workers, bound = bounds.clamp(needed)
    text = (
        f"{bounds.queue}: {depth:,} waiting; {reason}, so the runbook's simple form: "
        f"{depth:,} ÷ {per_worker:,.0f} (one worker's {rate} jobs per minute for "
        f"{format_duration(capacity.drain_within)}) = {exact:,.1f} → "
        f"{_count(needed, 'worker')}{bound}"
    )
    return WorkerRecommendation(
        bounds.queue,
        bounds.deployment,
        workers,
        needed,
        bounds.floor,
        bounds.cap,
        Method.RUNBOOK,
        text,
        depth=depth,
        ready=ready,
    )


def _fixed(bounds: _Bounds, suggested: int | None, ready: int | None) -> WorkerRecommendation:
    if suggested is not None:
        needed, why = suggested, f"the playbook's suggested_replicas for {bounds.deployment}"
    elif ready is not None:
        needed, why = ready, "keeping the ready workers"
    else:
        needed, why = bounds.floor, "the minimum"
    workers, bound = bounds.clamp(needed)
    text = f"{bounds.queue}: no depth samples yet, so {why}: {_count(needed, 'worker')}{bound}"
    return WorkerRecommendation(
        bounds.queue,
        bounds.deployment,
        workers,
        needed,
        bounds.floor,
        bounds.cap,
        Method.FIXED,
        text,
        ready=ready,
    )


def _recommendation(
    bounds: _Bounds,
    workers: int,
    needed: int,
    method: Method,
    text: str,
    trend: QueueForecast,
    arrivals: float | None,
    ready: int | None,
) -> WorkerRecommendation:
    return WorkerRecommendation(
        bounds.queue,
        bounds.deployment,
        workers,
        needed,
        bounds.floor,
        bounds.cap,
        method,
        text,
        depth=trend.depth,
        per_minute=trend.per_minute,
        arrivals_per_minute=arrivals,
        ready=ready,
    )


def _ceil(value: float) -> int:
    # Least squares leaves float dust (14.000000000002): it must not add a worker.
    return max(math.ceil(round(value, 6)), 0)


def _motion(per_minute: float) -> str:
    if abs(per_minute) < 1:
        return "steady"
    if per_minute > 0:
        return f"growing {per_minute:,.0f}/min"
    return f"draining {-per_minute:,.0f}/min"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
