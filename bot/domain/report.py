"""The incident report, built from the incident, its timeline and its actions.

Follows the runbook's post-incident template: date, duration, peak queue size,
root cause, timeline (detection, mitigation started, resolution), actions
taken, lessons learned and prevention measures.

The report is Markdown, posted to Slack as mrkdwn: text people typed (notes, root
cause, lessons, prevention) is escaped with :func:`bot.domain.text.mrkdwn_escape`, so
a note quoting ``<!channel>`` pings nobody. Markdown reads the same entities, so the
printed report (``backlog-bot report``) renders alike. Text the bot wrote (action
summaries, its ``<@U…>`` mentions) is already mrkdwn and is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.domain.models import (
    ActionRequest,
    ActionState,
    EventKind,
    Incident,
    TimelineEntry,
)
from bot.domain.playbook import Report
from bot.domain.text import mrkdwn_escape

NOT_RECORDED = "_not recorded_"


_NOTE_PREFIXES = {"lesson:": EventKind.LESSON, "prevention:": EventKind.PREVENTION}


def classify_note(text: str) -> tuple[EventKind, str]:
    """``lesson: …`` and ``prevention: …`` notes feed the report's sections."""
    lowered = text.lower()
    for prefix, kind in _NOTE_PREFIXES.items():
        if lowered.startswith(prefix):
            return kind, text[len(prefix) :].strip() or text
    return EventKind.NOTE, text


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    hours, rem = divmod(seconds, 3600)
    minutes = rem // 60
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def format_time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else NOT_RECORDED


def build_report(
    incident: Incident,
    timeline: Sequence[TimelineEntry],
    actions: Sequence[ActionRequest],
    spec: Report,
    *,
    now: datetime,
) -> str:
    """Renders the report as Markdown; ``now`` ends the duration of an open incident."""
    writers: dict[str, Callable[[], list[str]]] = {
        "summary": lambda: _summary(incident, now),
        "timeline": lambda: _timeline(incident, timeline),
        "actions": lambda: _actions(actions),
        "root_cause": lambda: _root_cause(incident),
        "lessons_learned": lambda: _entries(timeline, EventKind.LESSON, "Lessons Learned"),
        "prevention": lambda: _entries(timeline, EventKind.PREVENTION, "Prevention Measures"),
    }
    lines = [f"## {spec.title}", ""]
    for section in spec.sections:
        lines += writers[section]()
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _summary(incident: Incident, now: datetime) -> list[str]:
    state = "resolved" if incident.resolved_at else f"{incident.state.value} (ongoing)"
    return [
        f"**Incident**: #{incident.id} — {incident.title}",
        f"**Date**: {incident.detected_at.strftime('%Y-%m-%d')}",
        f"**Status**: {state}",
        f"**Severity**: {incident.severity.value}",
        f"**Duration**: {format_duration(incident.duration(now))}",
        f"**Peak Queue Size**: {incident.peak_depth:,} (`{incident.peak_queue}`"
        + (f", at {format_time(incident.peak_at)})" if incident.peak_at else ")"),
        f"**Root Cause**: {_typed(incident.root_cause)}",
    ]


def _timeline(incident: Incident, timeline: Sequence[TimelineEntry]) -> list[str]:
    lines = [
        "### Timeline",
        f"- Detection: {format_time(incident.detected_at)}",
        f"- Mitigation Started: {format_time(incident.mitigation_started_at)}",
        f"- Resolution: {format_time(incident.resolved_at)}",
    ]
    if timeline:
        lines += ["", "#### Channel timeline"]
        for entry in timeline:
            who = f" (<@{entry.actor}>)" if entry.actor else ""
            label = _LABELS.get(entry.kind, "")
            text = mrkdwn_escape(entry.text) if entry.kind in _TYPED_KINDS else entry.text
            lines.append(f"- {entry.at.strftime('%H:%M:%S')} {label}{text}{who}")
    return lines


_LABELS = {
    EventKind.NOTE: "Note: ",
    EventKind.ROOT_CAUSE: "Root cause: ",
    EventKind.LESSON: "Lesson: ",
    EventKind.PREVENTION: "Prevention: ",
}
# Timeline entries whose text a person typed (``note``, ``rootcause``); the others
# are written by the bot in mrkdwn.
_TYPED_KINDS = frozenset(_LABELS)


def _typed(text: str | None) -> str:
    return mrkdwn_escape(text) if text else NOT_RECORDED


def _actions(actions: Sequence[ActionRequest]) -> list[str]:
    lines = ["### Actions Taken"]
    if not actions:
        return [*lines, f"- {NOT_RECORDED}"]
    for action in actions:
        approvers = ", ".join(f"<@{a}>" for a in action.approvers) or "nobody"
        outcome = _outcome(action)
        lines.append(
            f"- {action.summary} — requested by <@{action.requested_by}> at "
            f"{format_time(action.requested_at)}, approved by {approvers}: {outcome}"
        )
    return lines


def _outcome(action: ActionRequest) -> str:
    if action.state is ActionState.SUCCEEDED:
        return f"succeeded at {format_time(action.finished_at)}"
    if action.state is ActionState.FAILED:
        return f"failed ({action.error or 'unknown error'})"
    if action.state is ActionState.DENIED:
        return f"denied by <@{action.denied_by}>" if action.denied_by else "denied"
    return action.state.value


def _root_cause(incident: Incident) -> list[str]:
    return ["### Root Cause", _typed(incident.root_cause)]


def _entries(timeline: Sequence[TimelineEntry], kind: EventKind, title: str) -> list[str]:
    items = [f"- {mrkdwn_escape(e.text)}" for e in timeline if e.kind is kind]
    return [f"### {title}", *(items or [f"- {NOT_RECORDED}"])]
