"""Paging the escalation tiers: on the playbook's timers, on its triggers, on request.

The schedule is decided by :func:`bot.domain.escalation.plan_escalation` from
what PostgreSQL holds, so a restart loses no timer: the next tick simply finds
the pages that are due. A unique row per (incident, tier) makes each page
happen once across replicas, and the page's message is written to the outbox
in the same transaction, so it is delivered once however Slack answers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.adapters.store import Store
from bot.domain.errors import Refused
from bot.domain.escalation import Page, plan_escalation
from bot.domain.models import Clock, EventKind, Incident
from bot.domain.playbook import Playbook
from bot.services.incidents import NoOpenIncident
from bot.services.messages import Messages
from bot.services.ports import Directory

log = logging.getLogger(__name__)

BOT = "backlog-bot"


class EscalationService:
    def __init__(
        self,
        store: Store,
        messages: Messages,
        directory: Directory,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._store = store
        self._messages = messages
        self._directory = directory
        self._playbook = playbook
        self._clock = clock

    async def tick(self) -> datetime | None:
        """Pages whatever is due now; returns when something could next fall due."""
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            return None
        now = self._clock()
        window = max(
            (t.for_ for t in self._playbook.escalation.triggers if t.for_),
            default=timedelta(0),
        )
        plan = plan_escalation(
            incident,
            self._playbook.escalation,
            await self._store.pages(incident.id),
            await self._store.actions_for_incident(incident.id),
            await self._store.samples_between(
                self._playbook.name, now - window - timedelta(minutes=5), now
            ),
            now,
        )
        for page in plan.due:
            await self._page(incident, page, BOT)
        return plan.next_check

    async def escalate(self, user: str, level: int | None) -> str:
        """``/backlog escalate [tier]``: the given tier, else the lowest not yet paged."""
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            raise NoOpenIncident()
        tiers = {tier.level: tier for tier in self._playbook.escalation.tiers}
        paged = await self._store.pages(incident.id)
        if level is None:
            level = next((lvl for lvl in sorted(tiers) if lvl not in paged), None)
            if level is None:
                return "Every escalation tier has already been paged."
        if level not in tiers:
            known = ", ".join(str(lvl) for lvl in sorted(tiers))
            raise Refused(f"There is no escalation tier {level} (tiers: {known}).")
        if level in paged:
            return f"Tier {level} was already paged at {paged[level]:%H:%M} UTC."
        await self._page(incident, Page(tiers[level], f"requested by <@{user}>"), user)
        return f"Paged tier {level} ({tiers[level].name})."

    async def _page(self, incident: Incident, page: Page, by: str) -> None:
        now = self._clock()
        tier = page.tier
        people = sorted(await self._directory.members(tier.page))
        mentions = " ".join(f"<@{user}>" for user in people)
        duties = "; ".join(tier.duties)
        text = (
            f":rotating_light: *Escalating incident #{incident.id} to L{tier.level} — "
            f"{tier.name}*: {mentions}\nWhy: {page.reason}."
            + (f"\nExpected: {duties}." if duties else "")
            + "\nAcknowledge with `/backlog ack`; later tiers are paged on their timers until "
            "someone does."
        )
        channel = incident.channel or self._playbook.slack.incident_channel
        async with self._store.transaction() as tx:
            if not await tx.record_page(incident.id, tier.level, page.reason, now, by):
                return  # another replica (or an earlier tick) paged this tier
            await self._messages.say(
                tx,
                f"incident/{incident.id}/page/{tier.level}",
                channel,
                text,
                incident_id=incident.id,
            )
            await tx.add_event(
                incident.id,
                at=now,
                kind=EventKind.ESCALATED,
                actor=None if by == BOT else by,
                text=f"Paged L{tier.level} {tier.name}: {page.reason}",
                data={"tier": tier.level, "paged": people},
            )
            await tx.audit(
                at=now,
                actor=by,
                action="page",
                target=f"incident/{incident.id}/L{tier.level}",
                outcome="paged",
                details={"reason": page.reason, "users": people},
            )
        log.info("paged", extra={"incident": incident.id, "tier": tier.level})
