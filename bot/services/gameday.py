"""A game day: a controlled drill of the bot's own detection, alert and paging.

The drill refuses any target not marked staging (``bot/domain/playbook_gameday.py``),
then, holding the playbook's game-day lock, cleans up whatever a drill whose process
died left on its queue, pushes synthetic jobs (ids recorded in PostgreSQL *before*
they are pushed) until the queue stays above the rule's threshold, and steps the
bot's real machinery each ``step``: the monitor's sample (rule evaluation, incident
opening), the escalation's decision (pages on the playbook's own tier timers — the
drill never shortens them, it measures the first page as it comes), and the outbox
(the incident channel, the alert, the page). Times are the bot's clock: the backlog
began when the drill's push took the queue above the threshold; detection is the
incident's ``detected_at``; the alert and the first page are their outbox messages'
``delivered_at``. A ``serve`` sharing the database may sample and deliver too (its
leader does): the incident still opens once, and the drill measures the same way.

Then it acknowledges as the bot (a timeline note says it was the game day), removes
exactly the ids it pushed, resolves the incident marked as a drill, records the run
and posts the pass/fail summary to the announcement channel through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.depths import queue_depths
from bot.adapters.queues.gameday import push_synthetic, remove_synthetic
from bot.adapters.store import Store
from bot.adapters.store.gameday import GamedayRun
from bot.domain.models import Clock, EventKind
from bot.domain.playbook import Playbook
from bot.domain.playbook_gameday import (
    DrillBusy,
    DrillPlan,
    DrillRefused,
    batches,
    missed,
    plan_drill,
    show,
    summary_lines,
    synthetic_ids,
    to_push,
)
from bot.domain.playbook_slack import ChannelMode
from bot.services.gameday_drive import Drive
from bot.services.incidents import IncidentService, NoOpenIncident
from bot.services.message_keys import alert_key, page_key
from bot.services.messages import Messages

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class DrillParts:
    """The bot's machinery the drill drives (``bot/cli_gameday.py`` takes them from a
    runtime): ``sample`` is the monitor's tick, ``escalate`` the escalation's, ``deliver``
    flushes the outboxes; ``pace(step)`` waits one step (a sleep, or a test clock)."""

    store: Store
    redis: RedisClient
    incidents: IncidentService
    messages: Messages
    sample: Step
    escalate: Step
    deliver: Step
    pace: Callable[[timedelta], Awaitable[None]]


@dataclass(frozen=True)
class DrillResult:
    run_id: str
    passed: bool
    lines: list[str]
    pushed: int
    removed: int
    taken: int
    incident_id: int | None


class GameDay:
    def __init__(
        self,
        parts: DrillParts,
        playbook: Playbook,
        clock: Clock,
        *,
        actor: str,
        production: Iterable[Playbook] = (),
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        """``actor``: who acknowledges and resolves (the bot's Slack user id);
        ``production``: every playbook the bot serves (a drill never touches their
        namespaces or queues); ``progress``: told one line per step of the drill."""
        self._parts = parts
        self._playbook = playbook
        self._clock = clock
        self._actor = actor
        self._production = tuple(production)
        self._say = progress

    def plan(self) -> DrillPlan:
        """The drill, or :class:`DrillRefused` with the sentence why."""
        return plan_drill(self._playbook, self._production)

    async def run(self, *, dry_run: bool = False) -> DrillResult | None:
        """Runs one drill (None with ``dry_run``: only the checks, the clean-up of an
        abandoned drill, and the plan). Raises :class:`DrillRefused` for a target not marked
        staging, another drill running, or an incident already open; a Redis failure
        (``RedisFailure``, a sentence) after cleaning up what it can."""
        plan = self.plan()
        store = self._parts.store
        async with store.gameday_lock(plan.playbook) as held:
            if not held:
                raise DrillBusy(f"Another game day of playbook '{plan.playbook}' is running.")
            for run in await store.unfinished_gamedays(plan.playbook):
                await self.clean_up_abandoned(run)
            open_now = await store.open_incident_for(plan.playbook)
            if open_now is not None:
                raise DrillRefused(
                    f"Incident #{open_now.id} of playbook '{plan.playbook}' is open: "
                    "a drill now would not be measured; resolve it first."
                )
            self._say(
                f"Game day on queue '{plan.queue}' (namespace '{plan.namespace}'): rule "
                f"{plan.rule.name} above {plan.rule.threshold}; targets: detect "
                f"{show(plan.targets.detect)}, post {show(plan.targets.post)}, page "
                f"{show(plan.targets.page)}; at most {plan.max_jobs} synthetic jobs "
                f"'{plan.prefix}…', {plan.per_step} per {show(plan.step)}."
            )
            if dry_run:
                self._say("Dry run: nothing pushed.")
                return None
            return await self._drill(plan)

    async def _stopped(self, drive: Drive, why: BaseException) -> None:
        """A drill stopped half-way: its synthetic jobs removed, the run recorded as
        interrupted (so the next drill has nothing to clean up), and said."""
        plan, run_id = drive.plan, drive.run_id
        removed = await self._remove(plan.queue, plan.prefix, run_id, drive.reserved)
        taken = max(0, drive.pushed - removed)
        what = (
            "was stopped (a signal)"
            if isinstance(why, asyncio.CancelledError)
            else f"failed ({why or type(why).__name__})"
        )
        await self._parts.store.finish_gameday(
            run_id,
            outcome="interrupted",
            failures=[f"the drill {what}"],
            removed=removed,
            taken=taken,
            at=self._clock(),
        )
        self._say(
            f"Game day {run_id} {what}: removed {removed} synthetic jobs "
            f"({taken} already taken by workers)."
        )

    async def clean_up_abandoned(self, run: GamedayRun) -> int:
        """Removes what ``run`` (whose process died mid-drill) may have pushed: the
        exact ids below its ``reserved`` count; marks it interrupted. Returns how many
        were removed."""
        removed = await self._remove(run.queue, run.job_prefix, run.run_id, run.reserved)
        taken = max(0, run.pushed - removed)
        await self._parts.store.finish_gameday(
            run.run_id,
            outcome="interrupted",
            failures=["the drill's process stopped before it finished"],
            removed=removed,
            taken=taken,
            at=self._clock(),
        )
        self._say(
            f"Cleaned up interrupted game day {run.run_id}: {removed} synthetic jobs "
            f"removed from '{run.queue}'."
        )
        return removed

    # ---- the drill ---------------------------------------------------------

    async def _drill(self, plan: DrillPlan) -> DrillResult:
        run_id = f"{self._clock():%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
        store = self._parts.store
        await store.start_gameday(run_id, plan.playbook, plan.queue, plan.prefix, self._clock())
        await self._announce(
            f"gameday/{run_id}/start",
            f":test_tube: Game day {run_id} starting: synthetic jobs go onto the staging "
            f"queue `{plan.queue}` (namespace `{plan.namespace}`). The alert and pages "
            "that follow are a drill; the bot acknowledges and resolves them itself.",
        )
        drive = Drive(plan, run_id)
        try:
            await self._drive(drive)
            if drive.incident is not None:
                await self._acknowledge(drive)
        except BaseException as exc:  # an error, or a stop (Ctrl-C cancels the drill)
            await self._stopped(drive, exc)
            raise
        # Every id reserved, even of a batch that failed (it may have reached Redis
        # anyway); a crash here leaves the run unfinished, and the next drill removes it.
        removed = await self._remove(plan.queue, plan.prefix, run_id, drive.reserved)
        taken = max(0, drive.pushed - removed)
        self._say(f"Removed {removed} synthetic jobs ({taken} already taken by workers).")
        if drive.incident is not None:
            await self._resolve(drive)
        measured = drive.measured()
        failures = missed(plan, measured)
        await store.record_gameday_times(
            run_id,
            incident_id=drive.incident_id,
            crossed_at=measured.crossed_at,
            detected_at=measured.detected_at,
            posted_at=measured.posted_at,
            paged_at=measured.paged_at,
        )
        lines = summary_lines(
            plan,
            run_id,
            measured,
            failures,
            pushed=drive.pushed,
            removed=removed,
            taken=taken,
            incident_id=drive.incident_id,
        )
        await store.finish_gameday(
            run_id,
            outcome="failed" if failures else "passed",
            failures=failures,
            removed=removed,
            taken=taken,
            at=self._clock(),
        )
        await self._announce(f"gameday/{run_id}/summary", "\n".join(lines))
        await self._parts.deliver()
        return DrillResult(
            run_id=run_id,
            passed=not failures,
            lines=lines,
            pushed=drive.pushed,
            removed=removed,
            taken=taken,
            incident_id=drive.incident_id,
        )

    async def _drive(self, drive: Drive) -> None:
        """Pushes, samples, escalates and delivers each step until the first page is
        delivered or the plan's timeout passes."""
        plan, parts = drive.plan, self._parts
        started = self._clock()
        while True:
            await self._top_up(drive)
            if await parts.sample() is None and not drive.sampling_said:
                drive.sampling_said = True
                self._say(
                    "This process could not sample the queues (Redis did not answer): the "
                    "drill relies on a bot that can."
                )
            await parts.escalate()
            await parts.deliver()
            await self._observe(drive)
            if drive.paged_at is not None:
                return
            since = drive.crossed_at or started
            if self._clock() - since > plan.timeout:
                self._say(f"Gave up after {show(self._clock() - since)}: no page came.")
                return
            await parts.pace(plan.step)

    async def _top_up(self, drive: Drive) -> None:
        plan = drive.plan
        depth = (await queue_depths(self._parts.redis, [plan.queue]))[plan.queue]
        count = to_push(depth, plan.rule.threshold, plan.margin, drive.pushed, plan)
        if count:
            store, start = self._parts.store, drive.pushed
            await store.reserve_gameday_ids(drive.run_id, start + count)
            drive.reserved = start + count
            for low, high in batches(start, start + count):
                depth = await push_synthetic(
                    self._parts.redis,
                    plan.queue,
                    synthetic_ids(plan.prefix, drive.run_id, low, high),
                )
                drive.pushed = high
            await store.record_gameday_push(drive.run_id, drive.pushed)
            self._say(f"Pushed {count} synthetic jobs ({drive.pushed} in all); depth {depth}.")
        if drive.crossed_at is None and depth > plan.rule.threshold:
            drive.crossed_at = self._clock()
            self._say(f"Queue above {plan.rule.threshold} since {drive.crossed_at:%H:%M:%S} UTC.")

    async def _observe(self, drive: Drive) -> None:
        store = self._parts.store
        if drive.incident is None:
            incident = await store.open_incident_for(drive.plan.playbook)
            if incident is None:
                return
            drive.incident = incident
            self._say(
                f"Detected: incident #{incident.id} opened after "
                f"{show(drive.since_start(incident.detected_at))}."
            )
        incident_id = drive.incident_id
        assert incident_id is not None
        if drive.posted_at is None:
            current = await store.get_incident(incident_id)
            dedicated = (
                self._playbook.slack.incident_channels.mode is not ChannelMode.PER_INCIDENT
                or (current is not None and current.channel_status == "dedicated")
            )
            delivered = await store.delivered_at(alert_key(incident_id))
            if delivered is not None and dedicated:
                drive.posted_at = delivered
                self._say(
                    f"Alert posted in the incident's channel after "
                    f"{show(drive.since_start(delivered))}."
                )
        if drive.paged_at is None:
            paged = await store.first_delivered_under(
                page_key(incident_id, 0).removesuffix("0"), exclude="/dm/"
            )
            if paged is not None:
                drive.paged_at = paged
                self._say(f"First page delivered after {show(drive.since_start(paged))}.")

    async def _acknowledge(self, drive: Drive) -> None:
        try:
            await self._parts.incidents.acknowledge(self._actor)
        except NoOpenIncident:
            self._say(f"Incident #{drive.incident_id} was already resolved by someone.")
            drive.closed = True
            return
        await self._parts.incidents.add_note(
            self._actor, f"Game day {drive.run_id}: acknowledged by the drill, not by a person."
        )
        self._say("Acknowledged as the bot.")

    async def _resolve(self, drive: Drive) -> None:
        if drive.closed:
            return
        try:
            await self._resolve_as_drill(drive)
        except NoOpenIncident:
            self._say(f"Incident #{drive.incident_id} was already resolved by someone.")

    async def _resolve_as_drill(self, drive: Drive) -> None:
        await self._parts.incidents.add_note(
            self._actor,
            f"Game day {drive.run_id}: this incident was a drill on a staging queue; "
            "resolved by the drill once its synthetic jobs were removed.",
            EventKind.ROOT_CAUSE,
        )
        await self._parts.incidents.resolve(self._actor)
        await self._parts.deliver()
        self._say(f"Incident #{drive.incident_id} resolved as a drill.")

    async def _remove(self, queue: str, prefix: str, run_id: str, count: int) -> int:
        removed = 0
        for low, high in batches(0, count):
            ids = synthetic_ids(prefix, run_id, low, high)
            removed += await remove_synthetic(self._parts.redis, queue, ids)
        return removed

    async def _announce(self, key: str, text: str) -> None:
        async with self._parts.store.transaction() as tx:
            await self._parts.messages.say(tx, key, self._playbook.slack.announcement_channel, text)
