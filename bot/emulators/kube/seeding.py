"""Seeding helpers and accessors of ``KubeEmulator``: objects in the states tests
and the demo need, written straight into the store (no RBAC, not recorded)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.emulators.kube import builders, resources
from bot.emulators.kube.builders import DEFAULT_IMAGE
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.controller import HASH_LABEL, Controller, owned_by
from bot.emulators.kube.defaults import default_on_create
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.resources import (
    CONFIGMAPS,
    DEPLOYMENTS,
    HPAS,
    NODES,
    PODS,
    REPLICASETS,
)
from bot.emulators.kube.selectors import (
    matches_labels,
    parse_label_selector,
    requirements_from_label_selector,
)

JSON = dict[str, Any]
_UNSET: Any = object()
UNSCHEDULABLE_MESSAGE = "0/3 nodes are available: 3 Insufficient cpu."


class SeedingMixin:
    cluster: Cluster
    controller: Controller
    auto_reconcile: bool

    def _after_seed(self) -> None:
        if self.auto_reconcile:
            self.controller.reconcile()

    # --- seeding ---------------------------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        self.cluster.ensure_namespace(name)

    def _insert(self, rtype: resources.ResourceType, obj: JSON) -> JSON:
        namespace = obj["metadata"].get("namespace")
        if namespace:
            self.cluster.ensure_namespace(namespace)
        with self.cluster.lock:
            current = self.cluster.raw(rtype, namespace, obj["metadata"]["name"])
            if current is not None:
                self.cluster.remove(rtype, namespace, obj["metadata"]["name"])
            return self.cluster.insert(rtype, obj)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
        pod_labels: Mapping[str, str] | None = None,
        image: str = DEFAULT_IMAGE,
        resources: Mapping[str, Any] | None = _UNSET,
        annotations: Mapping[str, str] | None = None,
        template_annotations: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        container_name: str = "worker",
        containers: list[JSON] | None = None,
    ) -> JSON:
        """A Deployment (selector = ``pod_labels``, default ``{"app": name}``); with
        auto_reconcile its ReplicaSet and ``replicas`` Running, ready pods follow."""
        obj = builders.deployment(
            namespace,
            name,
            replicas=replicas,
            labels=labels,
            pod_labels=pod_labels,
            image=image,
            resources=builders.DEFAULT_RESOURCES if resources is _UNSET else resources,
            annotations=annotations,
            template_annotations=template_annotations,
            env=env,
            container_name=container_name,
            containers=containers,
        )
        default_on_create(DEPLOYMENTS, obj)
        stored = self._insert(DEPLOYMENTS, obj)
        self._after_seed()
        return self.get_object("deployments", namespace, name) or copy.deepcopy(stored)

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        phase: str | None = None,
        ready: bool | None = None,
        restart_count: int = 0,
        waiting_reason: str | None = None,
        waiting_message: str | None = None,
        terminated_reason: str | None = None,
        exit_code: int | None = None,
        pending_reason: str | None = None,
        pending_message: str | None = None,
        resources: Mapping[str, Any] | None = None,
        image: str = DEFAULT_IMAGE,
        container_name: str = "worker",
        node_name: str | None = None,
        deployment: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> JSON:
        """A pod in any state. ``waiting_reason``: CrashLoopBackOff, ImagePullBackOff, ...;
        ``terminated_reason`` (OOMKilled, Error) becomes the last state;
        ``pending_reason="Unschedulable"`` leaves it unscheduled (PodScheduled=False).
        With ``deployment`` the pod belongs to that deployment's current ReplicaSet (its
        template, labels and owner) and the controller keeps it, removing another pod if
        the count goes over ``replicas``. Warning events are recorded as the kubelet or
        scheduler would."""
        if pending_reason == "Unschedulable" and pending_message is None:
            pending_message = UNSCHEDULABLE_MESSAGE
        state = PodState(
            phase=phase,
            ready=ready,
            restart_count=restart_count,
            waiting_reason=waiting_reason,
            waiting_message=waiting_message,
            terminated_reason=terminated_reason,
            exit_code=exit_code,
            pending_reason=pending_reason,
            pending_message=pending_message,
        )
        self.cluster.ensure_namespace(namespace)
        with self.cluster.lock:
            pod = self._pod_body(
                namespace,
                name,
                labels=labels,
                resources=resources,
                image=image,
                container_name=container_name,
                deployment=deployment,
                annotations=annotations,
            )
            if node_name:
                pod["spec"]["nodeName"] = node_name
            if self.cluster.raw(PODS, namespace, name) is not None:
                self.cluster.remove(PODS, namespace, name)
            stored = self.cluster.insert(PODS, pod)
            self.controller.set_pod_state(stored, state)
            stored = self.cluster.store(PODS, stored)
            self.cluster.side.pinned_pods.add((namespace, name))
            self._pod_events(stored, state)
        self._after_seed()
        return self.get_object("pods", namespace, name) or copy.deepcopy(stored)

    def _pod_body(
        self,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None,
        resources: Mapping[str, Any] | None,
        image: str,
        container_name: str,
        deployment: str | None,
        annotations: Mapping[str, str] | None,
    ) -> JSON:
        metadata: JSON = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
        spec: JSON
        if deployment is not None:
            self.controller.reconcile_deployment(
                self.cluster.get(DEPLOYMENTS, namespace, deployment)
            )
            rs = self._current_replicaset(namespace, deployment)
            template = rs["spec"]["template"]
            metadata["labels"] = {
                **(template["metadata"].get("labels") or {}),
                **dict(labels or {}),
            }
            metadata["generateName"] = f"{rs['metadata']['name']}-"
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs["metadata"]["name"],
                    "uid": rs["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            spec = copy.deepcopy(template.get("spec") or {})
            if resources is not None:
                spec["containers"][0]["resources"] = copy.deepcopy(dict(resources))
        else:
            spec = {
                "containers": [
                    builders.container(
                        container_name,
                        image,
                        resources=resources
                        if resources is not None
                        else builders.DEFAULT_RESOURCES,
                    )
                ],
                "restartPolicy": "Always",
            }
        if annotations:
            metadata["annotations"] = dict(annotations)
        spec.setdefault("serviceAccountName", "default")
        return {"metadata": metadata, "spec": spec}

    def _current_replicaset(self, namespace: str, deployment: str) -> JSON:
        obj = self.cluster.get(DEPLOYMENTS, namespace, deployment)
        pod_hash = builders.template_hash(obj["spec"].get("template") or {})
        for rs in self.cluster.items(REPLICASETS, namespace):
            if owned_by(rs, obj["metadata"]["uid"]) and (
                rs["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash
            ):
                return rs
        raise ApiError(404, f'no current ReplicaSet for deployment "{deployment}"')

    def _pod_events(self, pod: JSON, state: PodState) -> None:
        meta = pod["metadata"]
        container_name = pod["spec"]["containers"][0]["name"]
        image = pod["spec"]["containers"][0].get("image", "")
        emit = self.controller.emit
        if state.pending_reason:
            emit(
                pod,
                "FailedScheduling",
                state.pending_message or state.pending_reason,
                component="default-scheduler",
                warning=True,
            )
        if state.waiting_reason == "CrashLoopBackOff":
            emit(
                pod,
                "BackOff",
                f"Back-off restarting failed container {container_name} in pod "
                f"{meta['name']}_{meta['namespace']}({meta['uid']})",
                component="kubelet",
                warning=True,
            )
        elif state.waiting_reason in ("ImagePullBackOff", "ErrImagePull"):
            emit(
                pod,
                "Failed",
                f'Failed to pull image "{image}": not found',
                component="kubelet",
                warning=True,
            )
            emit(pod, "Failed", f"Error: {state.waiting_reason}", component="kubelet", warning=True)
        if state.terminated_reason == "OOMKilled":
            emit(
                pod,
                "OOMKilling",
                f"Memory cgroup out of memory: Killed process in container {container_name}",
                component="kernel-monitor",
                warning=True,
            )

    def set_pod_state(self, namespace: str, name: str, **state: Any) -> JSON:
        """Change an existing pod's state (same keywords as ``add_pod``'s state ones); the
        pod is then kept by the controller as it is (see ``add_pod``)."""
        if state.get("pending_reason") == "Unschedulable" and not state.get("pending_message"):
            state["pending_message"] = UNSCHEDULABLE_MESSAGE
        pod_state = PodState(**state)
        with self.cluster.lock:
            pod = self.cluster.get(PODS, namespace, name)
            self.controller.set_pod_state(pod, pod_state)
            stored = self.cluster.store(PODS, pod)
            self.cluster.side.pinned_pods.add((namespace, name))
            self._pod_events(stored, pod_state)
        self._after_seed()
        return self.cluster.get(PODS, namespace, name)

    def set_pod_log(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        *,
        previous: bool = False,
    ) -> None:
        """The log ``pods/log`` answers for a pod (``container`` None: any container)."""
        with self.cluster.lock:
            self.cluster.side.logs[(namespace, pod, container, previous)] = text

    def set_deployment_log(self, namespace: str, deployment: str, text: str) -> None:
        """The log of every pod of a deployment that has no log of its own."""
        with self.cluster.lock:
            self.cluster.side.deployment_logs[(namespace, deployment)] = text

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

    # --- accessors ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The global resourceVersion counter."""
        return self.cluster.resource_version

    def get_object(self, resource: str, namespace: str | None, name: str) -> JSON | None:
        """A stored object (a copy) by resource name (``deployments``, ``deploy``,
        ``jobs.batch``, ``hpa``, ...), or None."""
        rtype = resources.find(resource)
        with self.cluster.lock:
            obj = self.cluster.raw(rtype, namespace, name)
            return copy.deepcopy(obj) if obj is not None else None

    def list_objects(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[JSON]:
        rtype = resources.find(resource)
        return self.cluster.list(rtype, namespace, parse_label_selector(label_selector), [])

    def get_deployment(self, namespace: str, name: str) -> JSON | None:
        return self.get_object("deployments", namespace, name)

    def pods_of(self, namespace: str, deployment: str) -> list[JSON]:
        """The pods a deployment's selector picks (not terminal), sorted by name."""
        obj = self.get_deployment(namespace, deployment)
        if obj is None:
            return []
        selector = requirements_from_label_selector(obj["spec"].get("selector"))
        return [
            pod
            for pod in self.list_objects("pods", namespace)
            if matches_labels(selector, pod["metadata"].get("labels"))
            and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        ]
