"""What each approved action does, and how it shows progress.

Called only for a request this process moved to ``executing`` (see
:class:`bot.services.actions.ActionService`), so each runs exactly once. Every
executor re-checks its parameters against the playbook first: the playbook may
have changed since the request was made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from bot.adapters.kube import KubeClient
from bot.adapters.queues.requeue import RedisUnavailable, requeue_stuck
from bot.domain.actions import plan_drain
from bot.domain.models import ActionRequest, Clock
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.requeue import RequeueProgress, format_progress, format_requeue_result
from bot.domain.workloads import JobPhase, RolloutPhase, RolloutStatus
from bot.services.ports import Notifier, Posted

Executor = Callable[[ActionRequest], Awaitable[Mapping[str, Any]]]

# chat.update is Tier 3 (~50/min per workspace): a few seconds between progress
# edits leaves room for everything else the bot posts meanwhile.
REQUEUE_PROGRESS_INTERVAL = 3.0


class ActionFailed(RuntimeError):
    """An executor's failure, worded for the channel."""


class Executors:
    def __init__(
        self,
        *,
        kube: KubeClient,
        redis: aioredis.Redis,
        notifier: Notifier,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._kube = kube
        self._redis = redis
        self._notifier = notifier
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
        params = request.params
        deployment = self._playbook.deployments.get(str(params["deployment"]))
        replicas = int(params["replicas"])
        # Re-check the bounds at execution time: the playbook may have changed
        # since the request was made.
        if deployment is None or not deployment.min_replicas <= replicas <= deployment.max_replicas:
            raise ActionFailed("the request is no longer within the playbook's bounds")
        if "hpa" in params:
            hpa = await self._kube.set_hpa_bounds(
                self._playbook.namespace,
                str(params["hpa"]),
                int(params["min_replicas"]),
                int(params["max_replicas"]),
            )
            return {
                "hpa": hpa.name,
                "min_replicas": hpa.min_replicas,
                "max_replicas": hpa.max_replicas,
                "min_before": params.get("min_before"),
                "max_before": params.get("max_before"),
            }
        before, after = await self._kube.scale(
            self._playbook.namespace, str(params["deployment"]), replicas
        )
        return {"deployment": params["deployment"], "replicas_before": before, "replicas": after}

    async def _execute_requeue(self, request: ActionRequest) -> Mapping[str, Any]:
        params = request.params
        target = str(params["target_queue"])
        if target not in self._playbook.queue_names:
            raise ActionFailed("the target queue is no longer in the playbook")
        progress = self._progress_message(request)

        async def on_progress(update: RequeueProgress) -> None:
            await progress(
                f":recycle: Requeueing: {format_progress(update)} · moved {update.moved:,}"
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
            )
        except RedisUnavailable as exc:
            raise ActionFailed(str(exc)) from exc
        await progress(f":recycle: Requeue finished: {format_requeue_result(result)}")
        return {
            "target_queue": target,
            "moved": result.moved,
            "skipped_renewed": result.skipped_renewed,
            "skipped_gone": result.skipped_gone,
            "malformed": result.malformed,
            "elapsed_seconds": round(result.elapsed_seconds, 3),
        }

    async def _execute_restart(self, request: ActionRequest) -> Mapping[str, Any]:
        deployments = [str(d) for d in request.params["deployments"]]
        for name in deployments:
            if name not in self._playbook.deployments:
                raise ActionFailed(f"`{name}` is no longer a deployment of the playbook")
        progress = self._progress_message(request)
        rollouts = {}
        for name in deployments:
            rollouts[name] = await self._restart_one(name, progress)
        return {"deployments": deployments, "rollouts": rollouts}

    async def _restart_one(self, name: str, progress: Callable[[str], Awaitable[None]]) -> str:
        namespace = self._playbook.namespace
        await self._kube.rollout_restart(namespace, name, self._clock())
        status = await self._follow_rollout(name, progress)
        if status.phase is RolloutPhase.STUCK:
            raise ActionFailed(status.describe())
        return status.describe()

    async def _follow_rollout(
        self, name: str, progress: Callable[[str], Awaitable[None]]
    ) -> RolloutStatus:
        deadline = time.monotonic() + self.rollout_timeout_seconds
        shown = ""
        while True:
            status = await self._kube.rollout_status(self._playbook.namespace, name)
            line = f":arrows_counterclockwise: {status.describe()}"
            if line != shown:
                await progress(line)
                shown = line
            if status.phase is not RolloutPhase.PROGRESSING:
                return status
            if time.monotonic() >= deadline:
                raise ActionFailed(
                    f"{status.describe()} — still not done after "
                    f"{self.rollout_timeout_seconds:.0f}s"
                )
            await asyncio.sleep(self.poll_seconds)

    async def _execute_tune(self, request: ActionRequest) -> Mapping[str, Any]:
        params = request.params
        config = self._playbook.worker_config
        changes = {str(k): str(v) for k, v in dict(params["changes"]).items()}
        for key, value in changes.items():  # the playbook may have changed since the request
            bounds = config.keys.get(key)
            if bounds is None or not bounds.min <= int(value) <= bounds.max:
                raise ActionFailed(f"`{key}={value}` is no longer allowed by the playbook")
        before = await self._kube.update_configmap(
            self._playbook.namespace, config.configmap, changes
        )
        progress = self._progress_message(request)
        summary = ", ".join(f"{k}: {before.get(k) or '(unset)'} → {v}" for k, v in changes.items())
        await progress(f":gear: ConfigMap `{config.configmap}` updated ({summary})")
        rollouts = {}
        for name in config.restart_deployments:
            rollouts[name] = await self._restart_one(name, progress)
        return {
            "configmap": config.configmap,
            "before": before,
            "after": changes,
            "rollouts": rollouts,
        }

    async def _execute_drain(self, request: ActionRequest) -> Mapping[str, Any]:
        name = str(request.params["job"])
        prefix = f"{self._playbook.emergency_drain.job_name}-"
        if not name.startswith(prefix):
            raise ActionFailed(f"`{name}` is not a drain job of this playbook")
        # Rebuilt from the playbook now rather than trusted from the stored request.
        manifest = plan_drain(self._playbook, name.removeprefix(prefix)).params["manifest"]
        namespace = self._playbook.namespace
        await self._kube.create_job(namespace, manifest)
        progress = self._progress_message(request)
        deadline = time.monotonic() + self.drain_timeout_seconds
        shown = ""
        while True:
            status = await self._kube.job_status(namespace, name)
            line = (
                f":rotating_light: Job `{name}`: {status.phase.value} "
                f"(active {status.active}, succeeded {status.succeeded}, failed {status.failed})"
            )
            if line != shown:
                await progress(line)
                shown = line
            if status.phase is JobPhase.FAILED:
                raise ActionFailed(f"Job `{name}` failed: {status.message or 'no reason given'}")
            if status.phase is JobPhase.SUCCEEDED:
                return {"job": name, "succeeded": status.succeeded, "failed": status.failed}
            if time.monotonic() >= deadline:
                raise ActionFailed(
                    f"Job `{name}` still running after {self.drain_timeout_seconds:.0f}s"
                )
            await asyncio.sleep(self.poll_seconds)

    def _progress_message(self, request: ActionRequest) -> Callable[[str], Awaitable[None]]:
        """One message in the request's thread, posted once and then edited."""
        posted: list[Posted] = []

        async def show(text: str) -> None:
            if not request.channel:
                return
            if posted:
                await self._notifier.update(posted[0], text)
            else:
                posted.append(
                    await self._notifier.post_in_thread(request.channel, request.message_ts, text)
                )

        return show
