"""What a queue-depth chart shows, as plain values (an adapter draws it).

The chart covers the incident and the hour before it (issue 10: "depth per queue
over the incident and the hour before it"), so the climb that led to the alert is
visible next to what people did about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from bot.domain.models import QueueSample
from bot.domain.playbook import Playbook, RuleKind
from bot.domain.views import AlertView

#: How far before the incident's start the chart begins.
LEAD_TIME = timedelta(hours=1)


class MarkKind(StrEnum):
    """What a vertical mark on the chart stands for (each kind has its own style)."""

    ACTION = "action"  # an action ran (scale, requeue, restart, tune, drain)
    VERDICT = "verdict"  # an effect check's verdict on an action
    EVENT = "event"  # anything else worth a line: an ack, a page, a note


@dataclass(frozen=True)
class ChartMark:
    """A moment on the chart: ``label`` is short (a few words; long ones are cut)."""

    at: datetime
    label: str
    kind: MarkKind = MarkKind.ACTION


@dataclass(frozen=True)
class ChartLevel:
    """Another horizontal line for a queue besides its threshold (e.g. a proposed
    threshold in a backtest), drawn dotted in the queue's colour; ``depth`` in jobs."""

    queue: str
    depth: int
    label: str


@dataclass(frozen=True)
class ChartData:
    """Everything one depth chart shows.

    ``samples`` in any order, each with the depth (jobs) of some or all queues: a
    queue missing from a sample has no point there, and a pause in the sampling
    is drawn as a gap. ``thresholds`` maps a queue to the depth its alert fires
    above (a queue without one gets no threshold line). ``window`` is the time
    range drawn, ``(start, end)``, timezone-aware; the axis shows times in ``tz``.
    ``incident_start``/``resolved_at`` shade the incident. ``queues`` fixes the
    order (and so the colour) of the queues; by default they come in the order
    they first appear in the samples. ``levels`` are further horizontal lines.
    """

    samples: Sequence[QueueSample]
    window: tuple[datetime, datetime]
    title: str
    thresholds: Mapping[str, int]
    marks: Sequence[ChartMark] = ()
    tz: tzinfo = UTC
    incident_start: datetime | None = None
    resolved_at: datetime | None = None
    queues: Sequence[str] = ()
    levels: Sequence[ChartLevel] = ()

    def queue_order(self) -> list[str]:
        """The queues drawn: ``queues`` if given, else every queue seen in a sample."""
        if self.queues:
            return list(self.queues)
        seen: dict[str, None] = {}
        for sample in sorted(self.samples, key=lambda s: s.at):
            seen.update(dict.fromkeys(sample.depths))
        return list(seen)


def incident_window(
    started: datetime, resolved: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """``(start, end)`` of an incident's chart: from :data:`LEAD_TIME` before it
    began to its resolution, or to ``now`` while it is open."""
    return started - LEAD_TIME, max(resolved or now, started)


def depth_thresholds(playbook: Playbook) -> dict[str, int]:
    """Each queue's lowest ``depth_above`` threshold in the playbook (the line the
    first alert fires above); queues without such a rule are left out."""
    thresholds: dict[str, int] = {}
    for rule in playbook.rules:
        if rule.kind is RuleKind.DEPTH_ABOVE and rule.threshold > 0:
            current = thresholds.get(rule.queue)
            thresholds[rule.queue] = min(current or rule.threshold, rule.threshold)
    return thresholds


def alert_chart(view: AlertView) -> ChartData:
    """The chart posted under a new alert: every playbook queue over the hour
    before the incident opened, up to the sample that opened it (times in UTC)."""
    incident = view.incident
    return ChartData(
        samples=view.history,
        window=incident_window(incident.detected_at, None, view.sample.at),
        title=f"Incident #{incident.id}: {incident.title}",
        thresholds=depth_thresholds(view.playbook),
        incident_start=incident.detected_at,
        queues=view.playbook.queue_names,
    )
