"""Clicks on an incident's buttons (the alert's, a page's, the recovery message's, the
closing message's, an approval request's): the incident is reloaded first, and a
button of a resolved incident answers that the incident is resolved, whatever it
offered, so a stale message never acts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from bot.adapters.store import Store
from bot.domain.errors import BotError
from bot.domain.models import Incident
from bot.services.channels import IncidentChannels
from bot.services.commands import CommandRouter, Invocation, Reply

#: What each incident button does, as the command it stands for.
_COMMANDS = {"ack": "ack", "status": "status", "diagnose": "diagnose", "resolve": "resolve"}


@dataclass(frozen=True)
class IncidentClick:
    """A click on an incident's button: ``what`` it offered (ack, status, diagnose,
    scale, resolve, archive), the incident its value names (None: a button posted
    before values named one, meaning the open incident), the rest of its value."""

    what: str
    incident_id: int | None
    user: str
    channel: str
    args: tuple[str, ...] = field(default_factory=tuple)


def resolved_answer(incident: Incident) -> str:
    by = (
        f" by <@{incident.resolved_by}>"
        if incident.resolved_by not in (None, "backlog-bot")
        else ""
    )
    when = f" at {incident.resolved_at:%H:%M} UTC" if incident.resolved_at else ""
    return (
        f":information_source: This incident is resolved (incident #{incident.id}, "
        f"resolved{by}{when}): this button does nothing now."
    )


class IncidentButtons:
    def __init__(self, store: Store, router: CommandRouter, channels: IncidentChannels) -> None:
        self._store = store
        self._router = router
        self._channels = channels

    async def click(self, click: IncidentClick) -> Reply:
        if click.incident_id is not None:
            incident = await self._store.get_incident(click.incident_id)
            if incident is None:
                return Reply(f"There is no incident #{click.incident_id}; nothing was done.")
            if click.what == "archive":
                return await self._archive(incident, click.user)
            if not incident.is_open:
                return Reply(resolved_answer(incident))
        text = _COMMANDS.get(click.what)
        if click.what == "scale" and len(click.args) == 2:
            text = f"scale {click.args[0]} {click.args[1]}"
        if text is None:
            return Reply("That button's value is malformed; nothing was done.")
        return await self._router.handle(
            Invocation(text=text, user=click.user, channel=click.channel)
        )

    async def _archive(self, incident: Incident, user: str) -> Reply:
        try:
            return Reply(await self._channels.archive(incident.id, user), ephemeral=False)
        except BotError as exc:
            return Reply(f"{exc.icon} {exc}")

    async def guard_request(self, request_id: uuid.UUID) -> str | None:
        """The answer for an Approve/Deny click on a resolved incident's request (None:
        the request may be acted on)."""
        request = await self._store.get_action_request(request_id)
        if request is None or request.incident_id is None:
            return None
        incident = await self._store.get_incident(request.incident_id)
        if incident is None or incident.is_open:
            return None
        return resolved_answer(incident)
