"""Backtest: replay stored queue depths through two playbooks' rules and compare.

The replay feeds each point to :class:`bot.domain.rules.RuleBook` — the class and
method (``observe``) the monitor's incident service feeds every live sample to — so a
backtest can never disagree with the monitor about when a rule fires. Like the
monitor, an *alert* opens when a first depth rule starts firing and closes when no
rule fires any more (the monitor opens one incident per playbook at a time).

Where the samples come from (the store's retention, bot/services/monitor.py): raw
samples, one every ``BACKLOG_BOT_SAMPLE_INTERVAL`` (15 s) for 48 h, are replayed as
they are. Older hours survive only as hourly rollups (maximum and mean depth); each
hour is replayed as a flat line at its maximum (or mean), one point every five
minutes — an
approximation that the report states: with maxima an hour that peaked above a
threshold counts as above for the whole hour (alerts fire earlier and last longer
than they did), with means a short spike disappears, and in either case detection
times there are good to about an hour and flapping within an hour cannot be seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from bot.domain.errors import Refused
from bot.domain.models import Incident, QueueSample
from bot.domain.playbook import AlertRule, Playbook, RuleKind
from bot.domain.report import format_duration
from bot.domain.rule_changes import RuleDiff, rule_diffs
from bot.domain.rules import RuleBook
from bot.domain.weekly import HourlyDepth

#: Spacing of the points an hourly rollup is replayed as: fine enough that a
#: ``for:`` of a few minutes fires minutes, not an hour, into the hour (rounded up to
#: this step), coarse enough that 90 days replay in about a second.
HOURLY_STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)


class Resolution(StrEnum):
    RAW = "raw"  # the monitor's own samples
    HOURLY = "hourly"  # hourly rollups, each hour replayed as one flat value


class HourlyReading(StrEnum):
    """Which of an hour's rollup values it is replayed at."""

    MAX = "max"  # pessimistic: every peak counts, for the whole hour
    AVG = "avg"  # optimistic: short spikes vanish


class TooLittleHistory(Refused):
    """Not enough stored samples to replay anything meaningful; ``str()`` says what
    there is."""


@dataclass(frozen=True)
class Period:
    """A stretch of the replayed history and how finely it was stored: ``stored`` is
    the number of rows behind it (samples, or hours)."""

    start: datetime
    end: datetime
    resolution: Resolution
    stored: int


@dataclass(frozen=True)
class History:
    """The points to replay, in time order, and the periods they cover.

    ``requested``: the window asked for, ``(since, until)``; the points may begin
    later when less is stored. ``reading``: how hourly rollups were read.
    """

    points: tuple[QueueSample, ...]
    periods: tuple[Period, ...]
    requested: tuple[datetime, datetime]
    reading: HourlyReading = HourlyReading.MAX

    @property
    def start(self) -> datetime:
        return self.points[0].at if self.points else self.requested[1]

    @property
    def end(self) -> datetime:
        return self.points[-1].at if self.points else self.requested[1]

    def resolution_at(self, at: datetime) -> Resolution | None:
        """The resolution of the period holding ``at`` (None: nothing stored then)."""
        for period in self.periods:
            if period.start <= at <= period.end + _LATE:
                return period.resolution
        return None


#: How long after the last sample of a period an incident's detection still counts as
#: seen by it (the monitor stores a sample every 15 s by default).
_LATE = timedelta(minutes=1)


def build_history(
    raw: Sequence[QueueSample],
    hourly: Mapping[str, Sequence[HourlyDepth]],
    since: datetime,
    until: datetime,
    reading: HourlyReading = HourlyReading.MAX,
) -> History:
    """The replay points for ``[since, until]``: hourly rollups (per queue, as
    :func:`bot.adapters.store.history.hourly_depths` gives them) up to the first raw
    sample, expanded to one point per :data:`HOURLY_STEP` at the hour's value, then
    the raw samples. A queue missing from an hour has no depth in its points."""
    samples = sorted((s for s in raw if since <= s.at <= until), key=lambda s: s.at)
    raw_start = samples[0].at if samples else until
    by_hour: dict[datetime, dict[str, int]] = {}
    for queue, rows in hourly.items():
        for row in rows:
            value = row.max_depth if reading is HourlyReading.MAX else round(row.avg_depth)
            by_hour.setdefault(row.hour, {})[queue] = value
    points: list[QueueSample] = []
    hours_used = 0
    hourly_end = since
    for hour in sorted(by_hour):
        begin, end = max(hour, since), min(hour + HOUR, raw_start, until)
        if begin >= end:
            continue
        hours_used += 1
        hourly_end = end
        at = begin
        while at < end:
            points.append(QueueSample(at=at, depths=by_hour[hour]))
            at += HOURLY_STEP
    periods = []
    if points:
        periods.append(Period(points[0].at, hourly_end, Resolution.HOURLY, hours_used))
    if samples:
        periods.append(Period(samples[0].at, samples[-1].at, Resolution.RAW, len(samples)))
    return History(tuple(points + samples), tuple(periods), (since, until), reading)


