"""The living alert's state, and recovery with hysteresis, as pure functions.

An incident's alert goes firing → mitigating (once an approved action has run)
→ recovering (every depth rule's queue back at or below its clear level) →
resolved. Recovery is announced once the queues have stayed clear for the
playbook's quiet period; a sample above the clear level during the wait sends
the alert back to firing/mitigating and the same incident goes on, so a queue
hovering at its threshold never opens and closes incidents.

The clear level is ``threshold * (1 - hysteresis)``, rounded down: with a
threshold of 1,000 and 10 % hysteresis, 900 (the same idea as Alertmanager's
``resolve_timeout`` plus a dead band, so one sample at 999 does not end it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.models import ActionRequest, ActionState, Incident, IncidentState, QueueSample
from bot.domain.playbook import AlertRule, RuleKind
from bot.domain.playbook_slack import Recovery


class AlertPhase(StrEnum):
    FIRING = "firing"
    MITIGATING = "mitigating"
    RECOVERING = "recovering"
    RESOLVED = "resolved"


#: Actions that count as mitigation once they have started running.
_RAN = frozenset({ActionState.EXECUTING, ActionState.SUCCEEDED})


def clear_level(threshold: int, hysteresis: float) -> int:
    """The depth at or below which a queue counts as clear (jobs)."""
    return math.floor(threshold * (1 - hysteresis))


def clear_levels(rules: Iterable[AlertRule], hysteresis: float) -> dict[str, int]:
    """Each depth rule's queue and its clear level (the lowest when several rules watch
    one queue)."""
    levels: dict[str, int] = {}
    for rule in rules:
        if rule.kind is RuleKind.DEPTH_ABOVE:
            level = clear_level(rule.threshold, hysteresis)
            levels[rule.queue] = min(level, levels.get(rule.queue, level))
    return levels


def is_clear(sample: QueueSample, levels: dict[str, int]) -> bool:
    """Every watched queue was read and is at or below its clear level. A queue missing
    from the sample is unknown, not clear."""
    return all(
        queue in sample.depths and sample.depths[queue] <= level for queue, level in levels.items()
    )


def alert_phase(
    incident: Incident, actions: Sequence[ActionRequest], clear_since: datetime | None
) -> AlertPhase:
    """Where the incident stands, from what is stored."""
    if incident.state is IncidentState.RESOLVED:
        return AlertPhase.RESOLVED
    if clear_since is not None:
        return AlertPhase.RECOVERING
    if any(a.state in _RAN for a in actions):
        return AlertPhase.MITIGATING
    return AlertPhase.FIRING


@dataclass(frozen=True)
class RecoveryStep:
    """What one sample means for recovery.

    ``clear_since``: since when the queues have been clear (None: not clear now);
    ``announce``: the quiet period has just been reached (say it, offer Resolve);
    ``relapsed``: the queues were clear and no longer are (the wait starts over);
    ``auto_resolve``: clear for the playbook's ``auto_resolve_after``: resolve now.
    """

    clear_since: datetime | None
    announce: bool = False
    relapsed: bool = False
    auto_resolve: bool = False

    @property
    def changed_phase(self) -> bool:
        return self.relapsed or self.announce or self.auto_resolve


def step_recovery(
    *,
    clear_now: bool,
    clear_since: datetime | None,
    announced: bool,
    now: datetime,
    recovery: Recovery,
) -> RecoveryStep:
    """Advances recovery by one sample taken at ``now``.

    ``clear_now``: this sample is clear (:func:`is_clear`) and nothing else (such as a
    Prometheus alert) still fires; ``announced``: recovery was already announced for
    the current ``clear_since``.
    """
    if not clear_now:
        return RecoveryStep(clear_since=None, relapsed=clear_since is not None)
    since = clear_since or now
    quiet_for = now - since
    announce = not announced and quiet_for >= recovery.quiet_period
    after = recovery.auto_resolve_after
    auto = after is not None and quiet_for >= after
    return RecoveryStep(clear_since=since, announce=announce, auto_resolve=auto)


def quiet_left(clear_since: datetime, now: datetime, quiet_period: timedelta) -> timedelta:
    """How much of the quiet period is still to wait (never negative)."""
    return max(quiet_period - (now - clear_since), timedelta(0))
