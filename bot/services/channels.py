"""An incident's own Slack channel: planned in the transaction that opens the incident,
created and set up by the outbox sender, with the announcement channel as the
fallback where Slack will not create it.

Everything about an incident is addressed to :func:`incident_destination` (its
alert, approvals, pages, progress, report): the sender delivers it where the
incident lives once that is decided (bot/services/delivery_setup.py), so nothing
depends on Slack answering at the moment the incident opens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.adapters.slack import incident_blocks as texts
from bot.adapters.slack.setup import CreatedChannel
from bot.adapters.store import Store
from bot.adapters.store.outbox import OutboxMessage, incident_destination
from bot.domain.alert_state import AlertPhase
from bot.domain.channel_names import incident_channel_name
from bot.domain.delivery import Refused, explain_refusal
from bot.domain.errors import Refused as RefusedError
from bot.domain.models import Clock, EventKind, Incident
from bot.domain.playbook import Playbook

log = logging.getLogger(__name__)

BOT = "backlog-bot"

#: Why Slack would not create a channel, for the people in the announcement channel.
_CREATION_REFUSALS = {
    "restricted_action": "the workspace's settings do not let apps create channels "
    "(restricted_action)",
    "missing_scope": "the Slack app lacks the permission to create channels{detail}; "
    "reinstall it from manifest.yml",
    "name_taken": "every name tried was taken{detail}",
}


def channel_key(incident_id: int) -> str:
    return f"incident/{incident_id}/channel"


def topic_key(incident_id: int) -> str:
    return f"incident/{incident_id}/topic"


def pointer_key(incident_id: int) -> str:
    return f"incident/{incident_id}/pointer"


def creation_refusal(refused: Refused) -> str:
    """Why the channel could not be created, as a sentence fragment."""
    template = _CREATION_REFUSALS.get(refused.error)
    if template is None:
        return explain_refusal(refused, "the new channel")
    return template.format(detail=f" ({refused.detail})" if refused.detail else "")


async def enqueue_invite(
    tx: Store,
    playbook: Playbook,
    incident_id: int,
    roles: Sequence[str],
    *,
    key: str,
    at: datetime,
) -> bool:
    """Invites the people of ``roles`` (their user groups expanded at delivery) into the
    incident's own channel; nothing where it has none. False when ``key`` was used."""
    users = sorted({u for r in roles if r in playbook.roles for u in playbook.roles[r].users})
    groups = sorted({g for r in roles if r in playbook.roles for g in playbook.roles[r].usergroups})
    if not users and not groups:
        return False
    return await tx.enqueue_message(
        key,
        incident_destination(incident_id),
        {
            "call": "invite",
            "users": users,
            "usergroups": groups,
            "what": "invite " + ", ".join(roles),
            "dedicated_only": True,
        },
        at=at,
        incident_id=incident_id,
        kind="call",
    )


