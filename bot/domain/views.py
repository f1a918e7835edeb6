"""Values handed to the presentation layer (the Slack adapter renders them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.models import Incident, QueueSample
from bot.domain.playbook import Playbook
from bot.domain.rules import RuleState


@dataclass(frozen=True)
class Posted:
    """Where a message landed (channel id and message ts)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class AlertView:
    incident: Incident
    rule_state: RuleState
    sample: QueueSample
    history: Sequence[QueueSample]
    playbook: Playbook
