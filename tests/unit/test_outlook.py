"""``/backlog forecast``'s answer: HPA numbers with their reasons, and the reply text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.autoscaling import recommend_hpa
from bot.domain.capacity import scale_suggestion
from bot.domain.models import QueueSample
from bot.domain.outlook import build_outlooks, render_outlooks
from bot.domain.weekly import HourlyDepth, predict_next_hours

NOW = datetime(2026, 11, 24, 10, 20, tzinfo=UTC)  # a Tuesday
THIS_HOUR = NOW.replace(minute=0)
EMAIL = "email_processing_queue"


def weekly_history(peak: float, weeks: int = 6, skip=lambda at: False) -> list[HourlyDepth]:
    """Flat at 100 except Tuesdays 14:00, at ``peak``."""
    points = []
    for back in range(weeks * 168, 0, -1):
        at = THIS_HOUR - timedelta(hours=back)
        if not skip(at):
            depth = peak if (at.weekday(), at.hour) == (1, 14) else 100.0
            points.append(HourlyDepth(at, depth, int(depth)))
    return points


def growing(start: int, per_minute: int, queue: str = EMAIL) -> list[QueueSample]:
    return [
        QueueSample(NOW - timedelta(minutes=10 - m), {queue: start + per_minute * m})
        for m in range(11)
    ]


def test_hpa_min_replicas_keep_up_with_the_arrivals_seen_now(playbook):
    # 280 jobs/min arriving (180 growth + 2 x 50) → 6 workers keep up; the usual peak of
    # 1,900 at 500 per pod needs 4: minReplicas 6.
    now = scale_suggestion(playbook, EMAIL, growing(2400, 180), ready=2)
    weekly = predict_next_hours(EMAIL, weekly_history(1900), NOW)
    hpa = recommend_hpa(now, weekly, playbook.capacity)
    assert (hpa.min_replicas, hpa.max_replicas, hpa.queue_per_pod) == (6, 20, 500)
    assert hpa.min_reason == (
        "minReplicas 6: the ~280 jobs/min arriving now need 6 to keep up (50 per "
        "worker-minute), so the backlog would not have built up before the autoscaler "
        "reacted; the usual peak (Tue 14:00, ~1,900 waiting) needs 4 at 500 per pod"
    )
    assert hpa.max_reason == "maxReplicas 20: the deployment's max_replicas"
    assert hpa.per_pod_reason == (
        "queue_size_per_pod 500: 50 jobs per worker-minute for 10m, so each pod's share "
        "clears within 10m (the runbook's example uses 100)"
    )


def test_hpa_min_replicas_hold_the_predicted_peak(playbook):
    now = scale_suggestion(playbook, EMAIL, growing(0, 0), ready=2)  # keeping up: no rate
    hpa = recommend_hpa(
        now, predict_next_hours(EMAIL, weekly_history(4_100), NOW), playbook.capacity
    )
    assert hpa.min_replicas == 9  # 4,100 / 500 = 8.2 → 9
    assert (
        hpa.min_reason
        == "minReplicas 9: the usual peak (Tue 14:00, ~4,100 waiting) needs 9 at 500 per pod"
    )


def test_hpa_floor_and_cap(playbook):
    quiet = scale_suggestion(playbook, EMAIL, [], ready=None)
    short = predict_next_hours(EMAIL, weekly_history(100, weeks=0), NOW)
    hpa = recommend_hpa(quiet, short, playbook.capacity)
    assert hpa.min_replicas == 2
    assert hpa.min_reason == "minReplicas 2: the floor is 2 (capacity.min_workers, min_replicas)"
    # 12,000 waiting, +500/min, 4 ready: 700 arriving needs 14, the model 38 > 20.
    flood = scale_suggestion(playbook, EMAIL, growing(7000, 500), ready=4)
    big_peak = predict_next_hours(EMAIL, weekly_history(30_000), NOW)
    hpa = recommend_hpa(flood, big_peak, playbook.capacity)
    assert (hpa.min_replicas, hpa.max_replicas) == (20, 20)
    assert hpa.min_reason == (
        "minReplicas 20: the usual peak (Tue 14:00, ~30,000 waiting) needs 60 at 500 per pod; "
        "the ~700 jobs/min arriving now need 14 to keep up (50 per worker-minute), so the "
        "backlog would not have built up before the autoscaler reacted; capped at the "
        "deployment's maximum of 20"
    )
    assert hpa.max_reason == (
        "maxReplicas 20: the deployment's max_replicas; the capacity model asks for 38 now, "
        "so raise max_replicas (and the cluster's room) or the backlog outlasts 10m"
    )


def test_the_reply_says_now_next_day_and_hpa_within_slacks_limits(playbook):
    recent = [
        QueueSample(s.at, {EMAIL: s.depths[EMAIL], "analysis_queue": 300, "notification_queue": 0})
        for s in growing(2400, 180)
    ]
    # The bot was down one Wednesday 03:00 each week: that hour is never seen.
    gap = weekly_history(1900, skip=lambda at: (at.weekday(), at.hour) == (2, 3))
    history = {q: gap for q in playbook.queue_names}
    ready = {"phishnet-worker-email": 2, "phishnet-worker-analysis": None}
    outlooks = build_outlooks(playbook, recent, history, ready, NOW)
    text = render_outlooks(
        outlooks,
        playbook,
        notes=["`phishnet-worker-analysis`: ready workers unknown (Kubernetes said no)"],
    )
    assert len(text) < 3_000
    lines = text.splitlines()
    assert lines[0] == "*Forecast: now* (trend of the last 15m of samples)"
    assert lines[1] == (
        "• `email_processing_queue` → *14* `phishnet-worker-email` workers: 4,200 waiting, "
        "growing 180/min with 2 workers ready → about 280 arrivals/min; at 50 jobs per "
        "worker-minute, clearing the backlog within 10m needs 14 workers (bounds 2 to 20)"
    )
    assert lines[2].startswith(
        "• `analysis_queue` → *2* `phishnet-worker-analysis` workers: 300 waiting; the ready "
        "workers are unknown and the queue is not growing, so the runbook's simple form"
    )
    assert lines[3] == "• `notification_queue`: 0, flat"
    assert lines[4] == "• `phishnet-worker-analysis`: ready workers unknown (Kubernetes said no)"
    assert (
        "`email_processing_queue`: from 6 weeks of history, 167 of 168 hour-of-week slots "
        "seen; weeks differ by ±0% (good). Peak Tue 14:00 ~1,900 (±0). No history for 1 of "
        "these hours (Wed 03:00 first): not guessed, shown as ?."
    ) in lines
    grid = text.split("```")[1].splitlines()
    assert grid == [
        "Tue 11:00   100   100   100  1.9k   100   100",
        "Tue 17:00   100   100   100   100   100   100",
        "Tue 23:00   100   100   100   100     ?   100",
        "Wed 05:00   100   100   100   100   100   100",
    ]
    assert (
        "*HPA for `phishnet-worker-email`*: `minReplicas: 6`, `maxReplicas: 20`, "
        '`queue_size_per_pod` `averageValue: "500"`'
    ) in lines
    assert sum("queue_size_per_pod 500:" in line for line in lines) == 1


def test_too_little_history_is_said_instead_of_a_grid(playbook):
    three_days = weekly_history(1900, weeks=1)[-72:]
    history = {EMAIL: three_days, "analysis_queue": three_days}
    text = render_outlooks(build_outlooks(playbook, [], history, {}, NOW), playbook)
    assert "```" not in text
    lines = text.splitlines()
    assert (
        "`email_processing_queue`, `analysis_queue`: only 3 days of history: an hour-of-week "
        "prediction needs at least one full week, so none yet."
    ) in lines
    assert (
        "`notification_queue`: only under an hour of history: an hour-of-week prediction "
        "needs at least one full week, so none yet."
    ) in lines
    assert (
        "• `email_processing_queue` → *6* `phishnet-worker-email` workers: no depth samples "
        "yet, so the playbook's suggested_replicas for phishnet-worker-email: 6 workers "
        "(bounds 2 to 20)"
    ) in lines
