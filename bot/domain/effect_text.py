"""Effect checks in words and for other views: the verdict message's lines, the
report's line per action, the stored records the living alert, the report and the
chart read (see :mod:`bot.domain.effects` for how a verdict is reached)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from bot.domain.chart import ChartMark, MarkKind
from bot.domain.effects import EffectNumbers, Judgement, Side, Verdict
from bot.domain.playbook import ActionKind
from bot.domain.report import format_duration

_ICONS = {
    Verdict.HELPING: ":white_check_mark:",
    Verdict.NO_EFFECT: ":heavy_minus_sign:",
    Verdict.WORSE: ":small_red_triangle_down:",
    Verdict.FAILED: ":x:",
    Verdict.UNKNOWN: ":grey_question:",
}


def verdict_icon(verdict: Verdict | None) -> str:
    return (
        _ICONS.get(verdict, ":hourglass_flowing_sand:") if verdict else ":hourglass_flowing_sand:"
    )


def describe(judgement: Judgement) -> list[str]:
    """The lines of the verdict message (mrkdwn): the verdict, then before → after."""
    verdict = judgement.verdict
    head = (
        f"{verdict_icon(verdict)} *{verdict.value.capitalize()}*"
        if verdict
        else (f"{verdict_icon(None)} *Watching*")
    )
    lines = [f"{head} — {judgement.reason}"]
    numbers = judgement.numbers
    if numbers is None or numbers.before is None or numbers.after is None:
        return lines
    lines.append(f"• Consumer throughput: {throughput_text(numbers)}")
    lines.append(
        f"• `{numbers.queue}` depth: {numbers.before.depth:,} → {numbers.after.depth:,}; "
        f"{_motion(numbers.before.per_minute)} → {_motion(numbers.after.per_minute)}"
    )
    lines.append(f"• Time to drain: {_until_empty(numbers.before)} → {_until_empty(numbers.after)}")
    return lines


def throughput_text(numbers: EffectNumbers) -> str:
    """``~100/min → ~1,060/min (+960/min)``, or the change alone when the worker count
    before the action is unknown."""
    change = numbers.change or 0.0
    if numbers.throughput_before is None or numbers.throughput_after is None:
        return f"{change:+,.0f} jobs/min (the workers before are unknown: the change only)"
    return (
        f"~{numbers.throughput_before:,.0f}/min → ~{numbers.throughput_after:,.0f}/min "
        f"({change:+,.0f}/min)"
    )


def report_line(
    summary: str, verdict: Verdict | None, numbers: EffectNumbers | None, reason: str
) -> str:
    """One line for the report: the action, then throughput before → after and the verdict."""
    label = verdict.value if verdict else "still being watched"
    if numbers is None or numbers.before is None or numbers.after is None:
        return f"{summary}: *{label}* — {reason}"
    return (
        f"{summary}: throughput {throughput_text(numbers)}; time to drain "
        f"{_until_empty(numbers.before)} → {_until_empty(numbers.after)}: *{label}*"
    )


def _motion(per_minute: float) -> str:
    if abs(per_minute) < 1:
        return "flat"
    if per_minute > 0:
        return f"growing {per_minute:,.0f}/min"
    return f"draining {-per_minute:,.0f}/min"


def _until_empty(side: Side) -> str:
    if side.depth == 0:
        return "empty"
    if side.time_to_drain is not None:
        return format_duration(side.time_to_drain)
    if side.time_to_breach is not None and side.time_to_breach > timedelta(0):
        return f"never (growing; above the alert line in ~{format_duration(side.time_to_breach)})"
    return "never (not draining)"


# ---- what other views read -----------------------------------------------------------


@dataclass(frozen=True)
class EffectRecord:
    """A stored effect check, as the living alert, the report and the chart read it.

    ``at`` is when the verdict was last given (None while waiting); ``final`` once the
    window is over."""

    request_id: UUID
    incident_id: int | None
    kind: ActionKind
    summary: str
    queue: str | None
    verdict: Verdict | None
    final: bool
    reason: str
    numbers: EffectNumbers | None
    at: datetime | None


def verdict_text(record: EffectRecord) -> str:
    """The verdict under its action in the report: ``helping: consumer throughput
    ~100/min → ~300/min (+200/min); time to drain never (not draining) → 7m``."""
    if record.verdict is None:
        return "still being watched"
    label = record.verdict.value + ("" if record.final else " so far")
    numbers = record.numbers
    if numbers is None or numbers.before is None or numbers.after is None:
        return f"{label}: {record.reason}"
    return (
        f"{label}: consumer throughput {throughput_text(numbers)}; time to drain "
        f"{_until_empty(numbers.before)} → {_until_empty(numbers.after)}"
    )


def verdict_marks(records: Sequence[EffectRecord]) -> list[ChartMark]:
    """One :attr:`MarkKind.VERDICT` mark per judged action, at its latest verdict."""
    return [
        ChartMark(record.at, f"{record.kind.value}: {record.verdict.value}", MarkKind.VERDICT)
        for record in records
        if record.verdict is not None and record.at is not None
    ]
