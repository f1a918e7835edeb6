"""Every action proves itself: its effect check, what it changed, a drain's recovery.

* :meth:`EffectService.schedule` runs in the transaction that records an executed
  action's outcome (``ActionService.on_finished``): the check is stored with it, so
  an action that finished always has its check, and a restart resumes it.
* :meth:`EffectService.on_sample` runs after each monitor sample (``Monitor.after_sample``):
  each check being watched is judged again from the stored samples
  (:func:`bot.domain.effects.judge`), and its message in the action's thread, the
  timeline and the stored figures are updated together; a drain's **Re-analyse** is
  offered once the backlog is over.
* The executors tell it (:class:`~bot.services.executors.Recorder`) what an action
  changed and what a drain snapshotted and took.

What others read: :meth:`latest_verdict` (the living alert), :meth:`report_verdicts`
(the report's "throughput before and after each action", wired as its verdict
source), :meth:`action_effects` (the figures themselves), :meth:`verdict_marks` (the
chart).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.store import Store
from bot.adapters.store.effects import CheckRow
from bot.domain.chart import ChartMark, depth_thresholds
from bot.domain.effect_text import EffectRecord, verdict_marks, verdict_text
from bot.domain.effects import (
    Judgement,
    Verdict,
    Watch,
    failed,
    judge,
    watch_window,
    watched_queue,
)
from bot.domain.models import ActionRequest, ActionState, Clock, EventKind, QueueSample
from bot.domain.playbook import Playbook
from bot.domain.recovery import DrainCount, Recovery, RecoveryState, backlog_over
from bot.domain.report import ActionVerdict
from bot.domain.rollback import Change, rollback_target
from bot.services.messages import Messages

log = logging.getLogger(__name__)

#: An effect message is edited at most this often while its verdict stays the same
#: (chat.update is Tier 3; the verdict changing, or the final one, is said at once).
UPDATE_EVERY = timedelta(minutes=1)


class EffectService:
    def __init__(
        self,
        *,
        store: Store,
        kube: KubeClient,
        messages: Messages,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._store = store
        self._kube = kube
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._thresholds = depth_thresholds(playbook)

    # ---- scheduling ------------------------------------------------------------------

    async def schedule(self, tx: Store, request: ActionRequest) -> None:
        """Starts the effect check of ``request``, which just finished, in ``tx`` (the
        transaction recording its outcome). A failed action is reported failed at once,
        with its reason (a scale whose pods never became Ready names them)."""
        now = self._clock()
        incident = await tx.get_incident(request.incident_id) if request.incident_id else None
        queue = watched_queue(self._playbook, request, incident.queue if incident else None)
        watch = None
        workers = _workers_from(request)
        if queue is not None:
            executed, finished = request.executed_at or now, request.finished_at or now
            effect_from, until = watch_window(
                request.kind, executed, finished, self._playbook.effect_check
            )
            watch = Watch(queue, executed, effect_from, until, workers, self._thresholds.get(queue))
        deployment = self._deployment_of(queue)
        added = await tx.add_effect_check(
            request.id,
            incident_id=request.incident_id,
            channel=request.channel or "",
            watch=watch,
            action_at=request.executed_at or now,
            workers_known=workers is not None or deployment is None,
        )
        if not added:
            return
        if request.state is not ActionState.SUCCEEDED:
            judgement = failed(request.error or "no reason was recorded")
        elif watch is None:
            judgement = Judgement(
                Verdict.UNKNOWN,
                True,
                "This action works no queue of the playbook, so there is no queue to watch.",
            )
        else:
            judgement = Judgement(
                None,
                False,
                f"Watching `{watch.queue}`: the first verdict comes once 3 samples over 2 "
                "minutes after the action can be compared with the trend before it.",
            )
        await self._say(tx, request, watch, judgement, previous=None, now=now)

    # ---- the monitor's samples -------------------------------------------------------

    async def on_sample(self, sample: QueueSample) -> None:
        """Judges every check being watched again, and offers or withdraws drains'
        Re-analyse. Called by the monitor after each stored sample; a failure is logged
        and the check (kept in PostgreSQL) is judged again on the next sample, so it
        never stops the monitor's other hooks."""
        now = self._clock()
        try:
            checks = await self._store.watching_checks()
            recoveries = await self._store.open_recoveries()
        except (asyncpg.PostgresError, OSError):
            # The monitor's hooks each handle their own failures; these rows stay and
            # are read again on the next sample (PostgreSQL down shows in /readyz).
            log.exception("effect checks could not be read; trying again next sample")
            return
        for check in checks:
            try:
                await self._evaluate(check, now)
            except Exception:  # one check's failure must not stop the others
                log.exception("effect check %s failed; trying again next sample", check.request_id)
        for recovery in recoveries:
            try:
                await self._offer(recovery, sample, now)
            except Exception:
                log.exception("drain recovery %s failed; trying again", recovery.request_id)

    async def _evaluate(self, check: CheckRow, now: datetime) -> None:
        request = await self._store.get_action_request(check.request_id)
        watch = check.watch
        if request is None or watch is None:
            return
        if not check.workers_known:
            workers = await self._ready_workers(watch.queue)
            await self._store.set_workers_before(check.request_id, workers)
            watch = replace(watch, workers_before=workers)
        samples = await self._store.samples_between(
            self._playbook.name,
            watch.action_at - self._playbook.capacity.trend_window,
            min(now, watch.until),
        )
        judgement = judge(watch, samples, now, self._playbook.capacity, self._playbook.effect_check)
        changed = judgement.verdict != check.verdict
        due = check.said_at is None or now - check.said_at >= UPDATE_EVERY
        moved = judgement.numbers != check.numbers or judgement.reason != check.reason
        if not (changed or judgement.final or (due and moved)):
            return
        async with self._store.transaction() as tx:
            await self._say(tx, request, watch, judgement, previous=check.verdict, now=now)

    async def _say(
        self,
        tx: Store,
        request: ActionRequest,
        watch: Watch | None,
        judgement: Judgement,
        *,
        previous: Verdict | None,
        now: datetime,
    ) -> None:
        changed = judgement.verdict is not None and judgement.verdict != previous
        saved = await tx.save_verdict(
            request.id,
            verdict=judgement.verdict,
            reason=judgement.reason,
            numbers=judgement.numbers,
            at=now,
            verdict_changed=changed,
            final=judgement.final,
        )
        if not saved:
            return  # another replica finished it
        can_roll_back = (
            rollback_target(request.kind, request.params) is None
            and await tx.change_for(request.id) is not None
        )
        await self._messages.effect(
            tx,
            request,
            judgement,
            watch_until=watch.until if watch else None,
            window_seconds=self._playbook.effect_check.window.total_seconds(),
            can_roll_back=can_roll_back,
        )
        if request.incident_id is None or judgement.verdict is None:
            return
        if changed or judgement.final:
            label = "final" if judgement.final else "so far"
            await tx.add_event(
                request.incident_id,
                at=now,
                kind=EventKind.EFFECT_VERDICT,
                text=f"Effect ({label}): {judgement.verdict.value} — {request.summary}",
                data={
                    "request": str(request.id),
                    "verdict": judgement.verdict.value,
                    "final": judgement.final,
                    "reason": judgement.reason,
                    "numbers": judgement.numbers.to_json() if judgement.numbers else None,
                },
            )

    # ---- drains' Re-analyse ----------------------------------------------------------

    async def _offer(self, recovery: Recovery, sample: QueueSample, now: datetime) -> None:
        if now >= recovery.expires_at:
            await self._move(recovery, RecoveryState.EXPIRED)
            return
        if recovery.state is not RecoveryState.COUNTED:
            return
        incident = (
            await self._store.get_incident(recovery.incident_id) if recovery.incident_id else None
        )
        over = backlog_over(
            sample.depths.get(recovery.queue),
            self._thresholds.get(recovery.queue),
            incident_open=incident is None or incident.is_open,
        )
        if over:
            await self._move(recovery, RecoveryState.OFFERED)

    async def _move(self, recovery: Recovery, state: RecoveryState) -> None:
        async with self._store.transaction() as tx:
            if not await tx.set_recovery_state(recovery.request_id, state, was=recovery.state):
                return
            await self._messages.drain_recovery(
                tx, replace(recovery, state=state), self._reanalyse_to
            )

    @property
    def _reanalyse_to(self) -> str | None:
        return self._playbook.emergency_drain.recovery.reanalyse_to

    # ---- what the executors tell (the Recorder) --------------------------------------

    async def changed(self, request: ActionRequest, change: Change) -> None:
        await self._store.record_change(request.id, change, self._clock())

    async def snapshotted(self, request: ActionRequest, count: int) -> None:
        now = self._clock()
        await self._store.add_drain_recovery(
            request.id,
            incident_id=request.incident_id,
            job=str(request.params.get("job", "")),
            queue=self._playbook.drain_queue,
            channel=request.channel or "",
            snapshotted=count,
            at=now,
            expires_at=now + self._playbook.emergency_drain.recovery.ttl,
        )

    async def counted(self, request: ActionRequest, count: DrainCount, succeeded: bool) -> None:
        now = self._clock()
        async with self._store.transaction() as tx:
            await tx.set_drain_counted(request.id, count, succeeded)
            if count.taken == 0:
                await tx.set_recovery_state(
                    request.id, RecoveryState.REANALYSED, was=RecoveryState.COUNTED
                )
            recovery = await tx.drain_recovery(request.id)
            if recovery is None:
                return
            await self._messages.drain_recovery(tx, recovery, self._reanalyse_to)
            if request.incident_id is not None:
                await tx.add_event(
                    request.incident_id,
                    at=now,
                    kind=EventKind.DRAIN_COUNTED,
                    text=(
                        f"Drain `{recovery.job}` processed {count.taken:,} of the "
                        f"{count.snapshotted:,} emails snapshotted before it started"
                    ),
                    data={"request": str(request.id), **vars(count)},
                )

    async def reanalysed(self, request: ActionRequest, pushed: int, waiting: int) -> None:
        drain = UUID(str(request.params["drain"]))
        async with self._store.transaction() as tx:
            await tx.set_recovery_pushed(drain, pushed, done=waiting == 0)
            recovery = await tx.drain_recovery(drain)
            if recovery is not None and waiting == 0:
                await self._messages.drain_recovery(tx, recovery, self._reanalyse_to)

    # ---- what others read ------------------------------------------------------------

    async def latest_verdict(self, incident_id: int) -> EffectRecord | None:
        """The incident's most recent verdict, for the living alert (None: none yet)."""
        return await self._store.latest_verdict(incident_id)

    async def action_effects(self, incident_id: int) -> list[EffectRecord]:
        """Each action's before/after figures and verdict, in the order they ran, for the
        report (:func:`bot.domain.effects.report_line` words one)."""
        return await self._store.action_effects(incident_id)

    async def report_verdicts(self, incident_id: int) -> dict[UUID, ActionVerdict]:
        """Each judged action's verdict for the report (``ReportService``'s
        ``verdicts`` source): shown under the action and marked on its chart."""
        return {
            record.request_id: ActionVerdict(verdict_text(record), record.at)
            for record in await self._store.action_effects(incident_id)
            if record.verdict is not None
        }

    async def verdict_marks(self, incident_id: int) -> list[ChartMark]:
        """The incident's verdicts as chart marks (``MarkKind.VERDICT``)."""
        return verdict_marks(await self._store.action_effects(incident_id))

    # ---- helpers -----------------------------------------------------------------------

    def _deployment_of(self, queue: str | None) -> str | None:
        spec = self._playbook.queue(queue) if queue else None
        return spec.deployment if spec else None

    async def _ready_workers(self, queue: str) -> int | None:
        deployment = self._deployment_of(queue)
        if deployment is None:
            return None
        try:
            status = await self._kube.deployment_status(self._playbook.namespace, deployment)
        except KubeError as exc:
            log.info("effect check: workers of %s unknown (%s)", deployment, exc)
            return None
        return status.ready


def _workers_from(request: ActionRequest) -> int | None:
    """The worker count before a scale (or a scale's rollback), from its result."""
    result = request.result
    if "replicas_before" in result:
        return int(result["replicas_before"])
    replaced = result.get("replaced")
    if isinstance(replaced, dict) and "replicas" in replaced:
        return int(replaced["replicas"])
    return None
