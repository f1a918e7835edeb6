"""Constructors for the objects the emulator seeds and its controller makes."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_IMAGE = "registry.example.com/phishnet/worker:1.0.0"
DEFAULT_RESOURCES: JSON = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}
PENDING_WAIT_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "ContainerCreating",
        "CreateContainerConfigError",
        "InvalidImageName",
        "PodInitializing",
    }
)
EXIT_CODES = {"OOMKilled": 137, "Error": 1, "Completed": 0, "ContainerCannotRun": 128}


def safe_encode(data: bytes, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(data).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable ``pod-template-hash`` for a pod template (10 safe characters)."""
    return safe_encode(json.dumps(template, sort_keys=True).encode(), 10)


def stable_hex(*parts: str, length: int = 64) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def container(
    name: str,
    image: str,
    *,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    command: list[str] | None = None,
) -> JSON:
    spec: JSON = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always" if image.endswith(":latest") else "IfNotPresent",
        "resources": copy.deepcopy(dict(resources)) if resources is not None else {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if env:
        spec["env"] = [{"name": key, "value": str(value)} for key, value in env.items()]
    if command:
        spec["command"] = list(command)
    return spec


def deployment(
    namespace: str,
    name: str,
    *,
    replicas: int,
    labels: Mapping[str, str] | None,
    pod_labels: Mapping[str, str] | None,
    image: str,
    resources: Mapping[str, Any] | None,
    annotations: Mapping[str, str] | None,
    template_annotations: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    container_name: str = "worker",
    containers: list[JSON] | None = None,
) -> JSON:
    selector_labels = dict(pod_labels or {"app": name})
    template_meta: JSON = {"labels": selector_labels}
    if template_annotations:
        template_meta["annotations"] = dict(template_annotations)
    spec_containers = (
        copy.deepcopy(containers)
        if containers
        else [container(container_name, image, resources=resources, env=env)]
    )
    metadata: JSON = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector_labels)},
            "template": {
                "metadata": template_meta,
                "spec": {"containers": spec_containers},
            },
        },
    }


@dataclass(frozen=True)
class PodState:
    """How a pod looks: phase, readiness and the first container's trouble."""

    phase: str | None = None
    ready: bool | None = None
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    exit_code: int | None = None
    pending_reason: str | None = None
    pending_message: str | None = None
    container: str | None = None

    def resolved_phase(self) -> str:
        if self.phase:
            return self.phase
        if self.pending_reason or self.waiting_reason in PENDING_WAIT_REASONS:
            return "Pending"
        return "Running"

    def resolved_ready(self) -> bool:
        if self.ready is not None:
            return self.ready
        return (
            self.resolved_phase() == "Running"
            and self.waiting_reason is None
            and self.pending_reason is None
        )


def _waiting_message(reason: str, pod: JSON, container_name: str, image: str) -> str:
    meta = pod["metadata"]
    if reason == "CrashLoopBackOff":
        return (
            f"back-off 5m0s restarting failed container={container_name} "
            f"pod={meta['name']}_{meta['namespace']}({meta.get('uid', '')})"
        )
    if reason == "ImagePullBackOff":
        return f'Back-off pulling image "{image}"'
    if reason == "ErrImagePull":
        return f'failed to pull and unpack image "{image}": not found'
    return ""


def _qos_class(containers: list[JSON]) -> str:
    requests_any = False
    guaranteed = True
    for spec in containers:
        resources = spec.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            requests_any = True
        for resource in ("cpu", "memory"):
            if (
                resource not in limits
                or requests.get(resource, limits[resource]) != limits[resource]
            ):
                guaranteed = False
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(kind: str, status: bool, now: str, reason: str = "", message: str = "") -> JSON:
    condition: JSON = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def apply_pod_state(pod: JSON, state: PodState, *, now: str, host_ip: str, pod_ip: str) -> None:
    """Write ``status`` (and ``spec.nodeName`` when unscheduled) for a pod."""
    spec = pod.setdefault("spec", {})
    containers: list[JSON] = spec.get("containers") or []
    phase = state.resolved_phase()
    ready = state.resolved_ready()
    qos = _qos_class(containers)
    if state.pending_reason:
        spec.pop("nodeName", None)
        message = state.pending_message or ""
        pod["status"] = {
            "phase": "Pending",
            "conditions": [_condition("PodScheduled", False, now, state.pending_reason, message)],
            "qosClass": qos,
        }
        return
    target = state.container or (containers[0]["name"] if containers else None)
    statuses = [
        _container_status(
            pod, spec_c, state if spec_c["name"] == target else PodState(), phase=phase, now=now
        )
        for spec_c in containers
    ]
    all_ready = ready and all(s["ready"] for s in statuses)
    terminal = phase in ("Succeeded", "Failed")
    unready = [s["name"] for s in statuses if not s["ready"]]
    not_ready_message = f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _condition("PodReadyToStartContainers", phase != "Pending" or bool(statuses), now),
        _condition("Initialized", True, now),
        _condition(
            "Ready",
            all_ready,
            now,
            "" if all_ready else ("PodCompleted" if terminal else "ContainersNotReady"),
            "" if all_ready or terminal else not_ready_message,
        ),
        _condition(
            "ContainersReady",
            all_ready,
            now,
            "" if all_ready else ("PodCompleted" if terminal else "ContainersNotReady"),
            "" if all_ready or terminal else not_ready_message,
        ),
        _condition("PodScheduled", True, now),
    ]
    pod["status"] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": pod["metadata"].get("creationTimestamp", now),
        "containerStatuses": statuses,
        "qosClass": qos,
    }


