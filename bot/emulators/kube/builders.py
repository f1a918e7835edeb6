"""Constructors for the objects the emulator seeds and its controller makes, and the
names and hashes the real controllers give them (a pod's status: :mod:`pod_state`)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_IMAGE = "registry.example.com/phishnet/worker:1.0.0"
DEFAULT_RESOURCES: JSON = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}


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
