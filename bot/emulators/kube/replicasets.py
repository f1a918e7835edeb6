"""The emulated ReplicaSet controller: pods created or deleted to match
``spec.replicas`` (unready and newest pods go first), pods relabelled out of the
selector released, and the ReplicaSet's status."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.pods import PodMaker, is_ready, owned_by, terminal
from bot.emulators.kube.resources import PODS, REPLICASETS
from bot.emulators.kube.selectors import (
    Requirement,
    matches_labels,
    requirements_from_label_selector,
)

JSON = dict[str, Any]


class ReplicaSetController(PodMaker):
    def _reconcile_replicaset(self, rs: JSON, state: PodState) -> None:
        """Creates or deletes pods to match ``spec.replicas``; new pods come up in
        ``state``."""
        cluster = self.cluster
        meta = rs["metadata"]
        namespace = meta["namespace"]
        want = int(rs["spec"].get("replicas", 1))
        selector = requirements_from_label_selector(rs["spec"].get("selector"))
        pods = self._replicaset_pods(rs, selector)
        while len(pods) < want:
            name = f"{meta['name']}-{cluster.random_suffix()}"
            if cluster.raw(PODS, namespace, name) is not None:
                continue
            template = rs["spec"].get("template") or {}
            pods.append(
                self.create_pod(
                    rs, "ReplicaSet", template, name, state, generate_name=f"{meta['name']}-"
                )
            )
        if len(pods) > want:
            pinned = cluster.side.pinned_pods

            def deletion_order(pod: JSON) -> tuple[bool, bool, str]:
                pod_key = (namespace, pod["metadata"]["name"])
                created = _invert(pod["metadata"].get("creationTimestamp", ""))
                return (pod_key in pinned, is_ready(pod), created)

            for pod in sorted(pods, key=deletion_order)[: len(pods) - want]:
                cluster.remove(PODS, namespace, pod["metadata"]["name"])
                pods.remove(pod)
        ready = sum(1 for p in pods if is_ready(p))
        status: JSON = {"replicas": len(pods)}
        if pods:
            status["fullyLabeledReplicas"] = len(pods)
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        status["observedGeneration"] = int(meta.get("generation", 1))
        current = cluster.raw(REPLICASETS, namespace, meta["name"])
        if current is not None and current.get("status") != status:
            updated = copy.deepcopy(current)
            updated["status"] = status
            cluster.store(REPLICASETS, updated)

    def _replicaset_pods(self, rs: JSON, selector: list[Requirement]) -> list[JSON]:
        """The live pods a ReplicaSet owns; pods relabelled out of its selector are
        released (orphaned), as the real controller does, and get replaced."""
        uid = rs["metadata"]["uid"]
        pods: list[JSON] = []
        for pod in self.cluster.items(PODS, rs["metadata"]["namespace"]):
            if not owned_by(pod, uid) or terminal(pod):
                continue
            if matches_labels(selector, pod["metadata"].get("labels")):
                pods.append(pod)
            else:
                self._release(pod, uid)
        return pods

    def _release(self, pod: JSON, owner_uid: str) -> None:
        released = copy.deepcopy(pod)
        refs = [
            r
            for r in released["metadata"].get("ownerReferences") or []
            if r.get("uid") != owner_uid
        ]
        if refs:
            released["metadata"]["ownerReferences"] = refs
        else:
            released["metadata"].pop("ownerReferences", None)
        self.cluster.store(PODS, released)


def _invert(timestamp: str) -> str:
    """Sort key that puts newer timestamps first."""
    return "".join(chr(0x10FFFF - ord(ch)) if ch.isdigit() else ch for ch in timestamp)
