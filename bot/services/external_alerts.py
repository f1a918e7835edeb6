"""Alerts from Alertmanager (webhook v4) joining or opening the incident.

A re-send (same fingerprint, startsAt and status) finds its stored row and changes
nothing; a firing alert named like a playbook rule opens or joins the incident; a
resolved one is said in the incident's channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.adapters.store import Store
from bot.adapters.store.outbox import incident_destination
from bot.domain.alerts import AlertStatus, ExternalAlert
from bot.domain.models import EventKind, Incident, QueueSample
from bot.domain.playbook import AlertRule, Playbook
from bot.domain.rules import RuleState, RuleStatus, Transition
from bot.services.messages import Messages


@dataclass(frozen=True)
class AlertOutcome:
    """What became of one alert of an Alertmanager notification (the webhook's answer)."""

    alert: str
    status: str
    outcome: str


class ExternalAlerts:
    """The Alertmanager side of :class:`~bot.services.incidents.IncidentService`."""

    _store: Store
    _messages: Messages
    _playbook: Playbook

    @property
    def channel(self) -> str:
        raise NotImplementedError

    async def _on_firing_in(
        self, tx: Store, transition: Transition, sample: QueueSample, source: str
    ) -> tuple[Incident, bool]:
        raise NotImplementedError

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
            incident_destination(incident.id),
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
                incident_destination(incident.id) if incident else self.channel,
                text,
                incident_id=incident.id if incident else None,
            )
