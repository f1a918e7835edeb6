"""Incident lifecycle: open on a firing rule, track the peak, ack, resolve, report."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.store import Store
from bot.domain.alerts import AlertStatus, ExternalAlert
from bot.domain.errors import Refused
from bot.domain.models import Clock, EventKind, Incident, QueueSample
from bot.domain.playbook import Playbook, RuleKind
from bot.domain.report import build_report, format_duration
from bot.domain.rules import RuleBook, RuleState, RuleStatus, Transition
from bot.services.ports import AlertView, Notifier

log = logging.getLogger(__name__)

_HISTORY = 120  # samples kept in memory for the alert's chart


class NoOpenIncident(Refused, LookupError):
    def __init__(self) -> None:
        super().__init__("There is no open incident.")


@dataclass(frozen=True)
class Resolution:
    incident: Incident
    report: str


class IncidentService:
    def __init__(self, store: Store, notifier: Notifier, playbook: Playbook, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._playbook = playbook
        self._clock = clock
        self._rules = RuleBook(playbook.rules)
        self._history: deque[QueueSample] = deque(maxlen=_HISTORY)
        self._seen_alerts: set[tuple[str, str, AlertStatus]] = set()

    async def restore(self) -> None:
        """Rebuilds the rules' pending/firing state from stored samples after a restart,
        so a backlog 9 minutes into a 10-minute ``for:`` still fires in a minute."""
        now = self._clock()
        longest = max((rule.for_ for rule in self._playbook.rules), default=timedelta(0))
        samples = await self._store.samples_between(
            self._playbook.name, now - longest - timedelta(minutes=5), now
        )
        self._rules.replay(samples)
        self._history.extend(samples[-_HISTORY:])

    @property
    def rules(self) -> RuleBook:
        return self._rules

    async def observe(self, sample: QueueSample) -> Incident | None:
        """Feeds one sample: stores it, advances the rules, opens/updates the incident.

        Returns the incident this sample opened, if any.
        """
        self._history.append(sample)
        await self._store.save_sample(self._playbook.name, sample)
        opened = None
        for transition in self._rules.observe(sample):
            if transition.firing:
                incident = await self._on_firing(transition, sample)
                opened = opened or incident
        current = await self._store.open_incident_for(self._playbook.name)
        if current is not None:
            await self._track_peak(current, sample)
        return opened

    async def on_external_alert(self, alert: ExternalAlert, sample: QueueSample) -> str:
        """An alert from Alertmanager; returns what was done (for the webhook's answer).

        Only alerts named like a playbook rule count. Alertmanager re-sends every
        ``repeat_interval``; a re-sent alert changes nothing.
        """
        rule = next((r for r in self._playbook.rules if r.name == alert.name), None)
        if rule is None:
            return "ignored (not a rule of this playbook)"
        if alert.key in self._seen_alerts:
            return "already seen"
        self._seen_alerts.add(alert.key)
        if alert.status is AlertStatus.RESOLVED:
            incident = await self._store.open_incident_for(self._playbook.name)
            if incident is not None:
                await self._store.add_event(
                    incident.id,
                    at=sample.at,
                    kind=EventKind.RULE_FIRING,
                    text=f"{rule.name} resolved in Prometheus",
                )
            return "resolved noted" if incident else "resolved (no open incident)"
        state = RuleState(
            rule=rule,
            status=RuleStatus.FIRING,
            active_since=alert.starts_at,
            value=sample.depths.get(rule.queue, 0),
        )
        opened = await self._on_firing(Transition(state=state, firing=True), sample, "Prometheus")
        return f"opened incident #{opened.id}" if opened else "added to the open incident"

    async def _on_firing(
        self, transition: Transition, sample: QueueSample, source: str = "Backlog Bot"
    ) -> Incident | None:
        state = transition.state
        rule = state.rule
        depth = sample.depths.get(rule.queue, 0)
        incident, created = await self._store.open_incident(
            playbook=self._playbook.name,
            title=rule.summary or rule.name,
            severity=rule.severity,
            rule=rule.name,
            queue=rule.queue,
            depth=depth,
            at=sample.at,
        )
        above = format_duration(state.above_for(sample.at))
        condition = (
            f"(threshold {rule.threshold:,})"
            if rule.kind is RuleKind.DEPTH_ABOVE
            else "(no jobs processed)"
        )
        text = f"{rule.name} firing ({source}): `{rule.queue}` at {depth:,} {condition} for {above}"
        if not created:
            await self._store.add_event(
                incident.id, at=sample.at, kind=EventKind.RULE_FIRING, text=text
            )
            return None
        await self._store.add_event(incident.id, at=sample.at, kind=EventKind.DETECTED, text=text)
        view = AlertView(
            incident=incident,
            rule_state=state,
            sample=sample,
            history=tuple(self._history),
            playbook=self._playbook,
        )
        posted = await self._notifier.post_alert(view)
        await self._store.set_incident_message(incident.id, posted.channel, posted.ts)
        log.info("incident opened", extra={"incident": incident.id, "rule": rule.name})
        return incident

    async def _track_peak(self, incident: Incident, sample: QueueSample) -> None:
        queue, depth = max(sample.depths.items(), key=lambda kv: kv[1])
        await self._store.record_peak(incident.id, queue, depth, sample.at)

    async def current(self) -> Incident:
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            raise NoOpenIncident()
        return incident

    async def acknowledge(self, user: str) -> Incident:
        incident = await self.current()
        now = self._clock()
        if await self._store.acknowledge(incident.id, user, now):
            await self._store.add_event(
                incident.id, at=now, kind=EventKind.ACKNOWLEDGED, actor=user, text="Acknowledged"
            )
        return await self.current()

    async def add_note(self, user: str, text: str, kind: EventKind = EventKind.NOTE) -> Incident:
        incident = await self.current()
        now = self._clock()
        if kind is EventKind.ROOT_CAUSE:
            await self._store.set_root_cause(incident.id, text)
        await self._store.add_event(incident.id, at=now, kind=kind, actor=user, text=text)
        return incident

    async def resolve(self, user: str) -> Resolution:
        incident = await self.current()
        now = self._clock()
        if not await self._store.resolve_incident(incident.id, user, now):
            raise NoOpenIncident()
        await self._store.add_event(
            incident.id, at=now, kind=EventKind.RESOLVED, actor=user, text="Resolved"
        )
        await self._store.audit(
            at=now,
            actor=user,
            action="resolve",
            target=f"incident/{incident.id}",
            outcome="resolved",
        )
        report = await self.report(incident.id)
        resolved = await self._store.get_incident(incident.id)
        assert resolved is not None
        channel = resolved.channel or self._playbook.slack.incident_channel
        await self._notifier.post_report(channel, resolved, report)
        return Resolution(incident=resolved, report=report)

    async def report(self, incident_id: int | None = None) -> str:
        if incident_id is None:
            latest = await self._store.latest_incident(self._playbook.name)
            if latest is None:
                raise NoOpenIncident()
            incident_id = latest.id
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            raise LookupError(f"No incident #{incident_id}.")
        timeline = await self._store.timeline(incident_id)
        actions = await self._store.actions_for_incident(incident_id)
        return build_report(incident, timeline, actions, self._playbook.report, now=self._clock())
