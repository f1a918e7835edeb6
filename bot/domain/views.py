"""Values handed to the presentation layer (the Slack adapter renders them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.alert_state import AlertPhase
from bot.domain.capacity import WorkerRecommendation
from bot.domain.models import ActionRequest, Incident, QueueSample
from bot.domain.playbook import Playbook
from bot.domain.rules import RuleState


@dataclass(frozen=True)
class Posted:
    """Where a message landed (channel id and message ts)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class QueueOutlook:
    """One queue on the living alert: its depth now (None: not read), its alert
    threshold and clear level (None: no depth rule), its trend in jobs/min (None: not
    enough samples yet) and what the trend implies, straight-line."""

    queue: str
    depth: int | None
    threshold: int | None = None
    clear_level: int | None = None
    per_minute: float | None = None
    drains_in: timedelta | None = None
    breaches_in: timedelta | None = None


@dataclass(frozen=True)
class AlertView:
    """Everything the incident's alert shows. Only the first five are needed for the
    alert as first posted; the rest make it the living alert (bot/domain/living_alert.py).

    ``ready``: ready workers of the rule queue's deployment (None: unknown);
    ``scale``: the capacity model's worker count for it (the Scale button);
    ``scale_held_until``: no count is offered before then, after a scale.
    """

    incident: Incident
    rule_state: RuleState
    sample: QueueSample
    history: Sequence[QueueSample]
    playbook: Playbook
    phase: AlertPhase = AlertPhase.FIRING
    queues: Sequence[QueueOutlook] = ()
    last_action: ActionRequest | None = None
    pending_actions: int = 0
    scale: WorkerRecommendation | None = None
    scale_held_until: datetime | None = None
    ready: int | None = None
    updated_at: datetime | None = None
    # The latest effect check's verdict on the last action, worded (bot/domain/effect_text.py).
    effect: str | None = None
