"""``/backlog forecast`` through the real bot: samples stored in PostgreSQL (raw and
folded into hourly rollups), ready replicas read from the Kubernetes API emulator."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.store.history import hourly_depths
from bot.domain.models import QueueSample
from bot.services.monitor import HOURLY_SAMPLES_FOR, RAW_SAMPLES_FOR

EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"


def usual(at, now) -> int:
    """The known weekly pattern: 3,000 on Saturdays 13:00-15:59, else 100; one week
    10 % under it, the next 10 % over, so the weeks differ by ±14 % (0.1 x sqrt 2)."""
    level = 3_000 if at.weekday() == 5 and 13 <= at.hour < 16 else 100
    return round(level * (0.9 if (now - at) // timedelta(days=7) % 2 == 0 else 1.1))


async def store_history(store, playbook, now, days: int) -> None:
    """One sample in the middle of every past hour for ``days``, then the bot's own
    pruning folds those older than 48 h into hourly rows, as in production."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    for back in range(days * 24, 0, -1):
        at = this_hour - timedelta(hours=back) + timedelta(minutes=30)
        depth = usual(at, now)
        await store.save_sample(
            playbook.name, QueueSample(at, {EMAIL: depth, ANALYSIS: depth // 10})
        )
    await store.prune_samples(now, raw_for=RAW_SAMPLES_FOR, hourly_for=HOURLY_SAMPLES_FOR)


async def test_forecast_now_next_day_and_hpa_from_stored_history(sandbox, clock, playbook):
    store = sandbox.runtime.store
    now = clock()  # Saturday 2026-11-28 09:00 UTC
    await store_history(store, playbook, now, days=15)
    hourly = await hourly_depths(store, playbook.name, now - HOURLY_SAMPLES_FOR, now)
    assert len(hourly[EMAIL]) == 15 * 24  # 13 days of rollups + 48 h still raw, as one
    for minute in range(11):  # the last 10 minutes: 2,400 → 4,200, +180/min
        at = now - timedelta(minutes=10 - minute)
        await store.save_sample(
            playbook.name, QueueSample(at, {EMAIL: 2400 + 180 * minute, ANALYSIS: 40})
        )
    sandbox.kube.fail_next(
        "get", "deployments", 403, message="forbidden", name="phishnet-worker-analysis"
    )

    answer = await sandbox.command("alice", "forecast")

    lines = answer.text.splitlines()
    assert lines[0] == "*Forecast: now* (trend of the last 15m of samples)"
    # The sandbox runs 2 email workers: 180 + 2 x 50 = 280 arriving; (280 + 420) / 50 = 14.
    assert lines[1] == (
        "• `email_processing_queue` → *14* `phishnet-worker-email` workers: 4,200 waiting, "
        "growing 180/min with 2 workers ready → about 280 arrivals/min; at 50 jobs per "
        "worker-minute, clearing the backlog within 10m needs 14 workers (bounds 2 to 20)"
    )
    assert lines[2] == (
        "• `analysis_queue` → *2* `phishnet-worker-analysis` workers: 40 waiting; the ready "
        "workers are unknown and the queue is not growing, so the runbook's simple form: "
        "40 ÷ 500 (one worker's 50 jobs per minute for 10m) = 0.1 → 1 worker, raised to the "
        "minimum of 2"
    )
    assert lines[4].startswith(
        "• `phishnet-worker-analysis`: ready workers unknown (The bot lacks a Kubernetes permission"
    )
    assert (
        "`email_processing_queue`: from 2 weeks 1 day of history, 168 of 168 hour-of-week "
        "slots seen; weeks differ by ±14% (good). Peak Sat 13:00 ~3,000 (±424)."
    ) in lines
    assert (
        "`notification_queue`: only under an hour of history: an hour-of-week prediction "
        "needs at least one full week, so none yet."
    ) in lines
    email_grid = answer.text.split("```")[1].splitlines()
    assert email_grid == [
        "Sat 10:00   100   100   100  3.0k  3.0k  3.0k",
        "Sat 16:00   100   100   100   100   100   100",
        "Sat 22:00   100   100   100   100   100   100",
        "Sun 04:00   100   100   100   100   100   100",
    ]
    assert (
        "*HPA for `phishnet-worker-email`*: `minReplicas: 6`, `maxReplicas: 20`, "
        '`queue_size_per_pod` `averageValue: "500"`'
    ) in lines
    assert (
        "• minReplicas 6: the ~280 jobs/min arriving now need 6 to keep up (50 per "
        "worker-minute), so the backlog would not have built up before the autoscaler "
        "reacted; the usual peak (Sat 13:00, ~3,000 waiting) needs 6 at 500 per pod"
    ) in lines
    assert len(answer.text) < 3_000
