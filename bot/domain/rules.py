"""Alert rules with Prometheus-style ``for:`` durations, evaluated on samples.

A rule is *pending* from the first sample above its threshold and *firing*
once it has stayed above for the rule's duration; one sample at or below the
threshold resets it, as in Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.models import QueueSample
from bot.domain.playbook import AlertRule, RuleKind


class RuleStatus(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class RuleState:
    rule: AlertRule
    status: RuleStatus = RuleStatus.INACTIVE
    active_since: datetime | None = None
    value: int = 0

    def above_for(self, now: datetime) -> timedelta:
        return now - self.active_since if self.active_since else timedelta(0)


@dataclass(frozen=True)
class Transition:
    """A rule that started firing (``firing=True``) or stopped firing."""

    state: RuleState
    firing: bool


def step(state: RuleState, sample: QueueSample) -> tuple[RuleState, Transition | None]:
    """Advances one rule by one sample."""
    rule = state.rule
    depth = sample.depths.get(rule.queue)
    if depth is None or depth <= rule.threshold:
        was_firing = state.status is RuleStatus.FIRING
        new = RuleState(rule=rule, value=depth or 0)
        return new, Transition(state=new, firing=False) if was_firing else None
    since = state.active_since or sample.at
    status = RuleStatus.FIRING if sample.at - since >= rule.for_ else RuleStatus.PENDING
    new = replace(state, status=status, active_since=since, value=depth)
    if status is RuleStatus.FIRING and state.status is not RuleStatus.FIRING:
        return new, Transition(state=new, firing=True)
    return new, None


class RuleBook:
    """The monitor's view of every depth rule of a playbook."""

    def __init__(self, rules: Iterable[AlertRule]) -> None:
        self._states = {
            rule.name: RuleState(rule=rule) for rule in rules if rule.kind is RuleKind.DEPTH_ABOVE
        }

    def observe(self, sample: QueueSample) -> list[Transition]:
        transitions = []
        for name, state in self._states.items():
            new, transition = step(state, sample)
            self._states[name] = new
            if transition:
                transitions.append(transition)
        return transitions

    def replay(self, samples: Sequence[QueueSample]) -> None:
        """Rebuilds pending/firing state from stored samples (after a restart, or when
        this replica takes the background work over): what it knew before is dropped."""
        self._states = {name: RuleState(rule=state.rule) for name, state in self._states.items()}
        for sample in samples:
            self.observe(sample)

    @property
    def states(self) -> tuple[RuleState, ...]:
        return tuple(self._states.values())

    def firing(self) -> tuple[RuleState, ...]:
        return tuple(s for s in self._states.values() if s.status is RuleStatus.FIRING)
