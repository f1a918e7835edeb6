"""The report as Markdown, section by section in the playbook's order.

Posted to Slack as a file and shown by ``/backlog report`` as mrkdwn, so text a
person typed is escaped with :func:`~bot.domain.text.mrkdwn_escape` (a note quoting
``<!channel>`` pings nobody; Markdown reads the same entities, so the printed report
renders alike). People are written as ``@name``, never as ``<@U…>`` mentions, so a
report pings nobody either. Times are in the playbook's time zone with UTC alongside.
The root cause is written once: in the summary when the playbook lists ``summary``,
else in its own section.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import emoji

from bot.domain.report.document import (
    ActionLine,
    Contribution,
    MessageMoment,
    Moment,
    MomentKind,
    PageLine,
    RateChange,
    ReportDocument,
    ReportState,
)
from bot.domain.report.durations import (
    NOT_RECORDED,
    elapsed,
    format_clock,
    format_elapsed,
    format_instant,
)
from bot.domain.rule_changes import backtest_hint
from bot.domain.text import mrkdwn_escape

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LABELS = {
    MomentKind.DETECTED: "Detection: ",
    MomentKind.NOTE: "Note: ",
    MomentKind.ROOT_CAUSE: "Root cause: ",
    MomentKind.LESSON: "Lesson: ",
    MomentKind.PREVENTION: "Prevention: ",
}
#: Parameters too bulky for a line (the drain Job's whole manifest).
_HIDDEN_PARAMETERS = frozenset({"manifest", "heartbeat_key", "processing_set", "namespace"})


class _Writer:
    def __init__(self, doc: ReportDocument) -> None:
        self.doc = doc
        self.tz = ZoneInfo(doc.time_zone)

    # ---- small pieces ----------------------------------------------------------------

    def who(self, user: str | None) -> str:
        if not user:
            return "someone"
        if user.startswith("pagerduty"):  # acknowledged in PagerDuty (services/pagerduty_inbox)
            _, _, agent = user.partition(":")
            return f"PagerDuty user {mrkdwn_escape(agent)}" if agent else "PagerDuty"
        return "@" + mrkdwn_escape(self.doc.people.get(user) or user)

    def bot_text(self, text: str) -> str:
        """The bot's own mrkdwn, its mentions written as names (no pings)."""
        return _MENTION.sub(lambda m: self.who(m.group(1)), text)

    def clock(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        day = local.date() != self.doc.detected.astimezone(self.tz).date()
        return (f"{local:%Y-%m-%d} " if day else "") + format_clock(at, self.tz)

    def instant(self, at: datetime | None) -> str:
        return format_instant(at, self.tz)

    # ---- sections --------------------------------------------------------------------

    def summary(self) -> list[str]:
        doc = self.doc
        d = doc.durations
        start = doc.began or doc.detected
        end = doc.resolved or doc.built_at
        start_label = "backlog began" if doc.began else "detected (the start is not known)"
        end_label = "resolved" if doc.resolved else "still open at"
        lines = [
            f"**Date**: {start.astimezone(self.tz):%Y-%m-%d} ({doc.time_zone})",
            f"**Duration**: {format_elapsed(d.duration)} ({start_label} "
            f"{self.clock(start)} → {end_label} {self.clock(end)})",
            "**Time to detect**: "
            + _span(d.to_detect)
            + " · **to acknowledge**: "
            + _span(d.to_acknowledge)
            + " · **to mitigate**: "
            + _span(d.to_mitigate)
            + " · **to recover**: "
            + _span(d.to_recover),
            "_(detect: backlog began → alert; acknowledge: alert → `/backlog ack`; "
            "mitigate: backlog began → first action ran; recover: backlog began → "
            "queue back under its threshold)_",
        ]
        peak = doc.peak
        if peak is None:
            lines.append(f"**Peak Queue Size**: {NOT_RECORDED} (no depth samples were kept)")
        else:
            lines.append(
                f"**Peak Queue Size**: {peak.peak:,} (`{peak.queue}`, at "
                f"{self.clock(peak.peak_at)})"
            )
        if "summary" in doc.sections:
            lines.append(f"**Root Cause**: {self.root_cause_text()}")
        if doc.state is ReportState.FINAL:
            lines.append(f"**Report**: final, finalised by {self.who(doc.finalised_by)}")
        lines += ["", "#### Queues", *self.queue_lines()]
        return lines

    def queue_lines(self) -> list[str]:
        lines = []
        for q in self.doc.queues:
            line = f"- `{q.queue}`: peak {q.peak:,} at {self.clock(q.peak_at)}"
            if q.threshold is None:
                line += " · no depth threshold"
            elif q.above_for is None:
                line += f" · threshold {q.threshold:,}, time above it not known"
            elif q.above_for:
                line += (
                    f" · above its threshold of {q.threshold:,} for {format_elapsed(q.above_for)}"
                )
            else:
                line += f" · never above its threshold of {q.threshold:,}"
            lines.append(line + f" ({q.samples:,} samples)")
        return lines or [f"- {NOT_RECORDED}: no depth samples in the incident's window"]

    def root_cause_text(self) -> str:
        cause = self.doc.root_cause
        if cause is None:
            return NOT_RECORDED + " (record it with `/backlog rootcause <text>`)"
        if cause.source == "diagnosis":
            return (
                f"{self.bot_text(cause.text)} — _the top finding of the last diagnosis "
                f"({self.clock(cause.at)}), not confirmed: record the cause with "
                "`/backlog rootcause <text>`_"
            )
        by = f" — recorded by {self.who(cause.by)}" if cause.by else ""
        return mrkdwn_escape(cause.text) + by

    def root_cause(self) -> list[str]:
        if "summary" in self.doc.sections:
            return []  # said once, in the summary
        return ["### Root Cause", self.root_cause_text()]

    def timeline(self) -> list[str]:
        doc = self.doc
        lines = [
            "### Timeline",
            f"- Detection: {self.instant(doc.detected)}",
            f"- Mitigation Started: {self.instant(doc.mitigated)}",
            f"- Resolution: {self.instant(doc.resolved)}",
            "",
            "#### Everything in between",
        ]
        lines += [self.moment(m) for m in doc.timeline] or [f"- {NOT_RECORDED}"]
        return lines

    def moment(self, m: Moment) -> str:
        if isinstance(m, MessageMoment):
            return f"- {self.clock(m.at)} — {self.message(m)}"
        text = _indent(mrkdwn_escape(m.text)) if m.typed else self.bot_text(m.text)
        label = _LABELS.get(m.kind, "")
        if m.kind is MomentKind.DETECTED and text.startswith("Detection"):
            label = ""
        who = f" ({self.who(m.who)})" if m.who else ""
        return f"- {self.clock(m.at)} — {label}{text}{who}"

    def message(self, m: MessageMoment) -> str:
        flags = []
        if m.pinned_by is not None:
            flags.append("📌 pinned" + (f" by {self.who(m.pinned_by)}" if m.pinned_by else ""))
        for reaction, users in m.marks.items():
            shown = emoji.emojize(f":{reaction}:", language="alias")
            flags.append(f"{shown} by {', '.join(self.who(u) for u in users)}")
        if m.in_thread:
            flags.append("in a thread")
        if m.edited_at is not None and not m.deleted:
            flags.append(f"edited {self.clock(m.edited_at)}")
        if m.deleted:
            when = f" at {self.clock(m.deleted_at)}" if m.deleted_at else ""
            body = f"_message deleted{when}_"
        elif m.detail:
            body = f"_({m.detail})_"
        else:
            body = "“" + _indent(mrkdwn_escape(m.text)) + "”"
        return f"{self.who(m.who)}: {body} ({'; '.join(flags)})"

    def actions(self) -> list[str]:
        lines = ["### Actions Taken"]
        if not self.doc.actions:
            return [*lines, "- No action was requested."]
        for action in self.doc.actions:
            lines += self.action(action)
        return lines

    def action(self, a: ActionLine) -> list[str]:
        approvals = "; ".join(f"{self.who(u)} at {self.clock(at)}" for u, at in a.approvals)
        lines = [
            f"- **{a.kind}**: {self.bot_text(a.summary)}",
            f"  - requested by {self.who(a.requested_by)} at {self.clock(a.requested_at)}; "
            + (f"approved by {approvals}" if approvals else "no approval"),
        ]
        shown = _parameters(a.parameters)
        if shown:
            lines.append(f"  - parameters: {shown}")
        outcome = a.outcome
        if a.denied_by:
            outcome += f" by {self.who(a.denied_by)}"
        if a.finished_at is not None:
            outcome += f" at {self.clock(a.finished_at)}"
        if a.started_at is not None and a.finished_at is not None:
            outcome += f" (ran {format_elapsed(elapsed(a.started_at, a.finished_at))})"
        lines.append(f"  - outcome: {mrkdwn_escape(outcome)}")
        if a.rates is not None:
            lines.append(f"  - {_rates(a.rates)}")
        if a.verdict is not None:
            when = f" ({self.clock(a.verdict.at)})" if a.verdict.at else ""
            lines.append(f"  - effect check{when}: {self.bot_text(a.verdict.text)}")
        return lines

    def escalations(self) -> list[str]:
        lines = ["### Escalations"]
        if not self.doc.escalations:
            return [*lines, "- No tier was paged."]
        return lines + [self.page(p) for p in self.doc.escalations]

    def page(self, p: PageLine) -> str:
        people = ", ".join(self.who(u) for u in p.people) or "nobody"
        by = f", by {self.who(p.by)}" if p.by else ""
        line = (
            f"- L{p.tier} {mrkdwn_escape(p.name)}: paged {self.clock(p.paged_at)} "
            f"({people}{by}) — {self.bot_text(p.reason)}"
        )
        if p.after_ack:
            return (
                line + "; paged after the incident was acknowledged (a trigger that pages anyway)"
            )
        if p.acknowledged_at is None:
            return line + "; not acknowledged"
        took = format_elapsed(elapsed(p.paged_at, p.acknowledged_at))
        return (
            line + f"; acknowledged by {self.who(p.acknowledged_by)} at "
            f"{self.clock(p.acknowledged_at)}, {took} after this page"
        )

    def contributions(self, title: str, items: Sequence[Contribution]) -> list[str]:
        if not items:
            hint = (
                "`/backlog note lesson: …`"
                if "Lesson" in title
                else "`/backlog note prevention: …`"
            )
            return [f"### {title}", f"- {NOT_RECORDED} (add with {hint})"]
        lines = [f"### {title}"]
        for c in items:
            lines.append(f"- {_indent(mrkdwn_escape(c.text))} ({self.who(c.by)})")
            # A prevention measure that changes a rule links the backtest of that change.
            backtest = backtest_hint(c.text) if "Prevention" in title else None
            if backtest:
                lines.append(f"  - {backtest}")
        return lines

    def chart(self) -> list[str]:
        return [
            "### Queue Depths",
            f"![Queue depths over the incident and the hour before]({self.doc.chart_file})",
        ]


def _span(value: Any) -> str:
    return format_elapsed(value) if value is not None else NOT_RECORDED


def _indent(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\n  ")


def _rate(value: float | None) -> str:
    if value is None:
        return "not enough samples"
    if abs(value) < 1:
        return "flat"
    motion = "growing" if value > 0 else "draining"
    return f"{value:+,.0f}/min ({motion})"


def _rates(rates: RateChange) -> str:
    return (
        f"`{rates.queue}` net rate before: {_rate(rates.before)} → after: {_rate(rates.after)} "
        "_(depth samples 10 minutes either side; net of arrivals)_"
    )


def _parameters(params: Mapping[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if key in _HIDDEN_PARAMETERS or value in (None, "", [], {}):
            continue
        if isinstance(value, Mapping):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
            parts.append(f"{key}=({shown})")
        elif isinstance(value, list | tuple):
            parts.append(f"{key}={', '.join(str(v) for v in value)}")
        else:
            parts.append(f"{key}={value}")
    return mrkdwn_escape("; ".join(parts))


def render_markdown(doc: ReportDocument) -> str:
    """The report as Markdown (see the module docstring)."""
    w = _Writer(doc)
    state = (
        "final"
        if doc.state is ReportState.FINAL
        else "draft: lessons and prevention measures can still be added until someone "
        "clicks *Finalise report*"
    )
    lines = [
        f"## {mrkdwn_escape(doc.title)}",
        "",
        f"_Incident #{doc.incident_id}: {mrkdwn_escape(doc.incident_title)} · severity "
        f"{doc.severity} · {doc.status} · report built {w.instant(doc.built_at)} ({state})_",
        "",
    ]
    writers: dict[str, Callable[[], list[str]]] = {
        "summary": w.summary,
        "timeline": w.timeline,
        "actions": w.actions,
        "escalations": w.escalations,
        "root_cause": w.root_cause,
        "lessons_learned": lambda: w.contributions("Lessons Learned", doc.lessons),
        "prevention": lambda: w.contributions("Prevention Measures", doc.prevention),
        "chart": w.chart,
    }
    for section in doc.sections:
        written = writers[section]()
        if written:
            lines += [*written, ""]
    if doc.caveats:
        lines += ["---", *(f"_{mrkdwn_escape(c)}_" for c in doc.caveats), ""]
    return "\n".join(lines).rstrip() + "\n"
