"""What the bot reads back from Kubernetes, as plain values (no client models)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class RolloutPhase(StrEnum):
    COMPLETE = "complete"
    PROGRESSING = "progressing"
    STUCK = "stuck"  # Progressing=False, ProgressDeadlineExceeded
    PAUSED = "paused"  # spec.paused: the controller rolls nothing out


@dataclass(frozen=True)
class RolloutStatus:
    """A Deployment's rollout as ``kubectl rollout status`` judges it (counts are pods).

    ``total`` counts every non-terminated pod of the deployment, old template
    included; ``observed`` is False until the controller has seen the latest spec.
    """

    deployment: str
    phase: RolloutPhase
    desired: int
    updated: int
    ready: int
    available: int
    message: str = ""
    total: int = 0
    observed: bool = True

    @property
    def scaled(self) -> bool:
        """A scale has settled: the controller saw it, ``desired`` pods are available
        and no pod beyond them is left (a scale-down's pods are gone)."""
        return self.observed and self.available >= self.desired and self.total <= self.desired

    def describe_scale(self) -> str:
        """The scale's progress in words (for ``kubectl scale`` followed to Ready)."""
        counts = f"{self.ready}/{self.desired} ready"
        if self.phase is RolloutPhase.STUCK:
            return (
                f"`{self.deployment}` is stuck scaling to {self.desired}: progress deadline "
                f"exceeded ({counts}): {self.message}"
            )
        if self.scaled:
            return f"`{self.deployment}` runs {self.desired} replicas, all ready ({counts})"
        if not self.observed:
            return f"`{self.deployment}` scaling to {self.desired}: {self.message}"
        extra = self.total - self.desired
        leaving = f", {extra} old pod(s) still stopping" if extra > 0 else ""
        return f"`{self.deployment}` scaling to {self.desired}: {counts}{leaving}"

    def describe(self) -> str:
        counts = f"{self.updated}/{self.desired} updated, {self.ready} ready"
        if self.phase is RolloutPhase.STUCK:
            return (
                f"`{self.deployment}` rollout is stuck: progress deadline exceeded ({counts}): "
                f"{self.message}"
            )
        if self.phase is RolloutPhase.COMPLETE:
            return f"`{self.deployment}` rollout complete ({counts})"
        if self.phase is RolloutPhase.PAUSED:
            return f"`{self.deployment}` is paused: nothing rolls out until it is resumed"
        if self.message:
            return f"`{self.deployment}` rolling out: {self.message}"
        return f"`{self.deployment}` rolling out: {counts}"


@dataclass(frozen=True)
class HpaStatus:
    name: str
    target: str
    min_replicas: int
    max_replicas: int
    current: int
    desired: int

    @property
    def pinned_at_max(self) -> bool:
        """It wants at least its maximum: more load than it is allowed to absorb."""
        return self.desired >= self.max_replicas


class JobPhase(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobStatus:
    name: str
    phase: JobPhase
    active: int
    succeeded: int
    failed: int
    message: str = ""


@dataclass(frozen=True)
class Resources:
    """CPU in millicores and memory in bytes; None where not set."""

    cpu_m: int | None = None
    memory: int | None = None


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    ready: bool
    restarts: int
    waiting_reason: str | None = None
    waiting_message: str | None = None
    last_terminated_reason: str | None = None
    requests: Resources = field(default_factory=Resources)
    limits: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    node: str | None
    labels: Mapping[str, str]
    containers: tuple[ContainerInfo, ...]
    unschedulable: str | None = None  # the scheduler's message when Pending

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and all(c.ready for c in self.containers)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    def trouble(self) -> str | None:
        """Why the pod is not Ready, as ``kubectl describe pod`` would show it; None
        when it is. The scheduler's message for an unschedulable pod, else the first
        waiting container's reason (with its message, except CrashLoopBackOff's, which
        only repeats the pod's name), restarts and last exit."""
        if self.ready:
            return None
        if self.unschedulable:
            return f"Pending, not scheduled: {self.unschedulable}"
        for c in self.containers:
            if c.waiting_reason and c.waiting_reason not in _STARTING:
                details = [f"{c.restarts} restarts"] if c.restarts else []
                if c.last_terminated_reason:
                    details.append(f"last exit: {c.last_terminated_reason}")
                text = c.waiting_reason + (f" ({', '.join(details)})" if details else "")
                if c.waiting_message and c.waiting_reason != "CrashLoopBackOff":
                    text += f": {c.waiting_message}"
                return text
        waiting = next((c.waiting_reason for c in self.containers if c.waiting_reason), None)
        return f"{self.phase}, not ready" + (f" ({waiting})" if waiting else "")


# Waiting reasons of a container that is on its way up, not in trouble.
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


def describe_unready(pods: Sequence[PodInfo], names_per_reason: int = 3) -> str:
    """The pods that are not Ready, grouped by why (``pod-a, pod-b: why``; groups
    joined by "; "), for a channel message; "" when all are Ready."""
    by_trouble: dict[str, list[str]] = {}
    for pod in pods:
        trouble = pod.trouble()
        if trouble is not None:
            by_trouble.setdefault(trouble, []).append(pod.name)
    groups = []
    for trouble, names in by_trouble.items():
        shown = ", ".join(f"`{name}`" for name in names[:names_per_reason])
        more = len(names) - names_per_reason
        groups.append(f"{shown}{f' and {more} more' if more > 0 else ''}: {trouble}")
    return "; ".join(groups)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    allocatable: Resources
    ready: bool = True