@dataclass(frozen=True)
class Alert:
    """One alert as a playbook's rules would have raised it: ``rule`` is the first to
    fire (it names the incident, as in the monitor), ``cleared_at`` None when it was
    still firing at the end of the history; ``peak`` in jobs on the rule's queue."""

    rule: str
    queue: str
    threshold: int
    fired_at: datetime
    cleared_at: datetime | None
    peak: int
    resolution: Resolution

    def until(self, end: datetime) -> datetime:
        return self.cleared_at or end

    def overlaps(self, start: datetime, end: datetime, history_end: datetime) -> bool:
        return self.fired_at <= end and self.until(history_end) >= start


def replay(rules: Sequence[AlertRule], history: History) -> list[Alert]:
    """The alerts ``rules`` raise over ``history``, in order (see the module doc)."""
    book = RuleBook(rules)
    firing: dict[str, AlertRule] = {}
    alerts: list[Alert] = []
    opened: Alert | None = None
    for point in history.points:
        for transition in book.observe(point):
            rule = transition.state.rule
            if transition.firing:
                firing[rule.name] = rule
            else:
                firing.pop(rule.name, None)
        if opened is None and firing:
            rule = next(iter(firing.values()))
            opened = Alert(
                rule=rule.name,
                queue=rule.queue,
                threshold=rule.threshold,
                fired_at=point.at,
                cleared_at=None,
                peak=point.depths.get(rule.queue, 0),
                resolution=history.resolution_at(point.at) or Resolution.RAW,
            )
        elif opened is not None:
            depth = point.depths.get(opened.queue, 0)
            if depth > opened.peak:
                opened = replace(opened, peak=depth)
            if not firing:
                alerts.append(replace(opened, cleared_at=point.at))
                opened = None
    if opened is not None:
        alerts.append(opened)
    return alerts


@dataclass(frozen=True)
class Outcome:
    """One playbook's replay: its depth rules, alerts, time firing and flaps (alerts
    that opened less than the quiet period after the previous one cleared)."""

    rules: tuple[AlertRule, ...]
    alerts: tuple[Alert, ...]
    firing: timedelta
    flaps: tuple[Alert, ...]


def outcome(playbook: Playbook, history: History, quiet: timedelta) -> Outcome:
    """Replays ``playbook``'s depth rules over ``history``."""
    rules = tuple(r for r in playbook.rules if r.kind is RuleKind.DEPTH_ABOVE)
    alerts = replay(rules, history)
    firing = sum((a.until(history.end) - a.fired_at for a in alerts), timedelta(0))
    flaps = tuple(
        later
        for earlier, later in pairwise(alerts)
        if earlier.cleared_at is not None and later.fired_at - earlier.cleared_at < quiet
    )
    return Outcome(rules, tuple(alerts), firing, flaps)


@dataclass(frozen=True)
class Detection:
    """A real incident (the incidents table) and the alert each playbook's replay
    raised for it (None: missed). ``replayable`` is False when no samples were stored
    around its detection, so neither replay could have seen it."""

    incident: Incident
    current: Alert | None
    candidate: Alert | None
    replayable: bool

    @property
    def shift(self) -> timedelta | None:
        """Candidate detection minus the real one (negative: earlier); None if missed."""
        return self.candidate.fired_at - self.incident.detected_at if self.candidate else None


