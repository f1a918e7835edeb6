"""Turning a requested remediation into a bounded plan, or refusing it.

Every value that reaches Kubernetes or Redis passes through here first and is
checked against the playbook: only its deployments, only within its bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain import commands
from bot.domain.playbook import ActionKind, Playbook


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
