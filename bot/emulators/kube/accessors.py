"""What the seeding helpers of ``KubeEmulator`` stand on: writing an object straight
into the store (no RBAC, not recorded, replacing one of the same name), and reading
objects back by resource name."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube import resources
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.controller import Controller
from bot.emulators.kube.selectors import (
    matches_labels,
    parse_label_selector,
    requirements_from_label_selector,
)

JSON = dict[str, Any]


class Accessors:
    cluster: Cluster
    controller: Controller
    auto_reconcile: bool

    def _after_seed(self) -> None:
        if self.auto_reconcile:
            self.controller.reconcile()

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