class IncidentChannels:
    def __init__(self, store: Store, playbook: Playbook, clock: Clock) -> None:
        self._store = store
        self._playbook = playbook
        self._clock = clock
        self._settings = playbook.slack.incident_channels

    @property
    def announcement(self) -> str:
        return self._playbook.slack.announcement_channel

    @property
    def per_incident(self) -> bool:
        return self._playbook.slack.per_incident

    def initial(self) -> tuple[str | None, str]:
        """Where a new incident lives before anything is created: (channel, status)."""
        if self.per_incident:
            return None, "pending"
        return self.announcement, "fixed"

    async def plan(self, tx: Store, incident: Incident) -> None:
        """The channel's creation, first in the incident's stream (before its alert)."""
        if not self.per_incident:
            return
        name = self.name_for(incident)
        await tx.enqueue_message(
            channel_key(incident.id),
            incident_destination(incident.id),
            {"name": name, "private": self._settings.private},
            at=self._clock(),
            incident_id=incident.id,
            kind="channel",
        )

    def name_for(self, incident: Incident) -> str:
        return incident_channel_name(
            self._settings.name,
            incident_id=incident.id,
            rule=incident.rule,
            queue=incident.queue,
            severity=incident.severity.value,
            playbook=self._playbook.name,
            detected_at=incident.detected_at,
            zone=UTC,
        )

    async def set_up(self, tx: Store, incident: Incident, alert_key: str) -> None:
        """After the alert: pin it, topic and purpose, invitations, the runbook bookmark
        (each skipped by the sender where the incident has no channel of its own)."""
        if not self.per_incident:
            return
        now, route = self._clock(), incident_destination(incident.id)
        rule = next((r for r in self._playbook.rules if r.name == incident.rule), None)
        calls: list[tuple[str, dict[str, object], str | None]] = [
            ("pin", {"call": "pin", "what": "pin the alert"}, alert_key),
            (
                "topic",
                {"call": "topic", "what": "set the topic", "text": self._topic(incident)},
                None,
            ),
            (
                "purpose",
                {
                    "call": "purpose",
                    "what": "set the purpose",
                    "text": texts.channel_purpose(incident, rule),
                },
                None,
            ),
        ]
        url = self._settings.runbook_url
        if url:
            bookmark = {"call": "bookmark", "what": "bookmark the runbook", "title": "Runbook"}
            calls.append(("bookmark", {**bookmark, "link": url, "emoji": ":book:"}, None))
        for name, payload, thread_key in calls:
            await tx.enqueue_message(
                f"incident/{incident.id}/{name}",
                route,
                {**payload, "dedicated_only": True},
                at=now,
                incident_id=incident.id,
                kind="call",
                thread_key=thread_key,
            )
        await enqueue_invite(
            tx,
            self._playbook,
            incident.id,
            self._settings.invite_roles,
            key=f"incident/{incident.id}/invite",
            at=now,
        )

    def _topic(self, incident: Incident, phase: AlertPhase = AlertPhase.FIRING) -> str:
        rule = next((r for r in self._playbook.rules if r.name == incident.rule), None)
        return texts.channel_topic(incident, rule, phase)

    async def show_phase(self, tx: Store, incident: Incident, phase: AlertPhase) -> None:
        """The channel's topic says the incident's state as it changes."""
        if not self.per_incident:
            return
        await tx.update_message(
            topic_key(incident.id),
            {
                "call": "topic",
                "what": "set the topic",
                "text": self._topic(incident, phase),
                "dedicated_only": True,
            },
        )

    # ---- the sender's hooks (bot/services/delivery_setup.py) ---------------

    async def created(self, tx: Store, message: OutboxMessage, channel: CreatedChannel) -> None:
        incident_id = message.incident_id
        if incident_id is None:
            return
        if not await tx.set_incident_channel(
            incident_id, channel.id, "dedicated", name=channel.name, note=None
        ):
            return
        incident = await tx.get_incident(incident_id)
        if incident is None:
            return
        await tx.add_event(
            incident_id,
            at=self._clock(),
            kind=EventKind.NOTE,
            text=f"Incident channel #{channel.name} created",
            data={"channel": channel.id},
        )
        await tx.enqueue_message(
            pointer_key(incident_id),
            self.announcement,
            {"text": texts.pointer_text(incident, channel.id, incident.peak_depth)},
            at=self._clock(),
            incident_id=incident_id,
        )
        log.info(
            "incident channel created",
            extra={"incident": incident_id, "channel_name": channel.name},
        )

    async def refused(self, tx: Store, message: OutboxMessage, refused: Refused) -> None:
        incident_id = message.incident_id
        if incident_id is None:
            return
        why = creation_refusal(refused)
        if not await tx.set_incident_channel(
            incident_id, self.announcement, "fallback", name=None, note=why
        ):
            return
        incident = await tx.get_incident(incident_id)
        if incident is None:
            return
        await tx.add_event(
            incident_id,
            at=self._clock(),
            kind=EventKind.NOTE,
            text=f"No incident channel: {why}",
            data={"error": refused.error},
        )
        await tx.enqueue_message(
            f"incident/{incident_id}/channel-fallback",
            incident_destination(incident_id),
            {"text": texts.fallback_text(incident, why), "no_report": True},
            at=self._clock(),
            incident_id=incident_id,
        )

    # ---- after the incident ------------------------------------------------

    async def archive(self, incident_id: int, user: str) -> str:
        """The Archive button: only a resolved incident's own channel, once."""
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            raise RefusedError(f"There is no incident #{incident_id}.")
        if incident.is_open:
            raise RefusedError(
                f"Incident #{incident.id} is still open: resolve it before archiving its channel."
            )
        if not incident.has_own_channel or incident.channel is None:
            raise RefusedError(f"Incident #{incident.id} has no channel of its own to archive.")
        now = self._clock()
        async with self._store.transaction() as tx:
            if not await tx.enqueue_message(
                f"incident/{incident.id}/archive",
                incident_destination(incident.id),
                {"call": "archive", "what": "archive the channel", "dedicated_only": True},
                at=now,
                incident_id=incident.id,
                kind="call",
            ):
                return "This channel is already being archived."
            await tx.audit(
                at=now,
                actor=user,
                action="archive",
                target=f"incident/{incident.id}/channel",
                outcome="requested",
                details={"channel": incident.channel},
            )
        return f"Archiving <#{incident.channel}> (requested by <@{user}>)."
