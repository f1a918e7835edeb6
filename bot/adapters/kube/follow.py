"""Watching a rollout or a Job until it settles, by polling (``kubectl rollout status``).

Polling rather than a watch: one short GET every few seconds is what the
Role already grants, survives API-server restarts without resume logic, and
is easy to drive in tests. ``sleep`` and ``monotonic`` are injectable so a
test can run a 15-minute timeout in no time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.adapters.kube.client import KubeClient
from bot.domain.workloads import JobPhase, JobStatus, RolloutPhase, RolloutStatus

Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Polling:
    """How often to look and for how long at most."""

    poll_seconds: float = 2.0
    timeout_seconds: float = 900.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic


async def follow_rollout(
    kube: KubeClient,
    namespace: str,
    deployment: str,
    on_progress: Progress,
    polling: Polling = Polling(),
) -> RolloutStatus:
    """Polls until the rollout is complete, stuck or paused, or ``timeout_seconds`` pass.

    Returns the last status read: COMPLETE, STUCK, PAUSED, or still PROGRESSING
    when it timed out. ``on_progress`` gets a line each time the counts change.
    """
    return await _follow(
        kube,
        namespace,
        deployment,
        on_progress,
        polling,
        settled=lambda s: s.phase is not RolloutPhase.PROGRESSING,
        describe=RolloutStatus.describe,
    )


async def follow_scale(
    kube: KubeClient,
    namespace: str,
    deployment: str,
    on_progress: Progress,
    polling: Polling = Polling(),
    *,
    replicas: Callable[[int], bool] = lambda _: True,
    waiting_for: str = "",
) -> RolloutStatus:
    """Polls after a scale until the deployment's pods are Ready (``kubectl rollout
    status`` after ``kubectl scale``), the rollout is stuck, or ``timeout_seconds`` pass.

    ``replicas`` says which ``spec.replicas`` counts as the scale having happened
    (an HPA given new bounds changes it at its next sync; ``waiting_for`` then
    names what is awaited for the progress line). A paused deployment still
    scales, so PAUSED is not an end here. Returns the last status read; it has
    settled when ``status.scaled`` and ``replicas(status.desired)``.
    """

    def describe(status: RolloutStatus) -> str:
        if not replicas(status.desired) and status.phase is not RolloutPhase.STUCK:
            return f"`{status.deployment}` runs {status.desired} replicas: {waiting_for}"
        return status.describe_scale()

    return await _follow(
        kube,
        namespace,
        deployment,
        on_progress,
        polling,
        settled=lambda s: s.phase is RolloutPhase.STUCK or (s.scaled and replicas(s.desired)),
        describe=describe,
    )


async def _follow(
    kube: KubeClient,
    namespace: str,
    deployment: str,
    on_progress: Progress,
    polling: Polling,
    *,
    settled: Callable[[RolloutStatus], bool],
    describe: Callable[[RolloutStatus], str],
) -> RolloutStatus:
    deadline = polling.monotonic() + polling.timeout_seconds
    shown = ""
    while True:
        status = await kube.rollout_status(namespace, deployment)
        line = f":arrows_counterclockwise: {describe(status)}"
        if line != shown:
            await on_progress(line)
            shown = line
        if settled(status) or polling.monotonic() >= deadline:
            return status
        await polling.sleep(polling.poll_seconds)


def describe_job(status: JobStatus) -> str:
    return (
        f"Job `{status.name}`: {status.phase.value} "
        f"(active {status.active}, succeeded {status.succeeded}, failed {status.failed})"
    )


async def follow_job(
    kube: KubeClient,
    namespace: str,
    name: str,
    on_progress: Progress,
    polling: Polling = Polling(timeout_seconds=3600.0),
) -> JobStatus:
    """Polls until the Job succeeds or fails, or ``timeout_seconds`` pass.

    Returns the last status read: SUCCEEDED, FAILED, or still RUNNING when it
    timed out.
    """
    deadline = polling.monotonic() + polling.timeout_seconds
    shown = ""
    while True:
        status = await kube.job_status(namespace, name)
        line = f":rotating_light: {describe_job(status)}"
        if line != shown:
            await on_progress(line)
            shown = line
        if status.phase is not JobPhase.RUNNING or polling.monotonic() >= deadline:
            return status
        await polling.sleep(polling.poll_seconds)
