"""Seeding deployments and their pods: pods in a :class:`PodState` (crash loops,
pending, OOM kills) with the events the kubelet would write, and their logs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.emulators.kube import builders
from bot.emulators.kube.accessors import Accessors
from bot.emulators.kube.builders import DEFAULT_IMAGE
from bot.emulators.kube.controller import HASH_LABEL, owned_by
from bot.emulators.kube.defaults import default_on_create
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.resources import DEPLOYMENTS, PODS, REPLICASETS

JSON = dict[str, Any]
_UNSET: Any = object()
UNSCHEDULABLE_MESSAGE = "0/3 nodes are available: 3 Insufficient cpu."


class WorkloadSeeding(Accessors):
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
