"""Incident lifecycle: open on a firing rule, track the peak, ack, resolve, report.

Every state change and the messages it causes are written in one transaction
(the outbox), so an incident stored while Slack is down still gets its alert as
soon as Slack answers again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.store import Store
from bot.domain.alerts import AlertStatus, ExternalAlert
from bot.domain.errors import Refused
from bot.domain.models import Clock, EventKind, Incident, QueueSample
from bot.domain.playbook import AlertRule, Playbook, RuleKind
from bot.domain.report import build_report, format_duration
from bot.domain.rules import RuleBook, RuleState, RuleStatus, Transition
from bot.services.messages import Messages
from bot.services.ports import AlertView

log = logging.getLogger(__name__)

_HISTORY = 120  # samples kept in memory for the alert's chart

__all__ = ["AlertOutcome", "IncidentService", "NoOpenIncident", "Resolution"]


class NoOpenIncident(Refused, LookupError):
    def __init__(self) -> None:
        super().__init__("There is no open incident.")


@dataclass(frozen=True)
class Resolution:
    incident: Incident
    report: str


@dataclass(frozen=True)
class AlertOutcome:
    """What became of one alert of an Alertmanager notification (the webhook's answer)."""

    alert: str
    status: str
    outcome: str


class IncidentService:
    def __init__(self, store: Store, messages: Messages, playbook: Playbook, clock: Clock) -> None:
        self._store = store
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._rules = RuleBook(playbook.rules)
        self._history: deque[QueueSample] = deque(maxlen=_HISTORY)

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

    @property
    def channel(self) -> str:
        """Where incidents are announced (the playbook's incident channel)."""
        return self._playbook.slack.incident_channel

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
            queue, depth = max(sample.depths.items(), key=lambda kv: kv[1])
            await self._store.record_peak(current.id, queue, depth, sample.at)
        return opened

    async def on_external_alerts(
        self, alerts: Sequence[ExternalAlert], sample: QueueSample, *, truncated: int = 0
    ) -> list[AlertOutcome]:
        """An Alertmanager notification, each alert stored before anything is done.

        A re-send (same fingerprint, startsAt and status) finds its row and changes
        nothing — whichever replica gets it, after a restart, or after the incident
        was resolved. A ``startsAt`` in the future (a skewed Prometheus clock) counts
        as now. Raises only when storing fails, so Alertmanager retries.
        """
        outcomes = [await self._on_external_alert(alert, sample) for alert in alerts]
        if truncated:
            await self._say_truncated(truncated, sample)
        return outcomes

    async def _on_external_alert(self, alert: ExternalAlert, sample: QueueSample) -> AlertOutcome:
        starts_at = min(alert.starts_at, sample.at)
        rule = next((r for r in self._playbook.rules if r.name == alert.name), None)
        async with self._store.transaction() as tx:
            stored = await tx.store_alert(
                fingerprint=alert.fingerprint,
                starts_at=starts_at,
                status=alert.status.value,
                alertname=alert.name,
                labels=alert.labels,
                at=sample.at,
            )
            if not stored:
                outcome = "already received"
            elif rule is None:
                outcome = "ignored (not a rule of this playbook)"
            elif alert.status is AlertStatus.RESOLVED:
                outcome = await self._external_resolved(tx, alert, rule, starts_at, sample)
            else:
                state = RuleState(
                    rule=rule,
                    status=RuleStatus.FIRING,
                    active_since=starts_at,
                    value=sample.depths.get(rule.queue, 0),
                )
                incident, created = await self._on_firing_in(
                    tx, Transition(state=state, firing=True), sample, "Prometheus"
                )
                await tx.link_alert(alert.fingerprint, starts_at, "firing", incident.id)
                outcome = (
                    f"opened incident #{incident.id}"
                    if created
                    else f"added to incident #{incident.id}"
                )
        return AlertOutcome(alert.name, alert.status.value, outcome)

    async def _external_resolved(
        self,
        tx: Store,
        alert: ExternalAlert,
        rule: AlertRule,
        starts_at: object,
        sample: QueueSample,
    ) -> str:
        incident = await tx.open_incident_for(self._playbook.name)
        if incident is None:
            return "resolved (no open incident)"
        await tx.add_event(
            incident.id,
            at=sample.at,
            kind=EventKind.RULE_FIRING,
            text=f"{rule.name} resolved in Prometheus",
            data={"fingerprint": alert.fingerprint},
        )
        still = await tx.firing_alerts(incident.id)
        remaining = f"; {len(still)} Prometheus alert(s) still firing" if still else ""
        await self._messages.say(
            tx,
            f"incident/{incident.id}/prometheus-resolved/{alert.fingerprint}/{starts_at}",
            incident.channel or self.channel,
            f":large_green_circle: Prometheus reports *{rule.name}* resolved{remaining}.",
            thread_key=f"incident/{incident.id}/alert",
            incident_id=incident.id,
        )
        return f"resolved noted on incident #{incident.id}"

    async def _say_truncated(self, truncated: int, sample: QueueSample) -> None:
        async with self._store.transaction() as tx:
            incident = await tx.open_incident_for(self._playbook.name)
            text = (
                f":warning: Alertmanager left {truncated} alert(s) out of its last notification "
                "(its `max_alerts` setting); they are not shown here. See Alertmanager's UI."
            )
            if incident is not None:
                await tx.add_event(
                    incident.id,
                    at=sample.at,
                    kind=EventKind.RULE_FIRING,
                    text=f"Alertmanager truncated {truncated} alert(s)",
                    data={"truncated": truncated},
                )
            await self._messages.say(
                tx,
                f"alertmanager/truncated/{sample.at.isoformat()}",
                incident.channel if incident and incident.channel else self.channel,
                text,
                incident_id=incident.id if incident else None,
            )

    async def _on_firing(self, transition: Transition, sample: QueueSample) -> Incident | None:
        async with self._store.transaction() as tx:
            incident, created = await self._on_firing_in(tx, transition, sample, "Backlog Bot")
        return incident if created else None

    async def _on_firing_in(
        self, tx: Store, transition: Transition, sample: QueueSample, source: str
    ) -> tuple[Incident, bool]:
        """Opens the incident (or joins the open one) and writes its alert, in ``tx``."""
        state = transition.state
        rule = state.rule
        depth = sample.depths.get(rule.queue, 0)
        incident, created = await tx.open_incident(
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
        kind = EventKind.DETECTED if created else EventKind.RULE_FIRING
        await tx.add_event(incident.id, at=sample.at, kind=kind, text=text)
        if not created:
            return incident, False
        channel = self.channel
        await tx.set_incident_message(incident.id, channel, None)
        view = AlertView(
            incident=incident,
            rule_state=state,
            sample=sample,
            history=tuple(self._history),
            playbook=self._playbook,
        )
        await self._messages.alert(tx, view, channel)
        log.info("incident opened", extra={"incident": incident.id, "rule": rule.name})
        return incident, True

    async def current(self) -> Incident:
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            raise NoOpenIncident()
        return incident

    async def acknowledge(self, user: str) -> Incident:
        incident = await self.current()
        now = self._clock()
        async with self._store.transaction() as tx:
            if await tx.acknowledge(incident.id, user, now):
                await tx.add_event(
                    incident.id,
                    at=now,
                    kind=EventKind.ACKNOWLEDGED,
                    actor=user,
                    text="Acknowledged",
                )
            # Pagers outside Slack too, even if already acknowledged here: a trigger may
            # have paged one since (bot/services/paging.py).
            await tx.enqueue_page_follow_ups(incident.id, "acknowledge", now)
        return await self.current()

    async def add_note(self, user: str, text: str, kind: EventKind = EventKind.NOTE) -> Incident:
        incident = await self.current()
        now = self._clock()
        async with self._store.transaction() as tx:
            if kind is EventKind.ROOT_CAUSE:
                await tx.set_root_cause(incident.id, text)
            await tx.add_event(incident.id, at=now, kind=kind, actor=user, text=text)
        return incident

    async def resolve(self, user: str) -> Resolution:
        incident = await self.current()
        now = self._clock()
        async with self._store.transaction() as tx:
            if not await tx.resolve_incident(incident.id, user, now):
                raise NoOpenIncident()
            await tx.add_event(
                incident.id, at=now, kind=EventKind.RESOLVED, actor=user, text="Resolved"
            )
            await tx.enqueue_page_follow_ups(incident.id, "resolve", now)
            await tx.audit(
                at=now,
                actor=user,
                action="resolve",
                target=f"incident/{incident.id}",
                outcome="resolved",
            )
            report = await self._report(tx, incident.id)
            resolved = await tx.get_incident(incident.id)
            assert resolved is not None
            await self._messages.report(tx, resolved, report, resolved.channel or self.channel)
        return Resolution(incident=resolved, report=report)

    async def report(self, incident_id: int | None = None) -> str:
        return await self._report(self._store, incident_id)

    async def _report(self, store: Store, incident_id: int | None) -> str:
        if incident_id is None:
            latest = await store.latest_incident(self._playbook.name)
            if latest is None:
                raise NoOpenIncident()
            incident_id = latest.id
        incident = await store.get_incident(incident_id)
        if incident is None:
            raise Refused(f"There is no incident #{incident_id}.")
        timeline = await store.timeline(incident_id)
        actions = await store.actions_for_incident(incident_id)
        return build_report(incident, timeline, actions, self._playbook.report, now=self._clock())
