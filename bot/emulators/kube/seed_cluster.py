"""Seeding the rest of a cluster: ConfigMaps, HorizontalPodAutoscalers (and what
their metrics ask for), nodes, events, and the usage metrics.k8s.io reports."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.emulators.kube import builders, resources
from bot.emulators.kube.accessors import Accessors
from bot.emulators.kube.resources import CONFIGMAPS, HPAS, NODES, PODS

JSON = dict[str, Any]


class ClusterSeeding(Accessors):
    def add_configmap(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> JSON:
        stored = self._insert(CONFIGMAPS, builders.configmap(namespace, name, data, labels))
        return copy.deepcopy(stored)

    def add_hpa(
        self,
        namespace: str,
        name: str,
        target_deployment: str,
        min_replicas: int = 1,
        max_replicas: int = 10,
        current: int | None = None,
        desired: int | None = None,
        *,
        cpu_utilization: int = 70,
    ) -> JSON:
        """An autoscaling/v2 HPA on a deployment. ``desired`` is what its metrics ask for
        (clamped to min/max in status); ``currentReplicas`` follows the deployment."""
        target = self.get_object("deployments", namespace, target_deployment)
        replicas = int((target or {}).get("spec", {}).get("replicas", min_replicas))
        current = replicas if current is None else current
        desired = current if desired is None else desired
        obj = builders.hpa(
            namespace,
            name,
            target_deployment=target_deployment,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            current=current,
            desired=desired,
            cpu_utilization=cpu_utilization,
            now=self.cluster.now(),
        )
        with self.cluster.lock:
            self.cluster.side.hpa_wanted[(namespace, name)] = desired
            self._insert(HPAS, obj)
        self._after_seed()
        return self.get_object("horizontalpodautoscalers", namespace, name) or obj

    def set_hpa_desired(self, namespace: str, name: str, desired: int) -> None:
        """What the HPA's metrics ask for now."""
        with self.cluster.lock:
            self.cluster.get(HPAS, namespace, name)
            self.cluster.side.hpa_wanted[(namespace, name)] = desired
        self._after_seed()

    def add_node(
        self,
        name: str,
        allocatable: Mapping[str, str] | None = None,
        capacity: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        ready: bool = True,
        unschedulable: bool = False,
    ) -> JSON:
        allocatable = dict(allocatable or {"cpu": "3920m", "memory": "15Gi", "pods": "110"})
        capacity = dict(
            capacity
            or {
                "cpu": "4",
                "memory": "16Gi",
                "pods": "110",
                **{k: v for k, v in allocatable.items() if k not in ("cpu", "memory")},
            }
        )
        obj = builders.node(
            name,
            allocatable=allocatable,
            capacity=capacity,
            labels=labels,
            ready=ready,
            unschedulable=unschedulable,
            internal_ip=self.cluster.next_ip("10.0.0."),
            now=self.cluster.now(),
        )
        return copy.deepcopy(self._insert(NODES, obj))

    def add_event(
        self,
        namespace: str,
        *,
        involved_kind: str,
        involved_name: str,
        reason: str,
        message: str,
        type: str = "Warning",
        count: int = 1,
        component: str = "kubelet",
    ) -> JSON:
        """An event about an object (which need not exist)."""
        self.cluster.ensure_namespace(namespace)
        rtype = next(
            (r for r in resources.RESOURCES if r.kind == involved_kind and not r.metrics), None
        )
        involved: JSON | None = None
        if rtype is not None:
            with self.cluster.lock:
                involved = self.cluster.raw(rtype, namespace, involved_name)
        if involved is None:
            involved = {
                "kind": involved_kind,
                "apiVersion": rtype.api_version if rtype else "v1",
                "metadata": {"name": involved_name, "namespace": namespace},
            }
        with self.cluster.lock:
            obj = builders.event(
                namespace,
                involved=involved,
                reason=reason,
                message=message,
                event_type=type,
                component=component,
                count=count,
                now=self.cluster.now(),
                suffix=builders.stable_hex(
                    str(self.cluster.resource_version), self.cluster.random_suffix(), length=16
                ),
            )
            return copy.deepcopy(self.cluster.insert(resources.EVENTS, obj))

    @property
    def metrics_enabled(self) -> bool:
        """False: metrics.k8s.io is absent, as on a cluster without metrics-server."""
        return self.cluster.side.metrics_enabled

    @metrics_enabled.setter
    def metrics_enabled(self, value: bool) -> None:
        self.cluster.side.metrics_enabled = value

    def set_metrics(
        self,
        pods: Mapping[str, Mapping[str, Any]] | None = None,
        nodes: Mapping[str, Mapping[str, str]] | None = None,
        *,
        deployments: Mapping[str, Mapping[str, str]] | None = None,
        default_pod_usage: Mapping[str, str] | None = None,
    ) -> None:
        """Usage reported by metrics.k8s.io. ``pods``: ``{"ns/pod": {"cpu": "250m",
        "memory": "300Mi"}}`` (first container) or ``{"ns/pod": {"worker": {...}}}``;
        ``deployments``: ``{"ns/deploy": usage}`` for each of its pods; ``nodes``:
        ``{"node-1": usage}``. Only Running pods and existing nodes are reported."""
        side = self.cluster.side
        with self.cluster.lock:
            for key, usage in (pods or {}).items():
                namespace, _, pod = key.rpartition("/")
                namespace = namespace or "default"
                if all(isinstance(value, Mapping) for value in usage.values()):
                    side.pod_metrics[(namespace, pod)] = {
                        str(c): {str(k): str(v) for k, v in u.items()} for c, u in usage.items()
                    }
                else:
                    existing = self.cluster.raw(PODS, namespace, pod)
                    containers = ((existing or {}).get("spec") or {}).get("containers") or []
                    first = str(containers[0]["name"]) if containers else "worker"
                    side.pod_metrics[(namespace, pod)] = {
                        first: {str(k): str(v) for k, v in usage.items()}
                    }
            for key, usage in (deployments or {}).items():
                namespace, _, deployment = key.rpartition("/")
                side.deployment_metrics[(namespace or "default", deployment)] = dict(usage)
            for name, usage in (nodes or {}).items():
                side.node_metrics[name] = dict(usage)
            if default_pod_usage is not None:
                side.default_pod_usage = dict(default_pod_usage)