@dataclass(frozen=True)
class BacktestResult:
    """Everything a backtest found; rendered by :mod:`bot.domain.backtest_report`."""

    playbook: str
    history: History
    quiet: timedelta
    diffs: tuple[RuleDiff, ...]
    current: Outcome
    candidate: Outcome
    detections: tuple[Detection, ...]
    not_replayed: tuple[str, ...]  # rules the bot has no samples for (Prometheus's)
    unsampled_queues: tuple[str, ...]  # queues the candidate watches that have no samples

    def unmatched(self, *, candidate: bool) -> tuple[Alert, ...]:
        """The candidate's (else the current playbook's) alerts that match no real
        incident: incidents it would have opened that nobody had."""
        which = self.candidate if candidate else self.current
        matched = {d.candidate if candidate else d.current for d in self.detections}
        return tuple(a for a in which.alerts if a not in matched)

    def seen(self, *, candidate: bool) -> int:
        """How many replayable real incidents the candidate's (else the current
        playbook's) replay raised an alert for."""
        return sum(
            1
            for d in self.detections
            if d.replayable and (d.candidate if candidate else d.current) is not None
        )

    @property
    def replayable(self) -> int:
        return sum(1 for d in self.detections if d.replayable)


def compare(
    current: Playbook,
    candidate: Playbook,
    history: History,
    incidents: Sequence[Incident],
    quiet: timedelta,
) -> BacktestResult:
    """Replays both playbooks and matches their alerts to the real ``incidents``.

    An alert matches a real incident when it was firing at some moment between the
    incident's detection and its resolution (or the end of the history): the alert
    the same backlog raised, whichever threshold saw it first. Raises
    :class:`TooLittleHistory` when nothing is stored, or when the points span less
    than the longest ``for:`` of either playbook (no rule could have fired).
    """
    _enough(current, candidate, history)
    now, then = outcome(current, history, quiet), outcome(candidate, history, quiet)
    detections = []
    for incident in sorted(incidents, key=lambda i: i.detected_at):
        if not history.requested[0] <= incident.detected_at <= history.requested[1]:
            continue
        end = incident.resolved_at or history.end
        detections.append(
            Detection(
                incident=incident,
                current=_first_overlapping(now.alerts, incident.detected_at, end, history.end),
                candidate=_first_overlapping(then.alerts, incident.detected_at, end, history.end),
                replayable=history.resolution_at(incident.detected_at) is not None,
            )
        )
    sampled = {q for p in history.points for q in p.depths}
    rules = [r for p in (current, candidate) for r in p.rules]
    every = {r.name for r in rules}
    depth = {r.name for r in rules if r.kind is RuleKind.DEPTH_ABOVE}
    return BacktestResult(
        playbook=current.name,
        history=history,
        quiet=quiet,
        diffs=tuple(rule_diffs(current, candidate)),
        current=now,
        candidate=then,
        detections=tuple(detections),
        not_replayed=tuple(sorted(every - depth)),
        unsampled_queues=tuple(sorted({r.queue for r in then.rules} - sampled)),
    )


def _first_overlapping(
    alerts: Sequence[Alert], start: datetime, end: datetime, history_end: datetime
) -> Alert | None:
    return next((a for a in alerts if a.overlaps(start, end, history_end)), None)


def longest_for(*playbooks: Playbook) -> timedelta:
    return max(
        (r.for_ for p in playbooks for r in p.rules if r.kind is RuleKind.DEPTH_ABOVE),
        default=timedelta(0),
    )


def _enough(current: Playbook, candidate: Playbook, history: History) -> None:
    since, until = history.requested
    asked = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    if not history.points:
        raise TooLittleHistory(
            f"No queue samples are stored for playbook `{current.name}` from {asked}: there "
            "is nothing to replay. The bot stores a sample of every queue while "
            "`backlog-bot serve` runs (raw for 48 h, hourly for 90 days); try again once it "
            "has run for a while, or with a longer `--since`."
        )
    span = history.end - history.start
    needed = longest_for(current, candidate)
    if len(history.points) < 2 or span < needed:
        raise TooLittleHistory(
            f"Too little history to backtest: the {len(history.points)} stored sample(s) of "
            f"playbook `{current.name}` from {asked} cover only {format_duration(span)}, less "
            f"than the longest `for:` of the rules ({format_duration(needed)}), so no rule "
            "could have fired. Try again once the bot has sampled for longer, or with a "
            "longer `--since`."
        )


def day_minute(at: datetime) -> str:
    """``2026-11-28 09:31`` (the report's times are UTC)."""
    return at.strftime("%Y-%m-%d %H:%M")


def short_minute(at: datetime) -> str:
    """``11-28 09:31``, in tables whose heading gives the year."""
    return at.strftime("%m-%d %H:%M")
