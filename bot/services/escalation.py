"""Paging the escalation tiers: on the playbook's timers, on its triggers, on request.

The schedule is decided by :func:`bot.domain.escalation.plan_escalation` from
what PostgreSQL holds (depth samples, job ages, vendor observations, firing
alerts, pages, actions), so a restart loses no timer: the next tick finds the
pages that fell due meanwhile and sends each once, marked late. The escalation
timer (bot/services/escalation_timer.py) calls :meth:`EscalationService.tick` when
the next page falls due and after every change.

Each page is decided in one transaction under the incident's row lock: the page
row (unique per incident and tier, so once across replicas), its Slack message
(the outbox), the timeline, the audit log and its triggers to pagers outside Slack
(bot/services/paging.py) commit together or not at all. An acknowledgement takes
the same lock, so a timer page is never sent after an ack is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.adapters.store import Store
from bot.domain.errors import Refused
from bot.domain.escalation import Measurements, Page, PageCause, plan_escalation
from bot.domain.models import Clock, EventKind, Incident
from bot.domain.paging import tier_targets
from bot.domain.playbook import Playbook
from bot.domain.report import format_duration
from bot.services.channels import enqueue_invite
from bot.services.incidents import NoOpenIncident
from bot.services.messages import Messages
from bot.services.paging import PagingService
from bot.services.ports import Directory

log = logging.getLogger(__name__)

BOT = "backlog-bot"
#: Job-age readings older than this are not trusted by the SLA trigger (the monitor
#: reads them at every sample, every 15 s by default).
AGE_FRESH_FOR = timedelta(minutes=5)
#: How far back a firing Alertmanager alert may have started and still count.
ALERTS_FOR = timedelta(hours=24)
_MARGIN = timedelta(minutes=5)


class EscalationService:
    def __init__(
        self,
        store: Store,
        messages: Messages,
        directory: Directory,
        playbook: Playbook,
        clock: Clock,
        paging: PagingService | None = None,
    ) -> None:
        self._store = store
        self._messages = messages
        self._directory = directory
        self._playbook = playbook
        self._clock = clock
        self._paging = paging

    async def tick(self, *, again: bool = True) -> datetime | None:
        """Pages whatever is due now; returns when time alone could make the next page
        due (None: only a new fact can, e.g. a sample)."""
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            return None
        now = self._clock()
        playbook = self._playbook
        triggers = playbook.escalation.triggers
        window = (
            max((t.for_ for t in triggers if t.for_), default=timedelta(0))
            + playbook.capacity.trend_window
        )
        samples = await self._store.samples_between(playbook.name, now - window - _MARGIN, now)
        plan = plan_escalation(
            incident,
            playbook.escalation,
            await self._store.pages(incident.id),
            await self._store.actions_for_incident(incident.id),
            samples,
            now,
            measured=await self._measured(now),
            playbook=playbook,
        )
        depths = dict(samples[-1].depths) if samples else {}
        voided = False
        for page in plan.due:
            voided |= not await self._page(incident, page, BOT, depths)
        if voided and again:
            # The incident changed under the plan (acknowledged, resolved, paged by another
            # replica): plan once more from what is stored now.
            return await self.tick(again=False)
        return plan.next_check

    async def _measured(self, now: datetime) -> Measurements:
        """What the measured triggers read: fresh job ages, vendor observations over the
        longest vendor window, and the firing alerts the triggers name."""
        playbook = self._playbook
        triggers = playbook.escalation.triggers
        vendor_window = max((t.for_ for t in triggers if t.vendors and t.for_), default=None)
        alert_names = {name for t in triggers for name in t.alerts}
        return Measurements(
            ages=await self._store.job_ages_between(playbook.name, now - AGE_FRESH_FOR, now),
            vendors=(
                await self._store.vendor_observations_between(
                    playbook.name, now - vendor_window - _MARGIN, now
                )
                if vendor_window
                else ()
            ),
            alerts=(
                await self._store.firing_alerts_named(alert_names, now - ALERTS_FOR)
                if alert_names
                else ()
            ),
        )

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
        now = self._clock()
        samples = await self._store.samples_between(self._playbook.name, now - _MARGIN, now)
        depths = dict(samples[-1].depths) if samples else {}
        page = Page(tiers[level], f"requested by <@{user}>", PageCause.MANUAL)
        if not await self._page(incident, page, user, depths):
            return f"Tier {level} was already paged (or the incident just changed)."
        return f"Paged tier {level} ({tiers[level].name})."

    async def _page(
        self, incident: Incident, page: Page, by: str, depths: Mapping[str, int]
    ) -> bool:
        """Records and says one page, in one transaction under the incident's row lock;
        False when it is no longer due (another replica paged the tier, the incident was
        resolved, or — for a timer's page — acknowledged)."""
        now = self._clock()
        tier = page.tier
        people = sorted(await self._directory.members(tier.page))
        async with self._store.transaction() as tx:
            locked = await tx.lock_incident(incident.id)
            if locked is None or not locked.is_open:
                return False
            if page.cause is PageCause.TIMER and locked.acknowledged_at is not None:
                return False  # the ack was recorded first: its timers stopped
            recorded = await tx.record_page(
                incident.id,
                tier.level,
                page.reason,
                now,
                by,
                due_at=page.due_at,
                cause=page.cause.value,
            )
            if not recorded:
                return False  # another replica (or an earlier tick) paged this tier
            late = page.late_by(now)
            await self._say_page(tx, locked, page, people, late, depths.get(incident.queue))
            late_note = f" (late by {format_duration(late)})" if late else ""
            await tx.add_event(
                incident.id,
                at=now,
                kind=EventKind.ESCALATED,
                actor=None if by == BOT else by,
                text=f"Paged L{tier.level} {tier.name}: {page.reason}{late_note}",
                data={"tier": tier.level, "paged": people, "cause": page.cause.value},
            )
            await tx.audit(
                at=now,
                actor=by,
                action="page",
                target=f"incident/{incident.id}/L{tier.level}",
                outcome="paged",
                details={"reason": page.reason, "users": people, "late": bool(late)},
            )
            if self._paging is not None:
                await self._paging.trigger(tx, locked, page, depths)
            await tx.escalation_changed()
        log.info("paged", extra={"incident": incident.id, "tier": tier.level})
        return True

    async def _say_page(
        self,
        tx: Store,
        incident: Incident,
        page: Page,
        people: list[str],
        late: timedelta | None,
        depth: int | None = None,
    ) -> None:
        """The page as said in Slack (kept in this one function: its wording, buttons and
        direct messages change here). Written to the outbox in ``tx``: in the incident's
        channel with an Acknowledge button, by direct message to each paged person, and
        the tier invited into the incident's own channel."""
        tier = page.tier
        extra = []
        if self._paging is not None:
            pagers = [
                target.label
                for target in tier_targets(tier, self._playbook.roles)
                if self._paging.problem(target) is None
            ]
            if pagers:
                extra.append(f"Also paged: {', '.join(pagers)}.")
        if late and page.due_at:
            extra.append(
                f"_Late by {format_duration(late)}: due at {page.due_at:%H:%M} UTC, while "
                "Backlog Bot was not running or could not reach its database._"
            )
        await self._messages.page(tx, incident, tier, people, page.reason, depth, extra=extra)
        await enqueue_invite(
            tx,
            self._playbook,
            incident.id,
            tier.page,
            key=f"incident/{incident.id}/invite/L{tier.level}",
            at=self._clock(),
        )
