"""What the bot reads back from Kubernetes, as plain values (no client models)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class RolloutPhase(StrEnum):
    COMPLETE = "complete"
    PROGRESSING = "progressing"
    STUCK = "stuck"


@dataclass(frozen=True)
class RolloutStatus:
    deployment: str
    phase: RolloutPhase
    desired: int
    updated: int
    ready: int
    available: int
    message: str = ""

    def describe(self) -> str:
        counts = f"{self.updated}/{self.desired} updated, {self.ready} ready"
        if self.phase is RolloutPhase.STUCK:
            return (
                f"`{self.deployment}` rollout is stuck: progress deadline exceeded ({counts}): "
                f"{self.message}"
            )
        if self.phase is RolloutPhase.COMPLETE:
            return f"`{self.deployment}` rollout complete ({counts})"
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


@dataclass(frozen=True)
class NodeInfo:
    name: str
    allocatable: Resources
    ready: bool = True


def parse_cpu(value: str | None) -> int | None:
    """Kubernetes CPU quantity → millicores ("250m", "1", "0.5", "1500000n")."""
    if not value:
        return None
    text = str(value)
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if text[-1] in units:
        return round(float(text[:-1]) * units[text[-1]])
    return round(float(text) * 1000)


_MEMORY_UNITS = {
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}


def parse_memory(value: str | None) -> int | None:
    """Kubernetes memory quantity → bytes ("512Mi", "1G", "1048576")."""
    if not value:
        return None
    text = str(value)
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return round(float(text[: -len(suffix)]) * _MEMORY_UNITS[suffix])
    return round(float(text))
