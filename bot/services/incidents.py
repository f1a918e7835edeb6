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

from bot.adapters.slack import incident_blocks as texts
from bot.adapters.store import Store
from bot.domain.alert_state import AlertPhase
from bot.domain.errors import Refused
from bot.domain.living_alert import build_alert_view
from bot.domain.models import Clock, EventKind, Incident, QueueSample
from bot.domain.playbook import Playbook, RuleKind
from bot.domain.report import format_duration
from bot.domain.rules import RuleBook, RuleState, Transition
from bot.services.channels import BOT, IncidentChannels, pointer_key
from bot.services.external_alerts import AlertOutcome, ExternalAlerts
from bot.services.living_alert import LivingAlert, ReadyWorkers
from bot.services.messages import Messages, recovery_key
from bot.services.report import ReportService

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


class IncidentService(ExternalAlerts):
    def __init__(
        self,
        store: Store,
        messages: Messages,
        playbook: Playbook,
        clock: Clock,
        *,
        ready_workers: ReadyWorkers | None = None,
        reports: ReportService | None = None,
    ) -> None:
        self._store = store
        self._reports = reports or ReportService(store, messages, playbook, clock)
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._rules = RuleBook(playbook.rules)
        self._history: deque[QueueSample] = deque(maxlen=_HISTORY)
        self.channels = IncidentChannels(store, playbook, clock)
        self.alert = LivingAlert(store, messages, self.channels, playbook, clock, ready_workers)

    async def restore(self) -> None:
        """Rebuilds the rules' pending/firing state from stored samples after a restart
        (or a takeover from another replica), so a backlog 9 minutes into a 10-minute
        ``for:`` still fires in a minute."""
        now = self._clock()
        longest = max((rule.for_ for rule in self._playbook.rules), default=timedelta(0))
        samples = await self._store.samples_between(
            self._playbook.name, now - longest - timedelta(minutes=5), now
        )
        self._rules.replay(samples)
        self._history.clear()
        self._history.extend(samples[-_HISTORY:])

    @property
    def rules(self) -> RuleBook:
        return self._rules

    @property
    def channel(self) -> str:
        """Where incidents are announced (the playbook's announcement channel)."""
        return self._playbook.slack.announcement_channel

    async def observe(self, sample: QueueSample) -> Incident | None:
        """Feeds one sample: stores it, advances the rules, opens/updates the incident,
        keeps its alert current and follows its recovery (resolving it when the
        playbook lets the bot).

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
        if current is None:
            return opened
        if sample.depths:
            queue, depth = max(sample.depths.items(), key=lambda kv: kv[1])
            if await self._store.record_peak(current.id, queue, depth, sample.at):
                current = await self._store.get_incident(current.id) or current
        step = await self.alert.on_sample(current, sample, tuple(self._history), self._rules.states)
        if step.auto_resolve:
            await self.resolve(BOT, auto=True)
        return opened

    async def _on_firing(self, transition: Transition, sample: QueueSample) -> Incident | None:
        async with self._store.transaction() as tx:
            incident, created = await self._on_firing_in(tx, transition, sample, "Backlog Bot")
        if created:
            # With the ready workers (read outside the transaction) the Scale button
            # gets the capacity model's count at once.
            await self._refresh(incident, sample)
        return incident if created else None

    async def _on_firing_in(
        self, tx: Store, transition: Transition, sample: QueueSample, source: str
    ) -> tuple[Incident, bool]:
        """Opens the incident (or joins the open one) and writes its alert, in ``tx``."""
        state = transition.state
        rule = state.rule
        depth = sample.depths.get(rule.queue, 0)
        channel, status = self.channels.initial()
        incident, created = await tx.open_incident(
            playbook=self._playbook.name,
            title=rule.summary or rule.name,
            severity=rule.severity,
            rule=rule.name,
            queue=rule.queue,
            depth=depth,
            at=sample.at,
            channel=channel,
            channel_status=status,
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
        await self.channels.plan(tx, incident)
        view = build_alert_view(
            incident=incident,
            rule_state=state,
            sample=sample,
            history=tuple(self._history),
            playbook=self._playbook,
            phase=AlertPhase.FIRING,
        )
        key = await self._messages.alert(tx, view)
        await self.channels.set_up(tx, incident, key)
        log.info("incident opened", extra={"incident": incident.id, "rule": rule.name})
        return incident, True

    async def _refresh(
        self, incident: Incident, sample: QueueSample | None = None, *, urgent: bool = False
    ) -> None:
        """The alert brought up to date outside a sample (after an ack, a resolve...)."""
        ready = await self.alert.ready(incident) if incident.is_open else None
        async with self._store.transaction() as tx:
            current = await tx.get_incident(incident.id)
            if current is None:
                return
            await self._refresh_in(tx, current, sample, ready=ready, urgent=urgent)

    async def _refresh_in(
        self,
        tx: Store,
        incident: Incident,
        sample: QueueSample | None = None,
        *,
        ready: int | None = None,
        urgent: bool = False,
    ) -> None:
        history: Sequence[QueueSample] = tuple(self._history)
        states = self._rules.states
        if sample is None:
            # Outside a sample (an ack, a resolve, on any replica): from what is stored,
            # since only the sampling replica keeps its history and rules current.
            history, states = await self._recent(tx)
        latest = sample or (history[-1] if history else QueueSample(self._clock(), {}))
        await self.alert.refresh(tx, incident, latest, history, states, ready=ready, urgent=urgent)

    async def _recent(self, tx: Store) -> tuple[list[QueueSample], tuple[RuleState, ...]]:
        """The stored samples the alert reads, and the rules replayed over them."""
        now = self._clock()
        longest = max((rule.for_ for rule in self._playbook.rules), default=timedelta(0))
        window = max(longest, self._playbook.capacity.trend_window) + timedelta(minutes=5)
        samples = await tx.samples_between(self._playbook.name, now - window, now)
        book = RuleBook(self._playbook.rules)
        book.replay(samples)
        return samples, book.states

    async def current(self) -> Incident:
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None:
            raise NoOpenIncident()
        return incident

    async def acknowledge(self, user: str) -> Incident:
        """Paging stops; the alert loses its Acknowledge button and every page (in the
        channel and by DM) says who acknowledged."""
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
                await self._messages.pages_acknowledged(
                    tx, incident, await self._paged_people(tx, incident.id), user
                )
            # Pagers outside Slack too, even if already acknowledged here: a trigger may
            # have paged one since (bot/services/paging.py).
            await tx.enqueue_page_follow_ups(incident.id, "acknowledge", now)
        current = await self.current()
        await self._refresh(current, urgent=True)
        return current

    async def _paged_people(self, tx: Store, incident_id: int) -> dict[int, list[str]]:
        """Who was paged, per tier (from the timeline's page entries)."""
        paged: dict[int, list[str]] = {}
        for entry in await tx.timeline(incident_id):
            if entry.kind is EventKind.ESCALATED and "tier" in entry.data:
                people = entry.data.get("paged") or []
                paged[int(entry.data["tier"])] = [str(p) for p in people]
        return paged

    async def add_note(self, user: str, text: str, kind: EventKind = EventKind.NOTE) -> Incident:
        """A note, root cause, lesson or prevention measure on the open incident; once
        it is resolved, on it still until its report is finalised (the report asks for
        lessons when the incident resolves)."""
        incident = await self._note_target()
        now = self._clock()
        async with self._store.transaction() as tx:
            if kind is EventKind.ROOT_CAUSE:
                await tx.set_root_cause(incident.id, text)
            await tx.add_event(incident.id, at=now, kind=kind, actor=user, text=text)
        return incident

    async def _note_target(self) -> Incident:
        try:
            return await self.current()
        except NoOpenIncident:
            resolved = await self._reports.open_for_notes()
            if resolved is None:
                raise
            return resolved

    async def record_diagnosis(self, user: str, top: str | None) -> None:
        """A diagnosis on the open incident's timeline: its top finding (None: none
        found) is the report's root cause until someone records one."""
        incident = await self.current()
        async with self._store.transaction() as tx:
            await tx.add_event(
                incident.id,
                at=self._clock(),
                kind=EventKind.DIAGNOSED,
                actor=user,
                text=f"Diagnosis: {top or 'no likely cause found'}",
                data={"top": top},
            )

    async def resolve(self, user: str, *, auto: bool = False) -> Resolution:
        """Resolves the open incident: its pending requests expire, the report's first
        draft is stored and goes to its channel (with the prompt for lessons and the
        Finalise button), the alert's buttons give way to the outcome, the channel's
        topic says resolved and the channel stays open with an Archive button. The
        channel is read back from Slack first, outside the transaction. ``auto``: the
        bot resolves it after the playbook's ``recovery.auto_resolve_after``."""
        incident = await self.current()
        now = self._clock()
        channel = await self._reports.read_channel(incident, now)
        async with self._store.transaction() as tx:
            if not await tx.resolve_incident(incident.id, user, now):
                raise NoOpenIncident()
            quiet = self._playbook.recovery.auto_resolve_after
            text = (
                f"Resolved by Backlog Bot: every queue under its threshold for "
                f"{format_duration(quiet)}"
                if auto and quiet is not None
                else "Resolved"
            )
            await tx.add_event(
                incident.id,
                at=now,
                kind=EventKind.RESOLVED,
                actor=None if auto else user,
                text=text,
            )
            await tx.enqueue_page_follow_ups(incident.id, "resolve", now)
            await tx.audit(
                at=now,
                actor=user,
                action="resolve",
                target=f"incident/{incident.id}",
                outcome="resolved",
            )
            await self._expire_requests(tx, incident.id)
            resolved = await tx.get_incident(incident.id)
            assert resolved is not None
            stored = await self._reports.on_resolved(tx, resolved, user, channel, now)
            await self._after_resolve(tx, resolved, user)
        return Resolution(incident=resolved, report=stored.markdown)

    async def _expire_requests(self, tx: Store, incident_id: int) -> None:
        for request in await tx.expire_pending_for_incident(incident_id, self._clock()):
            await self._messages.approval_changed(
                tx,
                request,
                self._playbook.policy(request.kind),
                "The incident was resolved before this was approved: nothing was done.",
            )

    async def _after_resolve(self, tx: Store, incident: Incident, user: str) -> None:
        now = self._clock()
        await self._refresh_in(tx, incident, urgent=True)
        if incident.recovery_announced_at is not None:
            by = "Backlog Bot" if user == BOT else f"<@{user}>"
            await self._messages.close_buttons(
                tx,
                recovery_key(incident.id, incident.recovery_announced_at),
                f":white_check_mark: Resolved by {by} at {now:%H:%M} UTC.",
            )
        await self._messages.closing(tx, incident)
        if incident.has_own_channel and incident.channel:
            await tx.update_message(
                pointer_key(incident.id),
                {"text": texts.pointer_resolved_text(incident, incident.channel, now)},
            )

    async def report_linked(self, incident_id: int, link: str) -> None:
        """The report reached Slack: the resolved alert links to it."""
        async with self._store.transaction() as tx:
            await tx.set_report_link(incident_id, link)
            incident = await tx.get_incident(incident_id)
            if incident is not None:
                await self._refresh_in(tx, incident, urgent=True)

    async def report(self, incident_id: int | None = None, user: str | None = None) -> str:
        """The report as Markdown: the final one, else a draft built now."""
        return (await self._reports.current(incident_id, user)).markdown
