"""The incident report, built from the channel timeline (pure).

:func:`~bot.domain.report.compose.compose_report` turns :class:`ReportSources` (the
incident, the bot's timeline, the actions, the depth samples, the channel's people's
messages, pages) into a :class:`ReportDocument`; :func:`render_markdown` and
:func:`report_data` write it out; :func:`~bot.domain.report.chart.report_chart` says
what its chart shows. Reading Slack and PostgreSQL is the services' and adapters' job
(bot/services/report.py).

``compose`` and ``chart`` are imported from their modules, not from here: they use
``bot.domain.chart``, which (through the alert's view and the capacity model) imports
this package for :func:`format_duration`.
"""

from bot.domain.report.channel import (
    ChangeKind,
    ChannelChange,
    ChannelMessage,
    HistoryRead,
    merge_channel,
    ts_time,
)
from bot.domain.report.document import (
    ActionVerdict,
    ReportDocument,
    ReportSources,
    ReportState,
    StoredReport,
)
from bot.domain.report.durations import (
    NOT_RECORDED,
    elapsed,
    format_duration,
    format_elapsed,
    format_instant,
)
from bot.domain.report.markdown import render_markdown
from bot.domain.report.notes import classify_note
from bot.domain.report.serialize import report_data

__all__ = [
    "NOT_RECORDED",
    "ActionVerdict",
    "ChangeKind",
    "ChannelChange",
    "ChannelMessage",
    "HistoryRead",
    "ReportDocument",
    "ReportSources",
    "ReportState",
    "StoredReport",
    "classify_note",
    "elapsed",
    "format_duration",
    "format_elapsed",
    "format_instant",
    "merge_channel",
    "render_markdown",
    "report_data",
    "ts_time",
]
