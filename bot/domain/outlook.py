"""``/backlog forecast``'s answer: each queue now (trend and the capacity model's worker
count), the next 24 hours by hour of week, and the HPA settings that follow, as
Slack mrkdwn kept well under Slack's 3,000-character section limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.domain.autoscaling import HpaRecommendation, recommend_hpa
from bot.domain.capacity import WorkerRecommendation, scale_suggestion
from bot.domain.forecast import QueueForecast, forecast_queue
from bot.domain.models import QueueSample
from bot.domain.playbook import Playbook
from bot.domain.report import format_duration
from bot.domain.weekly import HourForecast, HourlyDepth, WeeklyForecast, predict_next_hours

HOURS_AHEAD = 24
_PER_ROW = 6


@dataclass(frozen=True)
class QueueOutlook:
    """Everything ``/backlog forecast`` says about one queue; ``workers`` and ``hpa`` are
    None for a queue without a deployment."""

    queue: str
    trend: QueueForecast | None
    workers: WorkerRecommendation | None
    weekly: WeeklyForecast
    hpa: HpaRecommendation | None


def build_outlooks(
    playbook: Playbook,
    recent: Sequence[QueueSample],
    history: Mapping[str, Sequence[HourlyDepth]],
    ready: Mapping[str, int | None],
    now: datetime,
    *,
    tz: tzinfo = UTC,
) -> list[QueueOutlook]:
    """One outlook per playbook queue from the recent raw samples (the trend window),
    the hourly history per queue and the ready replicas per deployment (None or
    missing: unknown)."""
    thresholds = {r.queue: r.threshold for r in playbook.rules if r.threshold}
    outlooks = []
    for queue in playbook.queues:
        trend = forecast_queue(recent, queue.name, thresholds.get(queue.name))
        weekly = predict_next_hours(
            queue.name, history.get(queue.name, ()), now, hours=HOURS_AHEAD, tz=tz
        )
        workers = hpa = None
        if queue.deployment:
            workers = scale_suggestion(playbook, queue.name, recent, ready.get(queue.deployment))
            hpa = recommend_hpa(workers, weekly, playbook.capacity)
        outlooks.append(QueueOutlook(queue.name, trend, workers, weekly, hpa))
    return outlooks


def render_outlooks(
    outlooks: Sequence[QueueOutlook],
    playbook: Playbook,
    *,
    notes: Sequence[str] = (),
    tz_name: str = "UTC",
) -> str:
    """The reply: ``notes`` (e.g. a deployment whose ready count could not be read)
    follow the "now" lines."""
    window = format_duration(playbook.capacity.trend_window)
    lines = [f"*Forecast: now* (trend of the last {window} of samples)"]
    lines += [_now_line(o) for o in outlooks]
    lines += [f"• {note}" for note in notes]
    lines.append(
        f"*Next {HOURS_AHEAD} h by hour of week* ({tz_name}; mean depth at the same weekday "
        "and hour, the runbook's method)"
    )
    # Queues with no prediction usually share the reason (the bot is new): say it once.
    unpredicted: dict[str, list[str]] = {}
    for outlook in outlooks:
        if outlook.weekly.hours:
            lines += _weekly_lines(outlook.queue, outlook.weekly)
        else:
            unpredicted.setdefault(outlook.weekly.describe(), []).append(f"`{outlook.queue}`")
    lines += [f"{', '.join(queues)}: {why}." for why, queues in unpredicted.items()]
    hpas = [o.hpa for o in outlooks if o.hpa is not None]
    for hpa in hpas:
        lines += _hpa_lines(hpa)
    if hpas:  # the per-pod target is the same for every deployment: its reason once
        lines.append(f"• {hpas[0].per_pod_reason}")
    return "\n".join(lines)


def _now_line(outlook: QueueOutlook) -> str:
    trend, workers = outlook.trend, outlook.workers
    if workers is None:
        return f"• {trend.describe()}" if trend else f"• `{outlook.queue}`: not enough samples yet"
    why = workers.explanation.removeprefix(f"{outlook.queue}: ")
    return (
        f"• `{outlook.queue}` → *{workers.workers}* `{workers.deployment}` workers: "
        f"{why}{_eta(trend)}"
    )


def _eta(trend: QueueForecast | None) -> str:
    if trend is None or abs(trend.per_minute) < 1:
        return ""
    if trend.crosses_threshold_in and trend.threshold is not None:
        return f"; above {trend.threshold:,} in ~{format_duration(trend.crosses_threshold_in)}"
    if trend.empty_in is not None:
        return f"; empty in ~{format_duration(trend.empty_in)} at this rate"
    return ""


def _weekly_lines(queue: str, weekly: WeeklyForecast) -> list[str]:
    head = f"`{queue}`: {weekly.describe()}"
    peak = weekly.peak
    if peak is not None and peak.depth is not None:
        spread = f" (±{peak.spread:,.0f})" if peak.spread is not None else ""
        head += f". Peak {peak.at:%a %H:%M} ~{peak.depth:,.0f}{spread}"
    unseen = weekly.unseen
    if unseen:
        head += (
            f". No history for {len(unseen)} of these hours ({unseen[0].at:%a %H:%M} first): "
            "not guessed, shown as ?"
        )
    rows = [weekly.hours[i : i + _PER_ROW] for i in range(0, len(weekly.hours), _PER_ROW)]
    grid = "\n".join(_row(row) for row in rows)
    return [head + ".", f"```{grid}```"]


def _row(hours: Sequence[HourForecast]) -> str:
    cells = " ".join(f"{_compact(h.depth):>5}" for h in hours)
    return f"{hours[0].at:%a %H:%M} {cells}"


def _compact(depth: float | None) -> str:
    if depth is None:
        return "?"
    if depth >= 999_500:
        return f"{depth / 1e6:.1f}M"
    if depth >= 9_950:
        return f"{depth / 1e3:.0f}k"
    if depth >= 999.5:
        return f"{depth / 1e3:.1f}k"
    return f"{depth:.0f}"


def _hpa_lines(hpa: HpaRecommendation) -> list[str]:
    return [
        f"*HPA for `{hpa.deployment}`*: `minReplicas: {hpa.min_replicas}`, "
        f"`maxReplicas: {hpa.max_replicas}`, `queue_size_per_pod` "
        f'`averageValue: "{hpa.queue_per_pod}"`',
        f"• {hpa.min_reason}",
        f"• {hpa.max_reason}",
    ]
