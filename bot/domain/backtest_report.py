"""A backtest as people read it: a Markdown table and one headline.

The table is fixed-width text in a code block, so it lines up the same in a
Markdown file (``backlog-bot backtest``) and in Slack, which has no tables. The
chart it names is drawn from :mod:`bot.domain.backtest_chart`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import pairwise

from bot.domain.backtest import (
    HOUR,
    Alert,
    BacktestResult,
    Detection,
    HourlyReading,
    Period,
    Resolution,
    day_minute,
    short_minute,
)
from bot.domain.backtest_chart import Focus
from bot.domain.report import format_duration
from bot.domain.rule_changes import rule_condition


def headline(backtest: BacktestResult, focus: Focus) -> str:
    """One or two sentences: what changed and what it would have done."""
    changed = "; ".join(d.describe() for d in backtest.diffs) or "no rule change"
    now, then = backtest.current, backtest.candidate
    parts = [
        f"{len(then.alerts)} alert(s) instead of {len(now.alerts)}",
        f"{len(then.flaps)} flap(s) instead of {len(now.flaps)}",
    ]
    missed = backtest.replayable - backtest.seen(candidate=True)
    if missed:
        parts.append(f"{missed} real incident(s) missed")
    shifts = [d for d in backtest.detections if d.replayable and d.candidate and d.current]
    parts += [f"#{d.incident.id} {_shift(d)}" for d in shifts[:3]]
    span = format_duration(backtest.history.end - backtest.history.start)
    return f"Backtest of {changed} over {span} of history: {', '.join(parts)}."


def render_backtest(
    backtest: BacktestResult,
    focus: Focus,
    *,
    chart_file: str | None = None,
    max_rows: int | None = None,
) -> str:
    """The backtest as Markdown (headings, bold, a fixed-width table in a code block);
    ``chart_file`` links the chart image; ``max_rows`` caps each list (None: all)."""
    since, until = backtest.history.requested
    lines = [
        "## Backtest: " + ("; ".join(d.describe() for d in backtest.diffs) or "no rule change"),
        "",
        f"Playbook `{backtest.playbook}`, {day_minute(since)} to {day_minute(until)} UTC; "
        f"flaps are alerts back within the quiet period of {format_duration(backtest.quiet)}.",
        "",
        "**Replayed at**",
        *(_period_line(p, backtest.history.reading) for p in backtest.history.periods),
        *_coverage(backtest),
        "",
        "```",
        *_table(backtest),
        "```",
    ]
    lines += _incident_rows(backtest, max_rows)
    lines += _alert_list(
        "Alerts only the candidate raises (no real incident then)",
        backtest.unmatched(candidate=True),
        backtest,
        max_rows,
    )
    lines += _alert_list("Candidate flaps", backtest.candidate.flaps, backtest, max_rows)
    lines += ["", f"**Chart**: {focus.why}; current threshold dashed, candidate's dotted."]
    if chart_file:
        lines += ["", f"![{focus.title}]({chart_file})"]
    lines += _notes(backtest)
    return "\n".join(lines).rstrip() + "\n"


def _period_line(period: Period, reading: HourlyReading) -> str:
    span = f"- {day_minute(period.start)} to {day_minute(period.end)} UTC:"
    if period.resolution is Resolution.RAW:
        return f"{span} raw samples ({period.stored:,}), as the monitor saw them."
    word = "maximum" if reading is HourlyReading.MAX else "mean"
    effect = (
        "an hour that peaked above a threshold counts as above for the whole hour"
        if reading is HourlyReading.MAX
        else "a spike shorter than the hour disappears"
    )
    return (
        f"{span} hourly rollups ({period.stored:,} hours), each hour replayed as its {word} "
        f"depth. This approximates: {effect}, detection times are good to about an hour and "
        "flapping within an hour cannot be seen."
    )


def _coverage(backtest: BacktestResult) -> list[str]:
    """Lines for the stretches of the period with nothing stored (over an hour)."""
    history = backtest.history
    since = history.requested[0]
    lines = []
    if history.start - since > HOUR:
        lines.append(
            f"- Nothing is stored before {day_minute(history.start)} UTC, so the "
            f"{format_duration(history.start - since)} before it were not replayed."
        )
    for before, after in pairwise(history.periods):
        if after.start - before.end > HOUR:
            lines.append(
                f"- Nothing is stored from {day_minute(before.end)} to "
                f"{day_minute(after.start)} UTC ({format_duration(after.start - before.end)}): "
                "nothing was sampled then."
            )
    return lines


def _table(backtest: BacktestResult) -> list[str]:
    now, then = backtest.current, backtest.candidate
    total = backtest.replayable
    rows = [
        ("", "current", "candidate"),
        ("alerts", str(len(now.alerts)), str(len(then.alerts))),
        (
            "  for real incidents",
            f"{backtest.seen(candidate=False)} of {total}",
            f"{backtest.seen(candidate=True)} of {total}",
        ),
        (
            "  with no real incident",
            str(len(backtest.unmatched(candidate=False))),
            str(len(backtest.unmatched(candidate=True))),
        ),
        (
            "real incidents missed",
            str(total - backtest.seen(candidate=False)),
            str(total - backtest.seen(candidate=True)),
        ),
        ("time firing", format_duration(now.firing), format_duration(then.firing)),
        (
            f"flaps (back < {format_duration(backtest.quiet)})",
            str(len(now.flaps)),
            str(len(then.flaps)),
        ),
    ]
    return _aligned(rows)


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _incident_rows(backtest: BacktestResult, max_rows: int | None) -> list[str]:
    if not backtest.detections:
        return ["", "**Real incidents**: none was detected in this period."]
    rows = [("incident", "detected (UTC)", "current replay", "candidate", "change")]
    shown = backtest.detections[:max_rows] if max_rows else backtest.detections
    for d in shown:
        rows.append(
            (
                f"#{d.incident.id}",
                short_minute(d.incident.detected_at),
                _time(d.current) if d.replayable else "no samples",
                _time(d.candidate) if d.replayable else "no samples",
                _shift(d) if d.replayable else "not replayable",
            )
        )
    lines = ["", "**Real incidents** (the incidents table)", "```", *_aligned(rows), "```"]
    if len(shown) < len(backtest.detections):
        lines.append(f"_…and {len(backtest.detections) - len(shown)} more._")
    return lines


def _time(alert: Alert | None) -> str:
    if alert is None:
        return "missed"
    approx = "~" if alert.resolution is Resolution.HOURLY else ""
    return f"{approx}{short_minute(alert.fired_at)}"


def _shift(d: Detection) -> str:
    shift = d.shift
    if shift is None:
        return "missed"
    if abs(shift) < timedelta(seconds=1):
        return "detected at the same time"
    word = "earlier" if shift < timedelta(0) else "later"
    return f"detected {format_duration(abs(shift))} {word}"


def _alert_list(
    title: str, alerts: Sequence[Alert], backtest: BacktestResult, max_rows: int | None
) -> list[str]:
    if not alerts:
        return []
    shown = alerts[:max_rows] if max_rows else alerts
    lines = ["", f"**{title}**: {len(alerts)}"]
    for alert in shown:
        lasted = format_duration(alert.until(backtest.history.end) - alert.fired_at)
        still = "" if alert.cleared_at else ", still firing at the end"
        lines.append(
            f"- {short_minute(alert.fired_at)} UTC for {lasted}{still}: {alert.rule}, peak "
            f"{alert.peak:,} ({alert.resolution.value})"
        )
    if len(shown) < len(alerts):
        lines.append(f"- _…and {len(alerts) - len(shown)} more._")
    return lines


def _notes(backtest: BacktestResult) -> list[str]:
    notes = []
    if backtest.not_replayed:
        names = ", ".join(f"`{n}`" for n in backtest.not_replayed)
        notes.append(
            f"- Not replayed: {names} (evaluated by Prometheus; the bot stores no samples for it)."
        )
    if backtest.unsampled_queues:
        names = ", ".join(f"`{q}`" for q in backtest.unsampled_queues)
        notes.append(
            f"- No samples are stored for {names}: the candidate's rules on it never fire."
        )
    rules = "; ".join(rule_condition(r) for r in backtest.candidate.rules)
    notes.append(f"- Candidate depth rules: {rules or 'none'}.")
    return ["", "**Notes**", *notes]
