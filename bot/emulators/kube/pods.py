"""The pod-making part of the emulated controllers, shared by ReplicaSets and Jobs:
scheduling onto a node, status from a :class:`PodState`, and events."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube import builders, pod_state
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.resources import EVENTS, NODES, PODS

JSON = dict[str, Any]


def owned_by(obj: JSON, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def owner_ref(owner: JSON, kind: str, api_version: str) -> JSON:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_ready(pod: JSON) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def terminal(pod: JSON) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class PodMaker:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    # --- pods ------------------------------------------------------------------

    def _pick_node(self) -> tuple[str, str]:
        cluster = self.cluster
        nodes = [
            n
            for n in cluster.items(NODES)
            if not (n.get("spec") or {}).get("unschedulable")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            )
        ]
        if not nodes:
            return "emulator-node", "10.0.0.10"
        counts = {n["metadata"]["name"]: 0 for n in nodes}
        for pod in cluster.items(PODS):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name in counts:
                counts[node_name] += 1
        chosen = min(nodes, key=lambda n: (counts[n["metadata"]["name"]], n["metadata"]["name"]))
        address = next(
            (
                a["address"]
                for a in chosen["status"].get("addresses", [])
                if a.get("type") == "InternalIP"
            ),
            "10.0.0.10",
        )
        return chosen["metadata"]["name"], address

    def set_pod_state(self, pod: JSON, state: PodState) -> None:
        """Give a pod (stored or about to be) a status from ``state``."""
        spec = pod.setdefault("spec", {})
        if not state.pending_reason and not spec.get("nodeName"):
            spec["nodeName"], host_ip = self._pick_node()
        else:
            host_ip = self._host_ip(spec.get("nodeName"))
        pod_ip = (pod.get("status") or {}).get("podIP") or self.cluster.next_ip()
        pod_state.apply_pod_state(
            pod, state, now=self.cluster.now(), host_ip=host_ip, pod_ip=pod_ip
        )

    def _host_ip(self, node_name: str | None) -> str:
        node = self.cluster.raw(NODES, None, node_name) if node_name else None
        if node is not None:
            for address in node["status"].get("addresses", []):
                if address.get("type") == "InternalIP":
                    return str(address["address"])
        return "10.0.0.10"

    def _give_status(self, pod: JSON) -> None:
        pod = copy.deepcopy(pod)
        self.set_pod_state(pod, PodState())
        self.cluster.store(PODS, pod)

    def create_pod(
        self,
        owner: JSON,
        owner_kind: str,
        template: JSON,
        name: str,
        state: PodState,
        *,
        generate_name: str,
    ) -> JSON:
        meta = template.get("metadata") or {}
        pod: JSON = {
            "metadata": {
                "name": name,
                "generateName": generate_name,
                "namespace": owner["metadata"]["namespace"],
                "labels": dict(meta.get("labels") or {}),
                "ownerReferences": [
                    owner_ref(
                        owner, owner_kind, "apps/v1" if owner_kind == "ReplicaSet" else "batch/v1"
                    )
                ],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(meta["annotations"])
        pod["spec"].setdefault("serviceAccountName", "default")
        stored = self.cluster.insert(PODS, pod)
        self.set_pod_state(stored, state)
        return self.cluster.store(PODS, stored)

    # --- events ---------------------------------------------------------------------

    def emit(
        self, involved: JSON, reason: str, message: str, *, component: str, warning: bool = False
    ) -> JSON:
        cluster = self.cluster
        namespace = involved["metadata"].get("namespace") or "default"
        cluster.ensure_namespace(namespace)
        involved_with_kind = dict(involved)
        obj = builders.event(
            namespace,
            involved=involved_with_kind,
            reason=reason,
            message=message,
            event_type="Warning" if warning else "Normal",
            component=component,
            count=1,
            now=cluster.now(),
            suffix=builders.stable_hex(
                str(cluster.resource_version), cluster.random_suffix(), length=16
            ),
        )
        return cluster.insert(EVENTS, obj)
