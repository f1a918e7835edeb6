"""Turning a requested remediation into a bounded plan, or refusing it.

Every value that reaches Kubernetes or Redis passes through here first and is
checked against the playbook: only its deployments, only within its bounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain import commands
from bot.domain.errors import Refused
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.report import format_duration
from bot.domain.requeue import StuckScan
from bot.domain.requeue_journal import RequeueMode, journaled_guarantee
from bot.domain.text import code, codes
from bot.domain.workloads import HpaStatus


class ActionRefused(Refused, ValueError):
    """A request the playbook does not allow; ``str()`` says why."""


class DeploymentPaused(ActionRefused):
    """A restart of a paused Deployment (``spec.paused``), which could not roll out.

    Refused as ``kubectl rollout restart`` refuses it ("can't restart paused
    deployment (run rollout resume first)", kubectl's ``objectrestarter.go``): the
    deployment controller does not roll out a paused Deployment's new template.
    ``why`` goes before the sentence (e.g. why a tune restarts anything).
    """

    def __init__(self, namespace: str, deployments: Sequence[str], *, why: str = "") -> None:
        self.namespace = namespace
        self.deployments = tuple(deployments)
        one = len(self.deployments) == 1
        resume = ", ".join(
            f"`kubectl rollout resume deployment/{name} -n {namespace}`" for name in deployments
        )
        super().__init__(
            f"{why}{_and(f'`{name}`' for name in deployments)} {'is' if one else 'are'} paused, "
            "and a paused deployment cannot be restarted (kubectl: \"can't restart paused "
            f'deployment (run rollout resume first)"). Resume {"it" if one else "them"} first '
            f"with {resume}, then ask again."
        )


def _and(items: Iterable[str]) -> str:
    names = list(items)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def paused_refusal(
    kind: ActionKind, namespace: str, restarts: Sequence[str], paused: Sequence[str]
) -> DeploymentPaused:
    """The refusal of an action of ``kind`` that restarts ``restarts``, of which
    ``paused`` are paused; a tune says first why it restarts anything."""
    why = ""
    if kind is ActionKind.TUNE:
        readers = _and(f"`{name}`" for name in restarts)
        why = f"The new settings take effect only when {readers} restart, but "
    return DeploymentPaused(namespace, paused, why=why)


def refuse_paused(plan: ActionPlan, paused: Sequence[str]) -> None:
    """Refuses a plan that restarts a paused deployment (a restart, or a tune, which
    restarts the ConfigMap's readers): :class:`DeploymentPaused` naming them."""
    if paused and plan.kind in (ActionKind.RESTART, ActionKind.TUNE):
        restarts = [str(name) for name in plan.params["deployments"]]
        raise paused_refusal(plan.kind, str(plan.params["namespace"]), restarts, paused)


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


def requeue_target(playbook: Playbook, command: commands.Requeue) -> str:
    """Where stuck ids go back to: ``--queue`` if given, within the playbook's queues."""
    target = command.queue or playbook.stuck_jobs.requeue_to
    if target not in playbook.queue_names:
        known = codes(playbook.queue_names)
        raise ActionRefused(f"{code(target)} is not a queue of this playbook (known: {known}).")
    return target


def plan_requeue(playbook: Playbook, command: commands.Requeue, scan: StuckScan) -> ActionPlan:
    """The approval request for a requeue, carrying the dry run's findings.

    When the requeue cannot be atomic (``scan.mode`` JOURNALED: a Redis Cluster with the
    keys in different hash slots) the details say so, what may then happen to a job,
    and the hash-tag fix (:func:`bot.domain.requeue_journal.journaled_guarantee`).
    ``summary`` and ``details`` are mrkdwn; every id and key name in them is a code span
    of its display form (``show_bytes``), so they hold no NUL (PostgreSQL takes them)
    and an id like ``<!channel>`` pings nobody.
    """
    target = requeue_target(playbook, command)
    processing_set = code(scan.processing_set)
    if scan.stuck == 0:
        extra = (
            f" ({scan.malformed_count:,} have a heartbeat that is not a number: "
            f"{codes(scan.malformed)})"
            if scan.malformed_count
            else ""
        )
        raise ActionRefused(
            f"No stuck jobs: none of the {scan.scanned:,} ids in {processing_set} has "
            f"been without a heartbeat for {format_duration(_seconds(scan.threshold_seconds))}"
            f"{extra}. Nothing to requeue."
        )
    oldest = (
        f"; oldest heartbeat {format_duration(_seconds(scan.oldest_age_seconds))} ago"
        if scan.oldest_age_seconds is not None
        else ""
    )
    details = [
        f"Dry run: {scan.stuck:,} of {scan.scanned:,} ids in {processing_set} are stuck "
        f"({scan.missing_heartbeat:,} without a heartbeat, {scan.stale_heartbeat:,} older than "
        f"{format_duration(_seconds(scan.threshold_seconds))}{oldest}).",
        f"Sample: {codes(scan.sample_ids)}",
    ]
    if scan.malformed_count:
        details.append(
            f"{scan.malformed_count:,} ids have a heartbeat that is not a number and will be "
            f"left for a person to look at: {codes(scan.malformed)}"
        )
    if scan.mode is RequeueMode.JOURNALED:
        stuck = playbook.stuck_jobs
        details += journaled_guarantee(
            stuck.processing_set, stuck.heartbeat_key, target, tag=playbook.namespace
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
            "mode": scan.mode.value,
        },
        summary=f"Requeue {scan.stuck:,} stuck jobs from {processing_set} onto {code(target)}",
        details=tuple(details),
    )


def _seconds(value: float | None) -> timedelta:
    return timedelta(seconds=value or 0)


def _known_deployment(playbook: Playbook, name: str) -> None:
    if name not in playbook.deployments:
        known = ", ".join(f"`{d}`" for d in playbook.deployments)
        raise ActionRefused(
            f"`{name}` is not a worker deployment of this playbook (known: {known})."
        )


def plan_scale_via_hpa(playbook: Playbook, command: commands.Scale, hpa: HpaStatus) -> ActionPlan:
    """A manual scale would be undone by the HPA; raise its floor instead."""
    new_min = command.replicas
    new_max = max(hpa.max_replicas, command.replicas)
    return ActionPlan(
        kind=ActionKind.SCALE,
        params={
            "namespace": playbook.namespace,
            "deployment": command.deployment,
            "replicas": command.replicas,
            "hpa": hpa.name,
            "min_replicas": new_min,
            "max_replicas": new_max,
            "min_before": hpa.min_replicas,
            "max_before": hpa.max_replicas,
        },
        summary=(
            f"Raise HPA `{hpa.name}` minReplicas {hpa.min_replicas} → {new_min}"
            + (
                f", maxReplicas {hpa.max_replicas} → {new_max}"
                if new_max != hpa.max_replicas
                else ""
            )
            + f" so `{command.deployment}` runs at least {command.replicas} replicas"
        ),
        details=(
            f"HPA `{hpa.name}` manages `{command.deployment}` (min {hpa.min_replicas}, "
            f"max {hpa.max_replicas}, now {hpa.current}): it would undo a manual scale, so "
            "the bot raises the HPA's bounds instead.",
        ),
    )


def plan_restart(playbook: Playbook, command: commands.Restart) -> ActionPlan:
    _known_deployment(playbook, command.deployment)
    return ActionPlan(
        kind=ActionKind.RESTART,
        params={"namespace": playbook.namespace, "deployments": [command.deployment]},
        summary=(f"Rolling restart of `{command.deployment}` (namespace `{playbook.namespace}`)"),
        details=("Pods are replaced a few at a time, as `kubectl rollout restart` does.",),
    )


def plan_tune(playbook: Playbook, command: commands.Tune, current: Mapping[str, str]) -> ActionPlan:
    """New worker settings for the playbook's ConfigMap, each key allowed and in bounds."""
    config = playbook.worker_config
    _known_deployment(playbook, command.deployment)
    if command.deployment not in config.restart_deployments:
        raise ActionRefused(
            f"`{command.deployment}` does not read `{config.configmap}` according to the "
            "playbook; nothing to tune for it."
        )
    changes: dict[str, str] = {}
    lines = []
    for key, value in command.settings:
        bounds = config.keys.get(key)
        if bounds is None:
            allowed = codes(list(config.keys))
            raise ActionRefused(
                f"{code(key)} is not a tunable worker setting (allowed: {allowed})."
            )
        if not re.fullmatch(r"\d{1,9}", value):
            raise ActionRefused(f"{code(key)} must be a whole number, got {code(value)}.")
        number = int(value)
        if not bounds.min <= number <= bounds.max:
            raise ActionRefused(
                f"`{key}={number}` is outside the playbook's bounds ({bounds.min} to {bounds.max})."
            )
        changes[key] = str(number)
        lines.append(f"`{key}`: {current.get(key) or '(unset)'} → {number}")
    if all(current.get(key) == value for key, value in changes.items()):
        raise ActionRefused("Those settings are already in place; nothing to do.")
    restarts = list(config.restart_deployments)
    return ActionPlan(
        kind=ActionKind.TUNE,
        params={
            "namespace": playbook.namespace,
            "configmap": config.configmap,
            "changes": changes,
            "before": {key: current.get(key, "") for key in changes},
            "deployments": restarts,
        },
        summary=(
            f"Set {', '.join(f'{k}={v}' for k, v in changes.items())} in ConfigMap "
            f"`{config.configmap}`, then restart {', '.join(f'`{d}`' for d in restarts)}"
        ),
        details=tuple(lines),
    )


def plan_drain(playbook: Playbook, suffix: str) -> ActionPlan:
    """The runbook's emergency-processor Job, from the playbook's template."""
    drain = playbook.emergency_drain
    name = f"{drain.job_name}-{suffix}"[:63].rstrip("-")
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": playbook.namespace,
            "labels": {"app.kubernetes.io/managed-by": "backlog-bot", "backlog-bot/drain": "true"},
        },
        "spec": {
            "backoffLimit": drain.backoff_limit,
            "template": {
                "metadata": {"labels": {"backlog-bot/drain": "true"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "emergency-processor",
                            "image": drain.image,
                            "command": list(drain.command),
                            "env": [{"name": k, "value": v} for k, v in drain.env.items()],
                        }
                    ],
                },
            },
        },
    }
    env = ", ".join(f"{k}={v}" for k, v in drain.env.items())
    return ActionPlan(
        kind=ActionKind.DRAIN,
        params={"namespace": playbook.namespace, "job": name, "manifest": manifest},
        summary=f"Emergency queue drain: run Job `{name}` ({drain.image})",
        details=(
            f":warning: Processes queued emails with minimal analysis ({env}). Use with caution.",
            f"Command: `{' '.join(drain.command)}` · backoffLimit {drain.backoff_limit}",
        ),
    )
