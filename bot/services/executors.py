"""What each approved action does, and how it shows progress.

Called only for a request this process moved to ``executing`` (see
:class:`bot.services.actions.ActionService`), so each runs exactly once. Every
executor re-checks its parameters against the playbook first: the playbook may
have changed since the request was made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.adapters.kube import KubeClient
from bot.adapters.kube.follow import Polling
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.requeue import RedisUnavailable, RequeueJournal, requeue_stuck
from bot.domain.models import ActionRequest, Clock
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.requeue import (
    RequeueProgress,
    RequeueResult,
    format_progress,
    format_requeue_result,
)
from bot.domain.requeue_journal import RequeueMode
from bot.services import remediation
from bot.services.remediation import ActionFailed

__all__ = ["ActionFailed", "Executor", "Executors", "ProgressReport"]

Executor = Callable[[ActionRequest], Awaitable[Mapping[str, Any]]]
# (request, line for its thread, what has been done so far, kept if it is interrupted)
ProgressReport = Callable[[ActionRequest, str, Mapping[str, Any] | None], Awaitable[None]]

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
        self._by_kind: dict[ActionKind, Executor] = {
            ActionKind.SCALE: self._execute_scale,
            ActionKind.REQUEUE: self._execute_requeue,
            ActionKind.RESTART: self._execute_restart,
            ActionKind.TUNE: self._execute_tune,
            ActionKind.DRAIN: self._execute_drain,
        }

    @property
    def longest_run_seconds(self) -> float:
        """No executor runs longer than this (each gives up at its own limit)."""
        return max(
            self.rollout_timeout_seconds * len(self._playbook.deployments),
            self.drain_timeout_seconds,
        )

    async def run(self, request: ActionRequest) -> Mapping[str, Any]:
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
        )

    async def _execute_drain(self, request: ActionRequest) -> Mapping[str, Any]:
        polling = Polling(
            poll_seconds=self.poll_seconds, timeout_seconds=self.drain_timeout_seconds
        )
        return await remediation.execute_drain(
            self._kube,
            self._playbook,
            request.params,
            self._progress_message(request),
            polling=polling,
        )

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
