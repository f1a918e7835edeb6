"""Turning a requested remediation into a bounded plan, or refusing it.

Every value that reaches Kubernetes or Redis passes through here first and is
checked against the playbook: only its deployments, only within its bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain import commands
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.report import format_duration
from bot.domain.requeue import StuckScan


class ActionRefused(ValueError):
    """A request the playbook does not allow; ``str()`` says why."""


@dataclass(frozen=True)
class ActionPlan:
    kind: ActionKind
    params: dict[str, Any]
    summary: str
    details: tuple[str, ...] = field(default=())


def plan_scale(
    playbook: Playbook, command: commands.Scale, current_replicas: int | None
) -> ActionPlan:
    deployment = playbook.deployments.get(command.deployment)
    if deployment is None:
        known = ", ".join(f"`{name}`" for name in playbook.deployments)
        raise ActionRefused(
            f"`{command.deployment}` is not a worker deployment of this playbook (known: {known})."
        )
    low, high = deployment.min_replicas, deployment.max_replicas
    if not low <= command.replicas <= high:
        raise ActionRefused(
            f"{command.replicas} replicas is outside the playbook's bounds for "
            f"`{command.deployment}` ({low} to {high})."
        )
    if current_replicas is not None and current_replicas == command.replicas:
        raise ActionRefused(
            f"`{command.deployment}` already runs {current_replicas} replicas; nothing to do."
        )
    before = "?" if current_replicas is None else str(current_replicas)
    return ActionPlan(
        kind=ActionKind.SCALE,
        params={
            "namespace": playbook.namespace,
            "deployment": command.deployment,
            "replicas": command.replicas,
            "replicas_before": current_replicas,
        },
        summary=(
            f"Scale `{command.deployment}` from {before} to {command.replicas} replicas "
            f"(namespace `{playbook.namespace}`)"
        ),
    )


def plan_requeue(playbook: Playbook, command: commands.Requeue, scan: StuckScan) -> ActionPlan:
    """The approval request for a requeue, carrying the dry run's findings."""
    target = command.queue or playbook.stuck_jobs.requeue_to
    if target not in playbook.queue_names:
        known = ", ".join(f"`{name}`" for name in playbook.queue_names)
        raise ActionRefused(f"`{target}` is not a queue of this playbook (known: {known}).")
    if scan.stuck == 0:
        extra = (
            f" ({scan.malformed_count:,} have a heartbeat that is not a number: "
            f"{', '.join(scan.malformed)})"
            if scan.malformed_count
            else ""
        )
        raise ActionRefused(
            f"No stuck jobs: none of the {scan.scanned:,} ids in `{scan.processing_set}` has "
            f"been without a heartbeat for {format_duration(_seconds(scan.threshold_seconds))}"
            f"{extra}. Nothing to requeue."
        )
    oldest = (
        f"; oldest heartbeat {format_duration(_seconds(scan.oldest_age_seconds))} ago"
        if scan.oldest_age_seconds is not None
        else ""
    )
    details = [
        f"Dry run: {scan.stuck:,} of {scan.scanned:,} ids in `{scan.processing_set}` are stuck "
        f"({scan.missing_heartbeat:,} without a heartbeat, {scan.stale_heartbeat:,} older than "
        f"{format_duration(_seconds(scan.threshold_seconds))}{oldest}).",
        f"Sample: {', '.join(f'`{i}`' for i in scan.sample_ids)}",
    ]
    if scan.malformed_count:
        details.append(
            f"{scan.malformed_count:,} ids have a heartbeat that is not a number and will be "
            f"left for a person to look at: {', '.join(f'`{i}`' for i in scan.malformed)}"
        )
    return ActionPlan(
        kind=ActionKind.REQUEUE,
        params={
            "processing_set": playbook.stuck_jobs.processing_set,
            "heartbeat_key": playbook.stuck_jobs.heartbeat_key,
            "target_queue": target,
            "older_than_seconds": scan.threshold_seconds,
            "dry_run_stuck": scan.stuck,
            "dry_run_scanned": scan.scanned,
        },
        summary=(f"Requeue {scan.stuck:,} stuck jobs from `{scan.processing_set}` onto `{target}`"),
        details=tuple(details),
    )


def _seconds(value: float | None) -> timedelta:
    return timedelta(seconds=value or 0)
