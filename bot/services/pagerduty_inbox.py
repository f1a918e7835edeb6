"""PagerDuty's v3 webhooks in: an acknowledgement or resolution in PagerDuty, mapped back
to our incident by its dedup key.

``incident.acknowledged`` acknowledges our incident as ``/backlog ack`` does: a
timeline entry naming the PagerDuty agent, paging stops (the tiers' timers), it is
said in the channel, and every other pager triggered for the incident is
acknowledged too.

``incident.resolved`` does **not** resolve our incident (decided): a PagerDuty
incident is often resolved to silence a pager, or by PagerDuty itself (an
auto-resolve timeout), while the queue is still backed up — and resolving here
posts the report and ends the incident for everyone. So the bot records it,
acknowledges the incident if nobody had (whoever resolved it is on it: paging
stops), says so in the channel with the current depth, and offers a Resolve button
that runs ``/backlog resolve`` with its permission check.

Each event is processed once: its id is stored in PostgreSQL in the same
transaction as its effects, so PagerDuty's redeliveries (same ``event.id``, to any
replica) change nothing. An event about an incident that is not ours (another
tool's key, another playbook, an unknown id) is answered 2xx "not ours", so
PagerDuty does not retry it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.adapters.pagerduty import PagerDutyEvent, PagerDutyEventType
from bot.adapters.slack import blocks
from bot.adapters.slack.ids import ActionId, BlockId
from bot.adapters.store import Store
from bot.domain.models import Clock, EventKind, Incident, IncidentState
from bot.domain.playbook import Playbook
from bot.domain.text import mrkdwn_escape
from bot.services.messages import Messages

log = logging.getLogger(__name__)


class PagerDutyInbox:
    def __init__(self, store: Store, messages: Messages, playbook: Playbook, clock: Clock) -> None:
        self._store = store
        self._messages = messages
        self._playbook = playbook
        self._clock = clock

    async def on_event(self, event: PagerDutyEvent) -> str:
        """Applies one acknowledged / resolved event once; returns what happened, in a
        sentence (the webhook's answer). Raises only when PostgreSQL fails, so that
        PagerDuty delivers the event again."""
        now = self._clock()
        async with self._store.transaction() as tx:
            kind = event.event_type.value
            if not await tx.record_webhook_event(event.event_id, kind, now, None, "received"):
                previous = await tx.webhook_event_result(event.event_id)
                return f"already processed: {previous}"
            incident, result = await self._apply(tx, event, now)
            await tx.set_webhook_result(event.event_id, result, incident)
        log.info("pagerduty webhook", extra={"event_id": event.event_id, "result": result})
        return result

    async def _apply(
        self, tx: Store, event: PagerDutyEvent, now: datetime
    ) -> tuple[int | None, str]:
        key = event.incident
        if key is None:
            return None, "not ours: the PagerDuty incident's key is not a Backlog Bot dedup key"
        if key.playbook != self._playbook.name:
            return None, f"not ours: it belongs to the playbook {key.playbook!r}"
        incident = await tx.lock_incident(key.incident_id)
        if incident is None or incident.playbook != self._playbook.name:
            return None, f"not ours: there is no incident #{key.incident_id}"
        if incident.state is IncidentState.RESOLVED:
            return incident.id, f"incident #{incident.id} is already resolved in Backlog Bot"
        if event.event_type is PagerDutyEventType.ACKNOWLEDGED:
            return incident.id, await self._acknowledged(tx, incident, event, now)
        return incident.id, await self._resolved(tx, incident, event, now)

    async def _acknowledged(
        self, tx: Store, incident: Incident, event: PagerDutyEvent, now: datetime
    ) -> str:
        who = _agent(event)
        acknowledged = await tx.acknowledge(incident.id, _actor(event), now)
        await tx.add_event(
            incident.id,
            at=now,
            kind=EventKind.ACKNOWLEDGED,
            text=f"Acknowledged in PagerDuty by {who}",
            data=_data(event),
        )
        await tx.enqueue_page_follow_ups(incident.id, "acknowledge", now)
        if not acknowledged:
            return f"incident #{incident.id} was already acknowledged"
        await self._messages.say(
            tx,
            f"incident/{incident.id}/pagerduty/{event.event_id}",
            self._channel(incident),
            f":white_check_mark: {who} acknowledged incident #{incident.id} in PagerDuty"
            f"{_link(event)}; paging stops.",
            incident_id=incident.id,
        )
        return f"acknowledged incident #{incident.id}"

    async def _resolved(
        self, tx: Store, incident: Incident, event: PagerDutyEvent, now: datetime
    ) -> str:
        who = _agent(event)
        acknowledged = await tx.acknowledge(incident.id, _actor(event), now)
        await tx.add_event(
            incident.id,
            at=now,
            kind=EventKind.ACKNOWLEDGED if acknowledged else EventKind.NOTE,
            text=f"Resolved in PagerDuty by {who}; still open in Backlog Bot",
            data=_data(event),
        )
        await tx.enqueue_page_follow_ups(incident.id, "acknowledge", now)
        samples = await tx.samples_between(self._playbook.name, now - timedelta(minutes=5), now)
        depth = samples[-1].depths.get(incident.queue) if samples else None
        still = f" while `{incident.queue}` holds {depth:,} jobs" if depth is not None else ""
        text = (
            f":large_green_circle: {who} resolved the PagerDuty incident for incident "
            f"#{incident.id}{_link(event)}"
            + ("; it counts as an acknowledgement here, so paging stops" if acknowledged else "")
            + f". The incident stays open in Backlog Bot{still}: a PagerDuty incident is often "
            "resolved to silence a pager. Resolve it here once the backlog is gone."
        )
        body = blocks.payload(
            text,
            [
                blocks.section(text),
                {
                    "type": "actions",
                    "block_id": BlockId.PAGERDUTY_RESOLVED.value,
                    "elements": [blocks.button("Resolve", ActionId.RESOLVE, str(incident.id))],
                },
            ],
        )
        await tx.enqueue_message(
            f"incident/{incident.id}/pagerduty/{event.event_id}",
            self._channel(incident),
            body,
            at=now,
            incident_id=incident.id,
        )
        return (
            f"noted on incident #{incident.id}: resolved in PagerDuty, left open in Backlog Bot "
            "until a person resolves it there"
        )

    def _channel(self, incident: Incident) -> str:
        return incident.channel or self._playbook.slack.incident_channel


def _agent(event: PagerDutyEvent) -> str:
    """Who acted, as a sentence names them (their PagerDuty name is not trusted mrkdwn)."""
    agent = event.agent
    if agent is None:
        return "PagerDuty"
    name = mrkdwn_escape(agent.name or agent.id)
    return name if agent.kind in (None, "user_reference") else f"{name} (PagerDuty)"


def _actor(event: PagerDutyEvent) -> str:
    """``acknowledged_by`` for an acknowledgement made in PagerDuty."""
    return f"pagerduty:{event.agent.id}" if event.agent else "pagerduty"


def _link(event: PagerDutyEvent) -> str:
    if not event.incident_url:
        return ""
    return f" (<{mrkdwn_escape(event.incident_url)}|{mrkdwn_escape(event.pd_incident_id)}>)"


def _data(event: PagerDutyEvent) -> dict[str, object]:
    return {
        "pagerduty_incident": event.pd_incident_id,
        "pagerduty_event": event.event_id,
        "agent": event.agent.id if event.agent else None,
        "occurred_at": event.occurred_at.isoformat(),
    }
