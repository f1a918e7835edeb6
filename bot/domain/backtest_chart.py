"""The chart of a backtest: one chosen incident, both playbooks' thresholds.

The incident is the one asked for, else the real incident whose detection the change
moves most; the current threshold is dashed, the candidate's dotted, and a mark shows
where each playbook's alerts fire and clear (bot/adapters/chart.py draws it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.backtest import (
    Alert,
    BacktestResult,
    Detection,
    day_minute,
    short_minute,
)
from bot.domain.chart import LEAD_TIME, ChartData, ChartLevel, ChartMark, MarkKind
from bot.domain.errors import Refused
from bot.domain.models import Incident
from bot.domain.playbook import AlertRule
from bot.domain.rule_changes import show_value

#: Marks drawn on the chart at most (alerts firing and clearing), earliest first.
MAX_MARKS = 16
_AFTER = timedelta(minutes=30)
#: Two marks closer than this would print their labels over each other.
_SAME = timedelta(minutes=1)


@dataclass(frozen=True)
class Focus:
    """What the chart shows: ``why`` it was chosen, the time range, the queues, and
    the real incident (None when the focus is an alert no incident matches)."""

    title: str
    why: str
    start: datetime
    end: datetime
    queues: tuple[str, ...]
    incident: Incident | None = None


def choose_focus(backtest: BacktestResult, incident_id: int | None = None) -> Focus:
    """The incident to chart: ``incident_id`` if given (raises :class:`Refused` when
    it is not among the replayed period's incidents), else the real incident whose
    detection changes most (a miss counts most), else the first alert only the
    candidate raises, else the first the current playbook raises, else the highest
    depth in the history."""
    detections = [d for d in backtest.detections if d.replayable]
    if incident_id is not None:
        chosen = next((d for d in backtest.detections if d.incident.id == incident_id), None)
        if chosen is None:
            since, until = backtest.history.requested
            raise Refused(
                f"Incident #{incident_id} was not detected between {day_minute(since)} and "
                f"{day_minute(until)} UTC, the period replayed; give a longer `--since`, or "
                "another incident."
            )
        return _incident_focus(backtest, chosen, "the incident asked for")
    if detections:
        chosen = max(detections, key=lambda d: (_change(d), d.incident.detected_at))
        why = (
            "the real incident whose detection changes most"
            if _change(chosen)
            else "the latest real incident"
        )
        return _incident_focus(backtest, chosen, why)
    for alerts, why in (
        (backtest.unmatched(candidate=True), "an alert only the candidate raises"),
        (backtest.current.alerts, "an alert the current playbook raises"),
    ):
        if alerts:
            return _alert_focus(backtest, alerts[0], why)
    return _peak_focus(backtest)


def _change(d: Detection) -> timedelta:
    if (d.current is None) != (d.candidate is None):
        return timedelta.max
    shift = d.shift
    return abs(shift) if shift is not None else timedelta(0)


def _queues(backtest: BacktestResult, first: str) -> tuple[str, ...]:
    changed = [r.queue for diff in backtest.diffs for r in (diff.current, diff.candidate) if r]
    return tuple(dict.fromkeys([first, *changed]))


def _incident_focus(backtest: BacktestResult, detection: Detection, why: str) -> Focus:
    incident = detection.incident
    end = backtest.history.end
    fired = [a.fired_at for a in (detection.current, detection.candidate) if a]
    cleared = [a.until(end) for a in (detection.current, detection.candidate) if a]
    start = min([incident.detected_at, *fired]) - LEAD_TIME
    stop = max([incident.resolved_at or end, *cleared]) + _AFTER
    return Focus(
        title=f"Backtest, incident #{incident.id}: {incident.title}",
        why=f"incident #{incident.id}, {why}",
        start=max(start, backtest.history.start),
        end=min(stop, end),
        queues=_queues(backtest, incident.queue),
        incident=incident,
    )


def _alert_focus(backtest: BacktestResult, alert: Alert, why: str) -> Focus:
    end = backtest.history.end
    return Focus(
        title=f"Backtest: {alert.rule} alert of {short_minute(alert.fired_at)} UTC",
        why=f"the alert of {short_minute(alert.fired_at)} UTC, {why}",
        start=max(alert.fired_at - LEAD_TIME, backtest.history.start),
        end=min(alert.until(end) + _AFTER, end),
        queues=_queues(backtest, alert.queue),
    )


def _peak_focus(backtest: BacktestResult) -> Focus:
    queues = [r.queue for r in backtest.candidate.rules] or [
        q for p in backtest.history.points for q in p.depths
    ]
    best = max(
        backtest.history.points,
        key=lambda p: max((p.depths.get(q, 0) for q in queues), default=0),
    )
    queue = max(queues, key=lambda q: best.depths.get(q, 0))
    return Focus(
        title=f"Backtest: highest {queue} depth, {short_minute(best.at)} UTC",
        why="no alert in either replay: the highest depth replayed",
        start=max(best.at - LEAD_TIME, backtest.history.start),
        end=min(best.at + LEAD_TIME, backtest.history.end),
        queues=_queues(backtest, queue),
    )


def backtest_chart(backtest: BacktestResult, focus: Focus) -> ChartData:
    """The focus as a depth chart: its queues, each with the current playbook's
    threshold (dashed) and, where its rule differs, the candidate's (dotted, over the
    dashed one when only ``for`` changed, which its label then names); a mark where
    each playbook's alerts fire and clear; the real incident shaded."""
    thresholds: dict[str, int] = {}
    levels: list[ChartLevel] = []
    for queue in focus.queues:
        old = _rule(backtest, queue, candidate=False)
        new = _rule(backtest, queue, candidate=True)
        if old is not None:
            thresholds[queue] = old.threshold
        if new is None or (old is not None and _when(old) == _when(new)):
            continue
        waits = "" if old and old.for_ == new.for_ else f", for {show_value(new.for_)}"
        label = f"{queue} candidate threshold ({new.threshold:,}{waits})"
        levels.append(ChartLevel(queue, new.threshold, label))
    marks = _marks(backtest, focus)
    incident = focus.incident
    return ChartData(
        samples=[p for p in backtest.history.points if focus.start <= p.at <= focus.end],
        window=(focus.start, focus.end),
        title=focus.title,
        thresholds=thresholds,
        marks=marks,
        incident_start=incident.detected_at if incident else None,
        resolved_at=incident.resolved_at if incident else None,
        queues=focus.queues,
        levels=levels,
    )


