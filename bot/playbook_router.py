"""The thin router in front of several playbooks' services (docs/many-playbooks.md).

Each playbook runs its own services, built by the one-playbook wiring
(:func:`bot.app.build_runtime`); this module finds which of them a Slack request
or an outbox delivery is about: a command by ``--playbook NAME``, else the incident
channel it is typed in, else the only playbook; a button by the incident or
approval request its value names (stored with its playbook). ``status`` with
several playbooks and none named summarises every one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bot.adapters.slack.app import ChannelHandlers, CommandCall, Handlers, IncidentButtonCall
from bot.adapters.slack.boundary import Answer
from bot.adapters.slack.setup import CreatedChannel
from bot.adapters.store import Store
from bot.adapters.store.outbox import OutboxMessage
from bot.app import Runtime
from bot.domain.commands import split_verb
from bot.domain.delivery import Delivered
from bot.domain.delivery import Refused as SlackRefused
from bot.domain.errors import Refused
from bot.domain.models import Incident
from bot.domain.playbook_choice import choose_playbook, take_playbook_option
from bot.domain.text import code


class PlaybookRouter:
    """Finds the runtime (one playbook's services) a request is about. ``units``:
    playbook name -> runtime, in the order the playbooks were found."""

    def __init__(self, units: Mapping[str, Runtime], store: Store) -> None:
        self.units = dict(units)
        self._store = store

    @property
    def names(self) -> list[str]:
        return list(self.units)

    def _handlers(self, name: str) -> Handlers:
        handlers = self.units[name].handlers
        assert handlers is not None  # build_runtime always sets them
        return handlers

    async def of_incident(self, incident_id: int | None) -> str:
        """The playbook of incident ``incident_id`` (None: an older button meaning the
        open incident, which only a lone playbook can tell). Raises :class:`Refused`
        when that playbook is not running here."""
        if incident_id is None:
            return self.names[0]
        incident = await self._store.get_incident(incident_id)
        return self._running(incident, f"Incident #{incident_id}")

    async def of_request(self, request_id: uuid.UUID) -> str:
        """The playbook an approval request was made in; for one made before that was
        recorded, its incident's (the first playbook answers for an unknown request:
        it says it does not exist)."""
        recorded = await self._store.action_request_playbook(request_id)
        if recorded is not None:
            if recorded in self.units:
                return recorded
            raise Refused(
                f"This request belongs to playbook {code(recorded)}, which this bot is not "
                f"running now (it runs {', '.join(code(n) for n in self.names)})."
            )
        request = await self._store.get_action_request(request_id)
        if request is None or request.incident_id is None:
            return self.names[0]
        incident = await self._store.get_incident(request.incident_id)
        return self._running(incident, "This request's incident")

    def _running(self, incident: Incident | None, what: str) -> str:
        if incident is None or incident.playbook in self.units:
            return incident.playbook if incident is not None else self.names[0]
        raise Refused(
            f"{what} belongs to playbook {code(incident.playbook)}, which this bot is not "
            f"running now (it runs {', '.join(code(n) for n in self.names)})."
        )

    # ---- Slack ------------------------------------------------------------

    def handlers(self) -> Handlers:
        """The listeners' handlers for the one Bolt app in front of every playbook."""

        async def approve(request_id: uuid.UUID, user: str) -> Answer:
            return await self._handlers(await self.of_request(request_id)).approve(request_id, user)

        async def deny(request_id: uuid.UUID, user: str) -> Answer:
            return await self._handlers(await self.of_request(request_id)).deny(request_id, user)

        async def incident_button(call: IncidentButtonCall) -> Answer:
            handler = self._handlers(await self.of_incident(call.incident_id)).incident_button
            assert handler is not None
            return await handler(call)

        async def roll_back(request_id: uuid.UUID, user: str, channel: str) -> Answer:
            handler = self._handlers(await self.of_request(request_id)).roll_back
            assert handler is not None
            return await handler(request_id, user, channel)

        async def reanalyse(request_id: uuid.UUID, user: str, channel: str) -> Answer:
            handler = self._handlers(await self.of_request(request_id)).reanalyse
            assert handler is not None
            return await handler(request_id, user, channel)

        return Handlers(
            command=self.command,
            approve=approve,
            deny=deny,
            incident_button=incident_button,
            roll_back=roll_back,
            reanalyse=reanalyse,
        )

    async def command(self, call: CommandCall) -> Answer:
        """``/backlog …`` run in the playbook it is about (module docstring)."""
        targeted = take_playbook_option(call.text)
        verb, _ = split_verb(targeted.text)
        incident = await self._store.incident_with_channel(call.channel)
        name = choose_playbook(
            self.names,
            requested=targeted.requested,
            of_channel=incident.playbook if incident is not None else None,
            verb=verb,
        )
        if name is not None:
            return await self._handlers(name).command(
                CommandCall(targeted.text, call.user, call.channel)
            )
        if verb == "status":
            return await self._status_of_all(call)
        answer = await self._handlers(self.names[0]).command(call)  # help
        listed = ", ".join(code(n) for n in self.names)
        return Answer(
            f"{answer.text}\n\nPlaybooks here: {listed}. A command is about the playbook of "
            f"the incident channel it is typed in, else add {code('--playbook NAME')}.",
            answer.ephemeral,
        )

    async def _status_of_all(self, call: CommandCall) -> Answer:
        parts = []
        for name in self.names:
            answer = await self._handlers(name).command(
                CommandCall("status", call.user, call.channel)
            )
            parts.append(f"*Playbook {code(name)}*\n{answer.text}")
        return Answer("\n\n".join(parts))

    def channel_handlers(self) -> ChannelHandlers:
        """Channel events are stored and processed once for every playbook (they find
        their incident by channel); the report's Finalise button by its incident."""
        first = self.units[self.names[0]].channel_handlers
        assert first is not None

        async def receive(body: Mapping[str, Any]) -> bool:
            return await first.receive(body)

        async def finalise(incident_id: int, user: str) -> Answer:
            handlers = self.units[await self.of_incident(incident_id)].channel_handlers
            assert handlers is not None
            return await handlers.finalise(incident_id, user)

        return ChannelHandlers(receive=receive, process=first.process, finalise=finalise)

    # ---- the shared outbox sender's hooks -----------------------------------

    async def _runtime_of_message(self, tx: Store, message: OutboxMessage) -> Runtime | None:
        if message.incident_id is None:
            return None
        incident = await tx.get_incident(message.incident_id)
        return self.units.get(incident.playbook) if incident is not None else None

    async def created(self, tx: Store, message: OutboxMessage, channel: CreatedChannel) -> None:
        """An incident's channel was created: its playbook's channel service records it
        (and points at it from that playbook's announcement channel)."""
        runtime = await self._runtime_of_message(tx, message)
        if runtime is not None:
            await runtime.incidents.channels.created(tx, message, channel)

    async def refused(self, tx: Store, message: OutboxMessage, refused: SlackRefused) -> None:
        runtime = await self._runtime_of_message(tx, message)
        if runtime is not None:
            await runtime.incidents.channels.refused(tx, message, refused)

    async def report_delivered(self, message: OutboxMessage, where: Delivered) -> None:
        """When an incident's report is posted, its resolved alert links to it."""
        incident_id = message.incident_id
        if incident_id is None or where.permalink is None:
            return
        if not message.key.startswith(f"incident/{incident_id}/report/"):
            return
        runtime = await self._runtime_of_message(self._store, message)
        if runtime is not None:
            await runtime.incidents.report_linked(incident_id, where.permalink)

    async def request_refused(self, request_id: uuid.UUID, why: str) -> None:
        """Slack refused an approval request's message: its playbook's actions say so
        (the first playbook's, when the request's playbook is not running here)."""
        try:
            name = await self.of_request(request_id)
        except Refused:
            name = self.names[0]
        await self.units[name].actions.on_request_message_refused(request_id, why)
