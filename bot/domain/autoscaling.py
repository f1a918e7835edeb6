"""HorizontalPodAutoscaler settings for a worker deployment, with the reasoning.

The shape is the runbook's "Implement Auto-scaling" example (``autoscaling/v2``,
``minReplicas``/``maxReplicas`` and a ``Pods`` metric ``queue_size_per_pod`` with an
``AverageValue`` target). The numbers come from the capacity model
(:mod:`bot.domain.capacity`) and the hour-of-week prediction (:mod:`bot.domain.weekly`):

* ``queue_size_per_pod`` = ``jobs_per_worker_minute`` * ``drain_within`` minutes: at that
  average each pod clears its share of the backlog within ``drain_within``, the same
  target the capacity model uses (the runbook's example uses 100, which scales out
  five times earlier);
* ``minReplicas``: enough workers to keep up with the arrivals observed now (so the
  backlog that became this incident would not have built up while the autoscaler
  waited for the metric) and to hold the predicted peak hour's usual depth at the
  per-pod target, never below the capacity floor;
* ``maxReplicas``: the deployment's ``max_replicas``, the playbook's hard limit.

Everything is clamped to [floor, cap] of the :class:`WorkerRecommendation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.domain.capacity import Method, WorkerRecommendation
from bot.domain.playbook import Capacity
from bot.domain.report import format_duration
from bot.domain.weekly import WeeklyForecast


@dataclass(frozen=True)
class HpaRecommendation:
    """``queue_per_pod`` is the ``AverageValue`` target of ``queue_size_per_pod``
    (jobs per pod); each ``*_reason`` says how its number was reached."""

    deployment: str
    min_replicas: int
    max_replicas: int
    queue_per_pod: int
    min_reason: str
    max_reason: str
    per_pod_reason: str


def recommend_hpa(
    now: WorkerRecommendation, weekly: WeeklyForecast, capacity: Capacity
) -> HpaRecommendation:
    rate = capacity.jobs_per_worker_minute
    drain = format_duration(capacity.drain_within)
    per_pod = max(round(rate * capacity.drain_within.total_seconds() / 60), 1)
    wanted = [(now.floor, f"the floor is {now.floor} (capacity.min_workers, min_replicas)")]
    arrivals = now.arrivals_per_minute
    if now.method is Method.OBSERVED and now.ready is not None and arrivals is not None:
        keep_up = math.ceil(round(arrivals / rate, 6))
        wanted.append(
            (
                keep_up,
                f"the ~{arrivals:,.0f} jobs/min arriving now need {keep_up} to keep up "
                f"({rate} per worker-minute), so the backlog would not have built up "
                "before the autoscaler reacted",
            )
        )
    peak = weekly.peak
    if peak is not None and peak.depth is not None:
        at_peak = math.ceil(round(peak.depth / per_pod, 6))
        wanted.append(
            (
                at_peak,
                f"the usual peak ({peak.at:%a %H:%M}, ~{peak.depth:,.0f} waiting) needs "
                f"{at_peak} at {per_pod:,} per pod",
            )
        )
    best = max(n for n, _ in wanted)
    minimum = min(best, now.cap)
    # Every consideration, largest first (the floor only when it decided): the reader
    # sees what set the number and what else was weighed.
    others = sorted(wanted[1:], key=lambda pair: -pair[0])
    why = [text for _, text in others]
    if not others or others[0][0] < now.floor:
        why.insert(0, wanted[0][1])
    min_reason = f"minReplicas {minimum}: " + "; ".join(why)
    if best > now.cap:
        min_reason += f"; capped at the deployment's maximum of {now.cap}"
    max_reason = f"maxReplicas {now.cap}: the deployment's max_replicas"
    if now.capped:
        max_reason += (
            f"; the capacity model asks for {now.needed} now, so raise max_replicas "
            "(and the cluster's room) or the backlog outlasts "
            f"{drain}"
        )
    per_pod_reason = (
        f"queue_size_per_pod {per_pod:,}: {rate} jobs per worker-minute for {drain}, so each "
        f"pod's share clears within {drain} (the runbook's example uses 100)"
    )
    return HpaRecommendation(
        now.deployment, minimum, now.cap, per_pod, min_reason, max_reason, per_pod_reason
    )
