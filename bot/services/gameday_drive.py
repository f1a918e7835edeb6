"""One game day's state as it runs: what it pushed (and reserved in PostgreSQL),
when the queue crossed the threshold, the incident, when the alert and the first page
reached Slack — the times the drill's summary measures (bot/services/gameday.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.models import Incident
from bot.domain.playbook_gameday import DrillPlan, Measured


class Drive:
    """What one drill has pushed and seen so far."""

    def __init__(self, plan: DrillPlan, run_id: str) -> None:
        self.plan = plan
        self.run_id = run_id
        self.pushed = 0
        self.reserved = 0  # ids recorded in PostgreSQL, pushed or about to be
        self.crossed_at: datetime | None = None
        self.incident: Incident | None = None
        self.posted_at: datetime | None = None
        self.paged_at: datetime | None = None
        self.closed = False  # resolved by someone during the drill
        self.sampling_said = False

    @property
    def incident_id(self) -> int | None:
        return None if self.incident is None else self.incident.id

    def since_start(self, at: datetime) -> timedelta | None:
        return None if self.crossed_at is None else at - self.crossed_at

    def measured(self) -> Measured:
        return Measured(
            crossed_at=self.crossed_at,
            detected_at=None if self.incident is None else self.incident.detected_at,
            posted_at=self.posted_at,
            paged_at=self.paged_at,
        )
