"""Client models (and metrics JSON) → the domain's plain values.

The generated models type every field Optional; we read them as ``Any`` here
and nowhere else.
"""

from __future__ import annotations

from typing import Any

from bot.domain.workloads import (
    ContainerInfo,
    HpaStatus,
    JobPhase,
    JobStatus,
    NodeInfo,
    PodInfo,
    Resources,
    RolloutPhase,
    RolloutStatus,
    parse_cpu,
    parse_memory,
)


def rollout_status(dep: Any) -> RolloutStatus:
    spec, status, meta = dep.spec, dep.status, dep.metadata
    desired = int(spec.replicas if spec.replicas is not None else 1)
    updated = int(status.updated_replicas or 0)
    ready = int(status.ready_replicas or 0)
    available = int(status.available_replicas or 0)
    total = int(status.replicas or 0)
    conditions = {c.type: c for c in (status.conditions or [])}
    progressing = conditions.get("Progressing")
    name = str(meta.name)
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return RolloutStatus(
            name, RolloutPhase.STUCK, desired, updated, ready, available, progressing.message or ""
        )
    observed = (status.observed_generation or 0) >= (meta.generation or 0)
    if not observed:
        # The counts still describe the previous template (kubectl: "Waiting for
        # deployment spec update to be observed").
        return RolloutStatus(
            name,
            RolloutPhase.PROGRESSING,
            desired,
            updated,
            ready,
            available,
            "waiting for the controller to observe the change",
        )
    done = updated >= desired and total <= updated and available >= desired
    phase = RolloutPhase.COMPLETE if done else RolloutPhase.PROGRESSING
    return RolloutStatus(name, phase, desired, updated, ready, available)


def hpa(item: Any) -> HpaStatus:
    spec, status = item.spec, item.status
    return HpaStatus(
        name=str(item.metadata.name),
        target=str(spec.scale_target_ref.name),
        min_replicas=int(spec.min_replicas or 1),
        max_replicas=int(spec.max_replicas),
        current=int(status.current_replicas or 0) if status else 0,
        desired=int(status.desired_replicas or 0) if status else 0,
    )


def job_status(job: Any) -> JobStatus:
    status = job.status
    conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"}
    active, succeeded, failed = (
        int(status.active or 0),
        int(status.succeeded or 0),
        int(status.failed or 0),
    )
    if "Complete" in conditions:
        phase, message = JobPhase.SUCCEEDED, ""
    elif "Failed" in conditions:
        phase = JobPhase.FAILED
        message = conditions["Failed"].message or conditions["Failed"].reason or ""
    else:
        phase, message = JobPhase.RUNNING, ""
    return JobStatus(str(job.metadata.name), phase, active, succeeded, failed, message)


def _resources(values: Any) -> Resources:
    values = values or {}
    return Resources(cpu_m=parse_cpu(values.get("cpu")), memory=parse_memory(values.get("memory")))


def pod(item: Any) -> PodInfo:
    spec, status = item.spec, item.status
    declared = {c.name: c for c in (spec.containers or [])}
    containers = []
    for cs in status.container_statuses or []:
        waiting = cs.state.waiting if cs.state else None
        last = cs.last_state.terminated if cs.last_state else None
        resources = declared[cs.name].resources if cs.name in declared else None
        containers.append(
            ContainerInfo(
                name=cs.name,
                ready=bool(cs.ready),
                restarts=int(cs.restart_count or 0),
                waiting_reason=waiting.reason if waiting else None,
                waiting_message=waiting.message if waiting else None,
                last_terminated_reason=last.reason if last else None,
                requests=_resources(resources.requests if resources else None),
                limits=_resources(resources.limits if resources else None),
            )
        )
    if not containers:  # Pending pods have no statuses yet; keep their declared resources
        for c in spec.containers or []:
            containers.append(
                ContainerInfo(
                    name=c.name,
                    ready=False,
                    restarts=0,
                    requests=_resources(c.resources.requests if c.resources else None),
                    limits=_resources(c.resources.limits if c.resources else None),
                )
            )
    unschedulable = None
    for condition in status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            unschedulable = condition.message or condition.reason
    return PodInfo(
        name=str(item.metadata.name),
        phase=str(status.phase or "Unknown"),
        node=spec.node_name,
        labels=dict(item.metadata.labels or {}),
        containers=tuple(containers),
        unschedulable=unschedulable,
    )


def node(item: Any) -> NodeInfo:
    ready = any(c.type == "Ready" and c.status == "True" for c in (item.status.conditions or []))
    return NodeInfo(
        name=str(item.metadata.name),
        allocatable=_resources(item.status.allocatable),
        ready=ready or not item.status.conditions,
    )


def node_usage(found: Any) -> dict[str, Resources]:
    usage: dict[str, Resources] = {}
    for item in found.get("items", []):
        values = item.get("usage", {})
        usage[item["metadata"]["name"]] = Resources(
            cpu_m=parse_cpu(values.get("cpu")), memory=parse_memory(values.get("memory"))
        )
    return usage


def pod_usage(found: Any) -> dict[str, Resources]:
    usage: dict[str, Resources] = {}
    for item in found.get("items", []):
        cpu = memory = 0
        for container in item.get("containers", []):
            values = container.get("usage", {})
            cpu += parse_cpu(values.get("cpu")) or 0
            memory += parse_memory(values.get("memory")) or 0
        usage[item["metadata"]["name"]] = Resources(cpu_m=cpu, memory=memory)
    return usage
