"""The living alert and recovery: on every sample while an incident is open, the alert
is brought up to date (the sender coalesces edits to the playbook's
``slack.alert_refresh``), recovery is tracked with hysteresis (bot/domain/
alert_state.py), announced once the queues stayed clear for the quiet period, and,
if the playbook says so, the incident is resolved after the longer quiet period.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot.adapters.slack import incident_blocks as texts
from bot.adapters.store import Store
from bot.domain.alert_state import (
    AlertPhase,
    RecoveryStep,
    alert_phase,
    clear_levels,
    is_clear,
    step_recovery,
)
from bot.domain.effect_text import verdict_text
from bot.domain.living_alert import build_alert_view, rule_state_for
from bot.domain.models import Clock, EventKind, Incident, QueueSample
from bot.domain.playbook import Playbook
from bot.domain.report import format_duration
from bot.domain.rules import RuleState
from bot.domain.views import AlertView
from bot.services.channels import IncidentChannels
from bot.services.messages import Messages, recovery_key

log = logging.getLogger(__name__)

ReadyWorkers = Callable[[str], Awaitable[int | None]]
"""Ready replicas of a deployment (None: unknown); the Kubernetes adapter's answer."""


class LivingAlert:
    def __init__(
        self,
        store: Store,
        messages: Messages,
        channels: IncidentChannels,
        playbook: Playbook,
        clock: Clock,
        ready_workers: ReadyWorkers | None = None,
    ) -> None:
        self._store = store
        self._messages = messages
        self._channels = channels
        self._playbook = playbook
        self._clock = clock
        self._ready_workers = ready_workers
        self._levels = clear_levels(playbook.rules, playbook.recovery.hysteresis)

    async def ready(self, incident: Incident) -> int | None:
        """Ready workers of the rule queue's deployment, when they can be read."""
        queue = self._playbook.queue(incident.queue)
        if queue is None or queue.deployment is None or self._ready_workers is None:
            return None
        return await self._ready_workers(queue.deployment)

    async def view(
        self,
        tx: Store,
        incident: Incident,
        sample: QueueSample,
        history: Sequence[QueueSample],
        states: Sequence[RuleState],
        *,
        ready: int | None = None,
    ) -> AlertView:
        rule = next(r for r in self._playbook.rules if r.name == incident.rule)
        actions = await tx.actions_for_incident(incident.id)
        verdict = await tx.latest_verdict(incident.id)
        view = build_alert_view(
            incident=incident,
            rule_state=rule_state_for(rule, states, incident),
            sample=sample,
            history=history,
            playbook=self._playbook,
            phase=alert_phase(incident, actions, incident.clear_since),
            actions=actions,
            ready=ready,
        )
        if verdict is None:
            return view
        return replace(view, effect=f"{verdict.summary}: {verdict_text(verdict)}")

    async def on_sample(
        self,
        incident: Incident,
        sample: QueueSample,
        history: Sequence[QueueSample],
        states: Sequence[RuleState],
    ) -> RecoveryStep:
        """Recovery's next step and the alert brought up to date, in one transaction."""
        ready = await self.ready(incident)
        now = sample.at
        async with self._store.transaction() as tx:
            external = await tx.firing_alerts(incident.id)
            step = step_recovery(
                clear_now=is_clear(sample, self._levels) and not external,
                clear_since=incident.clear_since,
                announced=incident.recovery_announced_at is not None,
                now=now,
                recovery=self._playbook.recovery,
            )
            current = await self._record_recovery(tx, incident, step, sample)
            await self.refresh(tx, current, sample, history, states, ready=ready)
        return step

    async def _record_recovery(
        self, tx: Store, incident: Incident, step: RecoveryStep, sample: QueueSample
    ) -> Incident:
        now = sample.at
        announced_at = incident.recovery_announced_at if step.clear_since else None
        if step.announce:
            announced_at = now
        if step.clear_since == incident.clear_since and announced_at == (
            incident.recovery_announced_at
        ):
            return incident
        await tx.set_recovery(incident.id, step.clear_since, announced_at)
        current = replace(
            incident, clear_since=step.clear_since, recovery_announced_at=announced_at
        )
        if step.announce and step.clear_since is not None:
            quiet_for = now - step.clear_since
            after = self._playbook.recovery.auto_resolve_after
            auto_at = step.clear_since + after if after is not None else None
            text = texts.recovery_text(
                current, self._playbook, dict(sample.depths), quiet_for, auto_at
            )
            await self._messages.recovery(tx, current, text, now)
            await tx.add_event(
                incident.id,
                at=now,
                kind=EventKind.NOTE,
                text=f"Recovered: every queue under its threshold for {format_duration(quiet_for)}",
            )
        if step.relapsed and incident.recovery_announced_at is not None:
            queue, depth, level = self._relapsed_queue(sample)
            await self._messages.close_buttons(
                tx,
                recovery_key(incident.id, incident.recovery_announced_at),
                texts.relapse_line(queue, depth, level, now),
            )
        if step.relapsed:
            log.info("queues above their clear level again", extra={"incident": incident.id})
        return current

    def _relapsed_queue(self, sample: QueueSample) -> tuple[str, int, int]:
        for queue, level in self._levels.items():
            depth = sample.depths.get(queue)
            if depth is None or depth > level:
                return queue, depth or 0, level
        queue, level = next(iter(self._levels.items()))  # a Prometheus alert fires again
        return queue, sample.depths.get(queue, 0), level

    async def refresh(
        self,
        tx: Store,
        incident: Incident,
        sample: QueueSample,
        history: Sequence[QueueSample],
        states: Sequence[RuleState],
        *,
        ready: int | None = None,
        urgent: bool = False,
    ) -> AlertPhase:
        """The alert (and the channel's topic, when the phase changed) as it is now."""
        view = await self.view(tx, incident, sample, history, states, ready=ready)
        changed = await tx.set_alert_phase(incident.id, view.phase.value)
        if changed:
            await self._channels.show_phase(tx, incident, view.phase)
        await self._messages.alert_changed(tx, view, urgent=urgent or changed)
        return view.phase
