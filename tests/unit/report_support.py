"""Plain values for the report tests: ten minutes of samples from ``T0``, a resolved
incident, and the sources a report is composed from (each overridable by keyword)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.models import (
    Incident,
    IncidentState,
    QueueSample,
)
from bot.domain.playbook import Severity
from bot.domain.report import (
    ReportSources,
)

T0 = datetime(2026, 11, 28, 9, 40, 26, tzinfo=UTC)
EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"
MIN = timedelta(minutes=1)


def ts(at: datetime) -> str:
    return f"{at.timestamp():.6f}"


def series(*depths: int, start: datetime = T0, every: timedelta = MIN) -> list[QueueSample]:
    return [
        QueueSample(start + i * every, {EMAIL: depth, ANALYSIS: 10})
        for i, depth in enumerate(depths)
    ]


def incident(**kw) -> Incident:
    base = dict(
        id=7,
        playbook="phishnet-queue-backlog",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.RESOLVED,
        rule="EmailQueueBacklog",
        queue=EMAIL,
        detected_at=T0 + 3 * MIN,
        peak_depth=4321,
        peak_queue=EMAIL,
        acknowledged_at=T0 + 4 * MIN,
        acknowledged_by="UALICE",
        mitigation_started_at=T0 + 5 * MIN,
        resolved_at=T0 + 9 * MIN + timedelta(microseconds=100),
        resolved_by="UALICE",
        channel="C0INC",
    )
    base.update(kw)
    return Incident(**base)


def sources(playbook, **kw) -> ReportSources:
    base = dict(
        incident=incident(),
        playbook=playbook,
        timeline=(),
        actions=(),
        # 900 (below), then above 1,000 from T0+1m, peak at T0+4m, under again at T0+7m
        samples=tuple(series(900, 1200, 1500, 1800, 2500, 2500, 1400, 700, 200, 0)),
        now=T0 + 20 * MIN,
        people={"UALICE": "alice", "UBOB": "bob"},
    )
    base.update(kw)
    return ReportSources(**base)
