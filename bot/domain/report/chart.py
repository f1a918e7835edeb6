"""The report's queue-depth chart: the incident and the hour before it, every playbook
queue with its threshold, the incident shaded from when the backlog began, each action
marked when it ran, the acknowledgement and pages as events, effect-check verdicts."""

from __future__ import annotations

from bot.domain.chart import ChartData, ChartMark, MarkKind, depth_thresholds, incident_window
from bot.domain.report.document import MomentKind, ReportDocument, ReportSources

_LABEL_WORDS = 4


def _short(text: str) -> str:
    words = text.replace("`", "").split()
    return " ".join(words[:_LABEL_WORDS])


def report_chart(sources: ReportSources, doc: ReportDocument) -> ChartData:
    """What the report's chart shows (drawn by ``bot.adapters.chart``)."""
    start = doc.began or doc.detected
    marks = []
    for action in doc.actions:
        if action.started_at is not None:
            marks.append(ChartMark(action.started_at, _short(action.summary)))
        if action.verdict is not None and action.verdict.at is not None:
            marks.append(
                ChartMark(action.verdict.at, _short(action.verdict.text), MarkKind.VERDICT)
            )
    for moment in doc.timeline:
        if moment.kind is MomentKind.ACKNOWLEDGED:
            marks.append(ChartMark(moment.at, "acknowledged", MarkKind.EVENT))
        elif moment.kind is MomentKind.PAGE:
            marks.append(ChartMark(moment.at, _short(moment.text), MarkKind.EVENT))
    return ChartData(
        samples=sources.samples,
        window=incident_window(start, doc.resolved, sources.now),
        title=f"Incident #{doc.incident_id}: {doc.incident_title}",
        thresholds=depth_thresholds(sources.playbook),
        marks=tuple(marks),
        tz=sources.playbook.tz,
        incident_start=start,
        resolved_at=doc.resolved,
        queues=sources.playbook.queue_names,
    )