def _rule(backtest: BacktestResult, queue: str, *, candidate: bool) -> AlertRule | None:
    """A queue's changed rule in one playbook, else its rule with the lowest threshold."""
    rules = (backtest.candidate if candidate else backtest.current).rules
    changed = {d.name for d in backtest.diffs}
    on_queue = [r for r in rules if r.queue == queue]
    picked = [r for r in on_queue if r.name in changed] or on_queue
    return min(picked, key=lambda r: r.threshold, default=None)


def _when(rule: AlertRule) -> tuple[int, timedelta]:
    return rule.threshold, rule.for_


def _marks(backtest: BacktestResult, focus: Focus) -> list[ChartMark]:
    """Where each playbook's alerts fire and clear. A moment both share is one mark
    (``both clear``); the current playbook firing on the real incident's opening is
    left to the incident's own line, so no two labels print over each other."""
    seen: dict[tuple[datetime, str], list[str]] = {}
    end = backtest.history.end
    for label, alerts in (
        ("current", backtest.current.alerts),
        ("candidate", backtest.candidate.alerts),
    ):
        for alert in alerts:
            if alert.overlaps(focus.start, focus.end, end):
                seen.setdefault((alert.fired_at, "fire"), []).append(label)
                if alert.cleared_at is not None:
                    seen.setdefault((alert.cleared_at, "clear"), []).append(label)
    opened = focus.incident.detected_at if focus.incident else None
    marks = []
    for (at, verb), labels in sorted(seen.items()):
        if not focus.start <= at <= focus.end:
            continue
        if labels == ["current"] and verb == "fire" and opened and abs(at - opened) < _SAME:
            continue
        if len(labels) > 1:
            marks.append(ChartMark(at, f"both {verb}", MarkKind.EVENT))
        else:
            kind = MarkKind.ACTION if labels == ["candidate"] else MarkKind.EVENT
            marks.append(ChartMark(at, f"{labels[0]} {verb}s", kind))
    return marks[:MAX_MARKS]
