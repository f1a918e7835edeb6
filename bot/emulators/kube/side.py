"""State of the emulated cluster that is not an API object: logs, metrics, and
what tests asked of the controllers (stalled rollouts, held pods, jobs, HPAs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.emulators.kube.pod_state import PodState


@dataclass(frozen=True)
class Hold:
    """New pods of a deployment come up in ``state`` and never become Ready;
    ``deadline_exceeded`` makes the deployment report ProgressDeadlineExceeded
    while they are there, as it does once ``progressDeadlineSeconds`` has passed."""

    state: PodState
    deadline_exceeded: bool = False


@dataclass
class SideState:
    logs: dict[tuple[str, str, str | None, bool], str] = field(default_factory=dict)
    deployment_logs: dict[tuple[str, str], str] = field(default_factory=dict)
    pinned_pods: set[tuple[str, str]] = field(default_factory=set)
    metrics_enabled: bool = True
    pod_metrics: dict[tuple[str, str], dict[str, dict[str, str]]] = field(default_factory=dict)
    deployment_metrics: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    node_metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    default_pod_usage: dict[str, str] | None = None
    stall_pending: dict[tuple[str, str], str] = field(default_factory=dict)
    stalled: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    held: dict[tuple[str, str], Hold] = field(default_factory=dict)
    hpa_wanted: dict[tuple[str, str], int] = field(default_factory=dict)
    job_started: dict[str, float] = field(default_factory=dict)
    fail_jobs: bool = False
    job_duration: float | None = None
    enforce_hpa: bool = False
