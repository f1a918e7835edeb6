"""What each approved action does, and how it shows progress.

Called only for a request this process moved to ``executing`` (see
:class:`bot.services.actions.ActionService`), so each runs exactly once. Every
executor re-checks its parameters against the playbook first: the playbook may
have changed since the request was made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from bot.adapters.kube import KubeClient
from bot.adapters.kube.follow import Polling
from bot.adapters.queues import recovery
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.requeue import RedisUnavailable, RequeueJournal, requeue_stuck
from bot.domain.models import ActionRequest, Clock
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.recovery import DrainCount, anchor_queue, progress_text, snapshot_text
from bot.domain.requeue import (
    RequeueProgress,
    RequeueResult,
    format_progress,
    format_requeue_result,
)
from bot.domain.requeue_journal import RequeueMode
from bot.domain.rollback import Change, rollback_target
from bot.services import remediation
from bot.services.changes import ChangeHook
from bot.services.remediation import ActionFailed
from bot.services.rollbacks import execute_rollback

__all__ = ["ActionFailed", "Executor", "Executors", "ProgressReport", "Recorder"]

log = logging.getLogger(__name__)

Executor = Callable[[ActionRequest], Awaitable[Mapping[str, Any]]]
# (request, line for its thread, what has been done so far, kept if it is interrupted)
ProgressReport = Callable[[ActionRequest, str, Mapping[str, Any] | None], Awaitable[None]]


class Recorder(Protocol):
    """Keeps what the executors learn for later (bot/services/effects.py): what an
    action changed (for a rollback), a drain's snapshot and count, a re-analysis."""

    async def changed(self, request: ActionRequest, change: Change) -> None: ...

    async def snapshotted(self, request: ActionRequest, count: int) -> None: ...

    async def counted(self, request: ActionRequest, count: DrainCount, succeeded: bool) -> None: ...

    async def reanalysed(self, request: ActionRequest, pushed: int, waiting: int) -> None: ...


class _Forget:
    """No recorder wired (tests of the executors alone): nothing is kept."""

    async def changed(self, request: ActionRequest, change: Change) -> None:
        return None

    async def snapshotted(self, request: ActionRequest, count: int) -> None:
        return None

    async def counted(self, request: ActionRequest, count: DrainCount, succeeded: bool) -> None:
        return None

    async def reanalysed(self, request: ActionRequest, pushed: int, waiting: int) -> None:
        return None


# chat.update is Tier 3 (~50/min per workspace): a few seconds between progress
# edits leaves room for everything else the bot posts meanwhile.
REQUEUE_PROGRESS_INTERVAL = 3.0


