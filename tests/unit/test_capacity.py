"""The one capacity model: its numbers against hand-computed cases, and its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.domain.capacity import Method, recommend_workers, scale_suggestion
from bot.domain.errors import Refused
from bot.domain.models import QueueSample
from bot.domain.playbook import Capacity, Deployment, PlaybookError, parse_playbook

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
EMAIL = "email_processing_queue"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def minutes(*depths: int, every: timedelta = timedelta(minutes=1)) -> list[QueueSample]:
    return [QueueSample(T0 + i * every, {EMAIL: d}) for i, d in enumerate(depths)]


def line(start: int, per_minute: int, count: int = 11) -> list[QueueSample]:
    return minutes(*(start + per_minute * m for m in range(count)))


def test_the_runbook_example_growing_queue(playbook):
    # 4,200 waiting, +180/min, 2 ready → arrivals 180 + 2 x 50 = 280/min;
    # (280 + 4,200 / 10) / 50 = 700 / 50 = 14 workers.
    rec = scale_suggestion(playbook, EMAIL, line(2400, 180), ready=2)
    assert (rec.workers, rec.needed, rec.method) == (14, 14, Method.OBSERVED)
    assert rec.deployment == "phishnet-worker-email"
    assert rec.arrivals_per_minute == pytest.approx(280)
    assert rec.explanation == (
        "email_processing_queue: 4,200 waiting, growing 180/min with 2 workers ready → "
        "about 280 arrivals/min; at 50 jobs per worker-minute, clearing the backlog within "
        "10m needs 14 workers (bounds 2 to 20)"
    )


def test_a_draining_queue_still_counts_what_arrives(playbook):
    # -300/min with 10 ready → arrivals 500 - 300 = 200/min; (200 + 420) / 50 = 12.4 → 13.
    rec = scale_suggestion(playbook, EMAIL, line(7200, -300), ready=10)
    assert (rec.workers, rec.method) == (13, Method.OBSERVED)
    assert "4,200 waiting, draining 300/min with 10 workers ready → about 200 arrivals/min" in (
        rec.explanation
    )


def test_capped_at_the_deployments_maximum(playbook):
    # 12,000 waiting, +500/min, 4 ready → arrivals 700; (700 + 1,200) / 50 = 38 → 20.
    rec = scale_suggestion(playbook, EMAIL, line(7000, 500), ready=4)
    assert (rec.workers, rec.needed, rec.capped) == (20, 38, True)
    assert rec.explanation.endswith("needs 38 workers, capped at the deployment's maximum of 20")


def test_raised_to_the_larger_of_the_capacity_floor_and_min_replicas():
    deployment = Deployment(pod_selector="app=w", min_replicas=3, max_replicas=8)
    # 100 waiting, +5/min, 0 ready → arrivals 5; (5 + 10) / 50 = 0.3 → 1 → floor max(2, 3).
    rec = recommend_workers(EMAIL, "w", deployment, Capacity(), line(50, 5), ready=0)
    assert (rec.workers, rec.needed, rec.floor, rec.cap) == (3, 1, 3, 8)
    assert rec.explanation.endswith("needs 1 worker, raised to the minimum of 3")


def test_too_short_an_observation_falls_back_to_the_runbooks_form(playbook):
    # Two samples a minute apart: no trend. 4,200 / (50 x 10) = 8.4; the runbook's int()
    # would say 8, which clears 4,000 in 10 minutes; we round up to 9.
    rec = scale_suggestion(playbook, EMAIL, minutes(4000, 4200), ready=2)
    assert (rec.workers, rec.method) == (9, Method.RUNBOOK)
    assert rec.explanation == (
        "email_processing_queue: 4,200 waiting; only 2 samples over 1m (a trend needs 3 over "
        "at least 2m), so the runbook's simple form: 4,200 ÷ 500 (one worker's 50 jobs per "
        "minute for 10m) = 8.4 → 9 workers (bounds 2 to 20)"
    )
    # Three samples 20 s apart are a line, but too short a one to trust.
    short = minutes(3800, 4000, 4200, every=timedelta(seconds=20))
    assert scale_suggestion(playbook, EMAIL, short, ready=2).method is Method.RUNBOOK


def test_a_noisy_trend_falls_back_and_says_how_noisy(playbook):
    noisy = minutes(4000, 1000, 7000, 1500, 6500, 2000, 4200)
    rec = scale_suggestion(playbook, EMAIL, noisy, ready=2)
    assert (rec.workers, rec.method) == (9, Method.RUNBOOK)
    assert "the trend is too noisy (±" in rec.explanation
    assert "more than one worker's 50/min), so the runbook's simple form" in rec.explanation


def test_unknown_ready_workers_bound_arrivals_by_the_growth(playbook):
    # At least 180 arriving; (180 + 420) / 50 = 12.
    rec = scale_suggestion(playbook, EMAIL, line(2400, 180), ready=None)
    assert (rec.workers, rec.method, rec.ready) == (12, Method.OBSERVED, None)
    assert "with the ready workers unknown → at least 180 arrivals/min" in rec.explanation
    flat = scale_suggestion(playbook, EMAIL, line(4200, 0), ready=None)
    assert (flat.workers, flat.method) == (9, Method.RUNBOOK)
    assert "the ready workers are unknown and the queue is not growing" in flat.explanation


def test_workers_that_keep_up_are_kept(playbook):
    # An empty queue says nothing about arrivals below what 6 workers handle.
    rec = scale_suggestion(playbook, EMAIL, line(0, 0), ready=6)
    assert (rec.workers, rec.method, rec.arrivals_per_minute) == (6, Method.KEEPING_UP, None)
    assert rec.explanation == (
        "email_processing_queue: 0 waiting, steady with 6 workers ready: they keep up (at "
        "times fewer jobs waited than workers), so arrivals are at most their 300/min and "
        "cannot be measured; keeping 6 workers (bounds 2 to 20)"
    )
    # Nobody ready and nothing waiting: nothing arrives; the floor.
    idle = scale_suggestion(playbook, EMAIL, line(0, 0), ready=0)
    assert (idle.workers, idle.needed, idle.method) == (2, 0, Method.OBSERVED)


def test_without_samples_the_playbooks_suggested_replicas(playbook):
    rec = scale_suggestion(playbook, EMAIL, [], ready=2)
    assert (rec.workers, rec.method) == (6, Method.FIXED)
    assert rec.explanation == (
        "email_processing_queue: no depth samples yet, so the playbook's suggested_replicas "
        "for phishnet-worker-email: 6 workers (bounds 2 to 20)"
    )
    bare = Deployment(pod_selector="app=w", max_replicas=8)
    kept = recommend_workers(EMAIL, "w", bare, Capacity(), [], ready=3)
    assert (kept.workers, kept.method) == (3, Method.FIXED)
    assert "keeping the ready workers: 3 workers" in kept.explanation
    assert recommend_workers(EMAIL, "w", bare, Capacity(), [], ready=None).workers == 2


def test_only_the_trend_window_before_the_newest_sample_counts(playbook):
    old = QueueSample(T0 - timedelta(hours=1), {EMAIL: 90_000})
    other_queue = QueueSample(T0 + timedelta(minutes=30), {"analysis_queue": 5})
    samples = [other_queue, *line(2400, 180), old]
    assert scale_suggestion(playbook, EMAIL, samples, ready=2).workers == 14


def test_a_queue_without_workers_has_no_worker_count(playbook):
    with pytest.raises(Refused) as caught:
        scale_suggestion(playbook, "notification_queue", line(0, 10), ready=None)
    assert str(caught.value) == (
        "`notification_queue` has no worker deployment in the playbook, so no worker count."
    )


def _problems(edit) -> list[tuple[str, str]]:
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data["capacity"])
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data), "broken.yml")
    return [(p.field, p.reason) for p in caught.value.problems]


def test_the_playbooks_capacity_is_validated():
    [(field, reason)] = _problems(lambda c: c.update(drain_within="0s"))
    assert field == "capacity.drain_within" and "greater than or equal to 1 minute" in reason
    [(field, reason)] = _problems(lambda c: c.update(trend_window="30s"))
    assert field == "capacity.trend_window" and "greater than or equal to 2 minutes" in reason
    assert sorted(_problems(lambda c: c.update(min_workers=25))) == [
        ("capacity.min_workers", f"25 is above deployments.{name}.max_replicas (20)")
        for name in ("phishnet-worker-analysis", "phishnet-worker-email")
    ]
