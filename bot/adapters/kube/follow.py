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
    """Polls until the rollout is complete or stuck, or ``timeout_seconds`` pass.

    Returns the last status read: COMPLETE, STUCK, or still PROGRESSING when it
    timed out. ``on_progress`` gets a line each time the counts change.
    """
    deadline = polling.monotonic() + polling.timeout_seconds
    shown = ""
    while True:
        status = await kube.rollout_status(namespace, deployment)
        line = f":arrows_counterclockwise: {status.describe()}"
        if line != shown:
            await on_progress(line)
            shown = line
        if status.phase is not RolloutPhase.PROGRESSING or polling.monotonic() >= deadline:
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