class Executors:
    def __init__(
        self,
        *,
        kube: KubeClient,
        redis: RedisClient,
        journal: RequeueJournal,
        report: ProgressReport,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._kube = kube
        self._redis = redis
        self._journal = journal
        self._report = report
        self._playbook = playbook
        self._clock = clock
        # How often to look at a rollout or a job, and for how long at most.
        self.poll_seconds = 2.0
        self.rollout_timeout_seconds = 900.0
        self.drain_timeout_seconds = 3600.0
        self.requeue_progress_interval = REQUEUE_PROGRESS_INTERVAL
        # Wired by bot/app.py to the effect service; waits between re-analysis batches.
        self.recorder: Recorder = _Forget()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._by_kind: dict[ActionKind, Executor] = {
            ActionKind.SCALE: self._execute_scale,
            ActionKind.REQUEUE: self._execute_requeue,
            ActionKind.RESTART: self._execute_restart,
            ActionKind.TUNE: self._execute_tune,
            ActionKind.DRAIN: self._execute_drain,
            ActionKind.REANALYSE: self._execute_reanalyse,
        }

    @property
    def longest_run_seconds(self) -> float:
        """No executor runs longer than this (each gives up at its own limit)."""
        return max(
            self.rollout_timeout_seconds * len(self._playbook.deployments),
            self.drain_timeout_seconds,
        )

    async def run(self, request: ActionRequest) -> Mapping[str, Any]:
        if rollback_target(request.kind, request.params) is not None:
            return await execute_rollback(
                self._kube,
                self._playbook,
                request.params,
                self._progress_message(request),
                now=self._clock(),
                polling=self._rollout_polling,
            )
        executor = self._by_kind.get(request.kind)
        if executor is None:
            raise ActionFailed(f"`{request.kind.value}` cannot be executed by this version.")
        return await executor(request)

    async def _execute_scale(self, request: ActionRequest) -> Mapping[str, Any]:
        return await remediation.execute_scale(
            self._kube,
            self._playbook,
            request.params,
            self._progress_message(request),
            polling=self._rollout_polling,
            on_change=self._keep_change(request),
        )

    async def _execute_requeue(self, request: ActionRequest) -> Mapping[str, Any]:
        params = request.params
        target = str(params["target_queue"])
        if target not in self._playbook.queue_names:
            raise ActionFailed("the target queue is no longer in the playbook")

        async def on_progress(update: RequeueProgress) -> None:
            await self._report(
                request,
                f":recycle: Requeueing: {format_progress(update)} · moved {update.moved:,}",
                {"moved": update.moved, "examined": update.done, "total": update.total},
            )

        try:
            result = await requeue_stuck(
                self._redis,
                processing_set=str(params["processing_set"]),
                heartbeat_key=str(params["heartbeat_key"]),
                target_queue=target,
                older_than_seconds=float(params["older_than_seconds"]),
                on_progress=on_progress,
                progress_interval_seconds=self.requeue_progress_interval,
                journal=self._journal,
            )
        except RedisUnavailable as exc:
            raise ActionFailed(str(exc)) from exc
        await self._report(
            request,
            f":recycle: Requeue finished: {format_requeue_result(result)}",
            {"moved": result.moved},
        )
        return {
            "target_queue": target,
            "moved": result.moved,
            "skipped_renewed": result.skipped_renewed,
            "skipped_gone": result.skipped_gone,
            "malformed": result.malformed,
            "elapsed_seconds": round(result.elapsed_seconds, 3),
            **_journaled_counts(result),
        }

    @property
    def _rollout_polling(self) -> Polling:
        return Polling(poll_seconds=self.poll_seconds, timeout_seconds=self.rollout_timeout_seconds)

    async def _execute_restart(self, request: ActionRequest) -> Mapping[str, Any]:
        return await remediation.execute_restart(
            self._kube,
            self._playbook,
            request.params,
            self._progress_message(request),
            now=self._clock(),
            polling=self._rollout_polling,
        )

    async def _execute_tune(self, request: ActionRequest) -> Mapping[str, Any]:
        return await remediation.execute_tune(
            self._kube,
            self._playbook,
            request.params,
            self._progress_message(request),
            now=self._clock(),
            polling=self._rollout_polling,
            on_change=self._keep_change(request),
        )

    async def _execute_drain(self, request: ActionRequest) -> Mapping[str, Any]:
        polling = Polling(
            poll_seconds=self.poll_seconds, timeout_seconds=self.drain_timeout_seconds
        )
        drain = _DrainRecovery(self, request)
        result = await remediation.execute_drain(
            self._kube,
            self._playbook,
            request.params,
            self._progress_message(request),
            polling=polling,
            before_start=drain.snapshot,
            after_end=drain.count,
        )
        return {**result, **drain.figures}

    async def _execute_reanalyse(self, request: ActionRequest) -> Mapping[str, Any]:
        """Pushes what a drain took back for full analysis, at the playbook's pace (read
        now: it may have been lowered since the request)."""
        settings = self._playbook.emergency_drain.recovery
        target = str(request.params["target_queue"])
        if target != settings.reanalyse_to:
            raise ActionFailed(f"`{target}` is no longer the playbook's re-analysis queue")
        drain = UUID(str(request.params["drain"]))

        async def on_progress(pushed: int, waiting: int) -> None:
            await self._report(
                request, progress_text(pushed, pushed + waiting, target), {"pushed": pushed}
            )
            await self.recorder.reanalysed(request, pushed, waiting)

        try:
            done = await recovery.reanalyse(
                self._redis,
                drain,
                target_queue=target,
                batch_size=settings.batch_size,
                max_per_minute=settings.max_per_minute,
                sleep=self.sleep,
                on_progress=on_progress,
            )
        except recovery.RecoveryFailed as exc:
            raise ActionFailed(str(exc)) from exc
        return {"target_queue": target, "pushed": done.moved, "total_pushed": done.pushed}

    def _keep_change(self, request: ActionRequest) -> ChangeHook:
        """Hands what the action changed to the recorder; if PostgreSQL cannot keep it,
        the thread says the change cannot be rolled back (the action itself stands)."""

        async def keep(change: Change) -> None:
            try:
                await self.recorder.changed(request, change)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("could not record %s's change: %s", request.id, exc)
                await self._report(
                    request,
                    f":warning: The previous state could not be stored ({type(exc).__name__}); "
                    "this change cannot be rolled back by the bot.",
                    None,
                )

        return keep

    def _progress_message(self, request: ActionRequest) -> Callable[[str], Awaitable[None]]:
        """Progress lines for the request's thread (one message, edited)."""

        async def show(text: str) -> None:
            await self._report(request, text, None)

        return show


def _journaled_counts(result: RequeueResult) -> dict[str, Any]:
    """What only a journaled requeue (Redis Cluster, keys in different slots) counts."""
    if result.mode is not RequeueMode.JOURNALED:
        return {}
    return {
        "mode": result.mode.value,
        "taken_again": result.taken_again,
        "left_early": result.left_early,
        "recovered_batches": result.recovered.batches,
    }


class _DrainRecovery:
    """A drain's recovery steps around its Job (see :mod:`bot.domain.recovery`)."""

    def __init__(self, executors: Executors, request: ActionRequest) -> None:
        self._x = executors
        self._request = request
        self.figures: dict[str, Any] = {}

    async def snapshot(self) -> None:
        """Before the Job starts: the queue's ids, copied; a failure stops the drain."""
        x, playbook = self._x, self._x._playbook
        queue, ttl = playbook.drain_queue, playbook.emergency_drain.recovery.ttl
        try:
            count = await recovery.snapshot_queue(
                x._redis, self._request.id, queue, anchor=anchor_queue(playbook), ttl=ttl
            )
        except recovery.RecoveryFailed as exc:
            raise ActionFailed(str(exc)) from exc
        self.figures["snapshotted"] = count
        await x.recorder.snapshotted(self._request, count)
        job = str(self._request.params["job"])
        await x._report(
            self._request, snapshot_text(job, queue, count, ttl), {"snapshotted": count}
        )

    async def count(self, succeeded: bool) -> None:
        """Once the Job ended: what it took. A failure is said, never hides the drain's
        own outcome."""
        x, playbook = self._x, self._x._playbook
        try:
            count = await recovery.count_taken(
                x._redis,
                self._request.id,
                queue=playbook.drain_queue,
                processing_set=playbook.stuck_jobs.processing_set,
                anchor=anchor_queue(playbook),
                ttl=playbook.emergency_drain.recovery.ttl,
            )
        except recovery.RecoveryFailed as exc:
            await x._report(self._request, f":warning: {exc}", None)
            return
        self.figures.update(taken=count.taken, left=count.left, in_flight=count.in_flight)
        await x.recorder.counted(self._request, count, succeeded)
