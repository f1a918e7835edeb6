"""The report's messages in the channel: the short summary (with the prompt for
lessons and the *Finalise report* button while the report is a draft) whose thread
holds the Markdown file and the chart.

People are named (``@alice``), never mentioned, so a summary pings nobody; text a
person typed (the root cause) is escaped.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.slack.blocks import button, context, header, section
from bot.adapters.slack.ids import ActionId, BlockId
from bot.domain.report import NOT_RECORDED, ReportDocument, StoredReport, format_elapsed
from bot.domain.text import mrkdwn_escape

Block = dict[str, Any]


def report_file_name(report: StoredReport) -> str:
    suffix = "" if report.state.value == "final" else f"-draft-v{report.version}"
    return f"incident-{report.incident_id}-report{suffix}.md"


def _who(doc: ReportDocument, user: str | None) -> str:
    return "@" + mrkdwn_escape(doc.people.get(user, user)) if user else "someone"


def summary_lines(doc: ReportDocument) -> list[str]:
    """The figures people look for first, in mrkdwn."""
    d = doc.durations

    def span(value: Any) -> str:
        return format_elapsed(value) if value is not None else NOT_RECORDED

    peak = doc.peak
    lines = [
        f"*Duration*: {format_elapsed(d.duration)}"
        + (" (from when the backlog began)" if doc.began else " (from detection)"),
        f"*Time to* detect {span(d.to_detect)} · acknowledge {span(d.to_acknowledge)} · "
        f"mitigate {span(d.to_mitigate)} · recover {span(d.to_recover)}",
        f"*Peak*: {peak.peak:,} in `{peak.queue}`" if peak else f"*Peak*: {NOT_RECORDED}",
    ]
    cause = doc.root_cause
    if cause is None:
        lines.append(f"*Root cause*: {NOT_RECORDED}")
    elif cause.source == "diagnosis":
        lines.append(f"*Root cause*: {cause.text} _(the last diagnosis' top finding)_")
    else:
        lines.append(f"*Root cause*: {mrkdwn_escape(cause.text)}")
    lines.append(
        f"*Actions*: {len(doc.actions)} · *Pages*: {len(doc.escalations)} · "
        f"*Lessons*: {len(doc.lessons)} · *Prevention measures*: {len(doc.prevention)}"
    )
    return lines


def prompt_text(doc: ReportDocument, report: StoredReport) -> str:
    return f"Report draft v{report.version} for incident #{doc.incident_id} (resolved)"


def prompt_blocks(doc: ReportDocument, report: StoredReport) -> list[Block]:
    """The draft's message: figures, the ask for lessons, the Finalise button."""
    ask = (
        "*Lessons learned and prevention measures*: what did this incident teach us, "
        "and what would have prevented it? Add them with `/backlog note lesson: …` and "
        "`/backlog note prevention: …`, or reply in this thread starting with `lesson:` "
        "or `prevention:` (edits count). When they are in, click *Finalise report*."
    )
    return [
        header(f":page_facing_up: Report draft, incident #{doc.incident_id} (resolved)"),
        section("\n".join(summary_lines(doc))),
        section(ask),
        context(
            f"The whole draft (v{report.version}) is in this thread as "
            f"`{report_file_name(report)}`, with the queue-depth chart."
        ),
        {
            "type": "actions",
            "block_id": BlockId.REPORT_BUTTONS.value,
            "elements": [
                button(
                    "Finalise report",
                    ActionId.FINALISE_REPORT,
                    str(doc.incident_id),
                    style="primary",
                )
            ],
        },
    ]


def finalised_prompt_blocks(doc: ReportDocument, report: StoredReport) -> list[Block]:
    """The draft's message once the report is final: no button, a pointer instead."""
    return [
        header(f":page_facing_up: Report final, incident #{doc.incident_id} (resolved)"),
        section("\n".join(summary_lines(doc))),
        context(
            f"Finalised by {_who(doc, report.built_by)} (version {report.version}); the "
            "final report is posted in the channel. Later notes no longer change it."
        ),
    ]


def final_text(doc: ReportDocument) -> str:
    return f"Final report for incident #{doc.incident_id}: {doc.incident_title}"


def final_blocks(doc: ReportDocument, report: StoredReport) -> list[Block]:
    return [
        header(f":page_facing_up: Final report, incident #{doc.incident_id}"),
        section("\n".join(summary_lines(doc))),
        context(
            f"Finalised by {_who(doc, report.built_by)}. The whole report is in this "
            f"thread as `{report_file_name(report)}`, with the queue-depth chart; "
            f"`backlog-bot report {doc.incident_id}` prints it."
        ),
    ]
