"""Client models (and metrics JSON) → the domain's plain values.

The generated models type every field Optional; we read them as ``Any`` here
and nowhere else. Resource quantities are read with the client's own
``kubernetes.utils.parse_quantity`` (every suffix the API accepts: ``m``,
``k``, ``Ki`` ... ``E``, ``Ei``, exponents) and given explicit units here.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

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
)


def _quantity(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(parse_quantity(value))


def millicores(value: Any) -> int | None:
    """A CPU quantity ("250m", "2", "2k", "1500000n") → millicores, rounded up as the
    API's ``Quantity.MilliValue()`` does; None when unset. ValueError if malformed."""
    amount = _quantity(value)
    return None if amount is None else math.ceil(amount * 1000)


def byte_count(value: Any) -> int | None:
    """A memory quantity ("512Mi", "1G", "1Pi", "100m") → bytes, rounded up as the
    API's ``Quantity.Value()`` does (so "100m", a tenth of a byte, is 1); None when
    unset. ValueError if malformed."""
    amount = _quantity(value)
    return None if amount is None else math.ceil(amount)


def rollout_status(dep: Any) -> RolloutStatus:
    """Judged as ``kubectl rollout status`` does (its ``DeploymentStatusViewer``):
    stuck on ProgressDeadlineExceeded, waiting until the spec is observed, complete
    when every replica is updated and available and no old pod is left; a paused
    deployment is said to be paused rather than waited for."""
    spec, status, meta = dep.spec, dep.status, dep.metadata
    base = RolloutStatus(
        deployment=str(meta.name),
        phase=RolloutPhase.PROGRESSING,
        desired=int(spec.replicas if spec.replicas is not None else 1),
        updated=int(status.updated_replicas or 0),
        ready=int(status.ready_replicas or 0),
        available=int(status.available_replicas or 0),
        total=int(status.replicas or 0),
    )
    conditions = {c.type: c for c in (status.conditions or [])}
    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return replace(base, phase=RolloutPhase.STUCK, message=progressing.message or "")
    if (status.observed_generation or 0) < (meta.generation or 0):
        # The counts still describe the previous spec (kubectl: "Waiting for
        # deployment spec update to be observed").
        return replace(
            base, message="waiting for the controller to observe the change", observed=False
        )
    desired = base.desired
    if base.updated >= desired and base.total <= base.updated and base.available >= desired:
        return replace(base, phase=RolloutPhase.COMPLETE)
    if spec.paused:
        return replace(base, phase=RolloutPhase.PAUSED, message="paused")
    return base


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
    return Resources(cpu_m=millicores(values.get("cpu")), memory=byte_count(values.get("memory")))


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
            cpu_m=millicores(values.get("cpu")), memory=byte_count(values.get("memory"))
        )
    return usage


def pod_usage(found: Any) -> dict[str, Resources]:
    usage: dict[str, Resources] = {}
    for item in found.get("items", []):
        cpu = memory = 0
        for container in item.get("containers", []):
            values = container.get("usage", {})
            cpu += millicores(values.get("cpu")) or 0
            memory += byte_count(values.get("memory")) or 0
        usage[item["metadata"]["name"]] = Resources(cpu_m=cpu, memory=memory)
    return usage
