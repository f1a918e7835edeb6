"""Pod logs and metrics.k8s.io answers, computed from the cluster's state."""

from __future__ import annotations

from typing import Any

from bot.emulators.kube import errors
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.resources import DEPLOYMENTS, NODES, PODS, REPLICASETS
from bot.emulators.kube.selectors import (
    FieldRequirement,
    Requirement,
    matches_fields,
    matches_labels,
    requirements_from_label_selector,
)

JSON = dict[str, Any]


def owning_deployment(cluster: Cluster, pod: JSON) -> str | None:
    namespace = pod["metadata"].get("namespace")
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") != "ReplicaSet":
            continue
        rs = cluster.raw(REPLICASETS, namespace, str(ref.get("name")))
        for rs_ref in (rs or {}).get("metadata", {}).get("ownerReferences") or []:
            if rs_ref.get("kind") == "Deployment":
                return str(rs_ref.get("name"))
    for deployment in cluster.items(DEPLOYMENTS, namespace):
        selector = requirements_from_label_selector((deployment.get("spec") or {}).get("selector"))
        if selector and matches_labels(selector, pod["metadata"].get("labels")):
            return str(deployment["metadata"]["name"])
    return None


def pod_log(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    container: str | None,
    previous: bool,
    tail_lines: int | None,
    limit_bytes: int | None,
) -> str:
    with cluster.lock:
        pod = cluster.raw(PODS, namespace, name)
        if pod is None:
            raise errors.not_found("", "pods", name)
        names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        if container is None:
            if len(names) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(names)}]"
                )
            container = names[0]
        elif container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        side = cluster.side
        text = side.logs.get((namespace, name, container, previous))
        if text is None:
            text = side.logs.get((namespace, name, None, previous))
        if text is None:
            _check_log_available(pod, name, container, previous)
            text = ""
            deployment = owning_deployment(cluster, pod)
            if not previous and deployment is not None:
                text = side.deployment_logs.get((namespace, deployment), "")
    if tail_lines is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


def _check_log_available(pod: JSON, name: str, container: str, previous: bool) -> None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status = next((s for s in statuses if s.get("name") == container), None)
    if previous:
        if status is None or not status.get("lastState", {}).get("terminated"):
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        return
    waiting = ((status or {}).get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    if status is None or reason in ("ContainerCreating", "PodInitializing"):
        raise errors.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: '
            f"{reason or 'ContainerCreating'}"
        )
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        raise errors.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: trying and failing '
            "to pull image"
        )


def _pod_usage(cluster: Cluster, pod: JSON) -> dict[str, dict[str, str]] | None:
    meta = pod["metadata"]
    key = (meta["namespace"], meta["name"])
    side = cluster.side
    containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    if key in side.pod_metrics:
        return side.pod_metrics[key]
    deployment = owning_deployment(cluster, pod)
    usage = side.deployment_metrics.get((meta["namespace"], deployment or ""))
    if usage is None:
        usage = side.default_pod_usage
    if usage is None or not containers:
        return None
    return {containers[0]: dict(usage), **{c: {"cpu": "0", "memory": "0"} for c in containers[1:]}}


def pod_metrics(
    cluster: Cluster,
    namespace: str | None,
    labels: list[Requirement],
    fields: list[FieldRequirement],
    name: str | None = None,
) -> list[JSON]:
    items: list[JSON] = []
    now = cluster.now()
    with cluster.lock:
        for pod in cluster.items(PODS, namespace):
            meta = pod["metadata"]
            if name is not None and meta["name"] != name:
                continue
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            if not matches_labels(labels, meta.get("labels")) or not matches_fields(fields, pod):
                continue
            usage = _pod_usage(cluster, pod)
            if usage is None:
                continue
            items.append(
                {
                    "metadata": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "creationTimestamp": now,
                        "labels": dict(meta.get("labels") or {}),
                    },
                    "timestamp": now,
                    "window": "30s",
                    "containers": [{"name": c, "usage": dict(u)} for c, u in usage.items()],
                }
            )
    if name is not None and not items:
        raise errors.not_found("metrics.k8s.io", "pods", name)
    return items


def node_metrics(
    cluster: Cluster, labels: list[Requirement], name: str | None = None
) -> list[JSON]:
    items: list[JSON] = []
    now = cluster.now()
    with cluster.lock:
        for node in cluster.items(NODES):
            meta = node["metadata"]
            usage = cluster.side.node_metrics.get(meta["name"])
            if usage is None or (name is not None and meta["name"] != name):
                continue
            if not matches_labels(labels, meta.get("labels")):
                continue
            items.append(
                {
                    "metadata": {
                        "name": meta["name"],
                        "creationTimestamp": now,
                        "labels": dict(meta.get("labels") or {}),
                    },
                    "timestamp": now,
                    "window": "20s",
                    "usage": dict(usage),
                }
            )
    if name is not None and not items:
        raise errors.not_found("metrics.k8s.io", "nodes", name)
    return items