def _container_status(pod: JSON, spec_c: JSON, state: PodState, *, phase: str, now: str) -> JSON:
    name = str(spec_c["name"])
    image = str(spec_c.get("image", ""))
    uid = str(pod["metadata"].get("uid", ""))
    terminal = phase in ("Succeeded", "Failed")
    ready = state.resolved_ready() and not terminal
    status: JSON = {
        "name": name,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{stable_hex(image)}",
        "ready": ready,
        "restartCount": state.restart_count,
        "started": state.waiting_reason is None and phase == "Running",
    }
    if state.waiting_reason and not terminal:
        message = state.waiting_message or _waiting_message(state.waiting_reason, pod, name, image)
        waiting: JSON = {"reason": state.waiting_reason}
        if message:
            waiting["message"] = message
        status["state"] = {"waiting": waiting}
    elif terminal:
        reason = state.terminated_reason or ("Completed" if phase == "Succeeded" else "Error")
        status["state"] = {"terminated": _terminated(reason, state.exit_code, now, uid, name)}
    else:
        status["state"] = {"running": {"startedAt": now}}
    if state.waiting_reason not in PENDING_WAIT_REASONS:
        status["containerID"] = f"containerd://{stable_hex(uid, name)}"
    if state.terminated_reason and not terminal:
        status["lastState"] = {
            "terminated": _terminated(state.terminated_reason, state.exit_code, now, uid, name)
        }
    elif state.restart_count and not terminal:
        status["lastState"] = {"terminated": _terminated("Error", state.exit_code, now, uid, name)}
    else:
        status["lastState"] = {}
    return status


def _terminated(reason: str, exit_code: int | None, now: str, uid: str, name: str) -> JSON:
    return {
        "exitCode": exit_code if exit_code is not None else EXIT_CODES.get(reason, 1),
        "reason": reason,
        "startedAt": now,
        "finishedAt": now,
        "containerID": f"containerd://{stable_hex(uid, name, 'previous')}",
    }


def configmap(
    namespace: str,
    name: str,
    data: Mapping[str, str] | None,
    labels: Mapping[str, str] | None,
) -> JSON:
    metadata: JSON = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data or {})}


def hpa(
    namespace: str,
    name: str,
    *,
    target_deployment: str,
    min_replicas: int,
    max_replicas: int,
    current: int,
    desired: int,
    cpu_utilization: int,
    now: str,
) -> JSON:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": target_deployment,
            },
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_utilization},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": cpu_utilization, "averageValue": "0"},
                    },
                }
            ],
            "conditions": [
                {
                    "type": "AbleToScale",
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": "ReadyForNewScale",
                    "message": "recommended size matches current size",
                },
                {
                    "type": "ScalingActive",
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": "ValidMetricFound",
                    "message": "the HPA was able to successfully calculate a replica count from "
                    "cpu resource utilization (percentage of request)",
                },
            ],
        },
    }


def node(
    name: str,
    *,
    allocatable: Mapping[str, str],
    capacity: Mapping[str, str],
    labels: Mapping[str, str] | None,
    ready: bool,
    unschedulable: bool,
    internal_ip: str,
    now: str,
) -> JSON:
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **dict(labels or {}),
    }
    spec: JSON = {"podCIDR": "10.244.0.0/24"}
    if unschedulable:
        spec["unschedulable"] = True
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conditions = [
        {
            "type": kind,
            "status": "False",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }
        for kind, reason, message in pressure
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": "KubeletReady" if ready else "KubeletNotReady",
            "message": "kubelet is posting ready status" if ready else "PLEG is not healthy",
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels},
        "spec": spec,
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(allocatable),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def event(
    namespace: str,
    *,
    involved: JSON,
    reason: str,
    message: str,
    event_type: str,
    component: str,
    count: int,
    now: str,
    suffix: str,
) -> JSON:
    meta = involved.get("metadata") or {}
    involved_ref: JSON = {
        "kind": involved.get("kind", ""),
        "namespace": meta.get("namespace", namespace),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": involved.get("apiVersion", "v1"),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{involved_ref['name']}.{suffix}", "namespace": namespace},
        "involvedObject": involved_ref,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": count,
        "type": event_type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }
