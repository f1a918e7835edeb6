"""A Deployment's status as the deployment controller writes it: replica counts and
the Available and Progressing conditions (paused, stalled, past the progress
deadline, complete)."""

from __future__ import annotations

import copy
import math
from typing import Any

from bot.emulators.kube.pods import PodMaker, is_ready, owned_by, terminal
from bot.emulators.kube.resources import DEPLOYMENTS, PODS, REPLICASETS

JSON = dict[str, Any]


def _int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        fraction = total * int(value[:-1]) / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return 0


class DeploymentStatus(PodMaker):
    def _deployment_status(
        self,
        deployment: JSON,
        new_rs_name: str,
        stall_reason: str | None,
        *,
        paused: bool = False,
        deadline_exceeded: bool = False,
    ) -> None:
        cluster = self.cluster
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        stored = cluster.raw(DEPLOYMENTS, namespace, meta["name"])
        if stored is None:
            return
        replicas = int(stored["spec"].get("replicas", 1))
        pods: list[JSON] = []
        updated_pods = 0
        for rs in cluster.items(REPLICASETS, namespace):
            if not owned_by(rs, meta["uid"]):
                continue
            rs_pods = [
                p
                for p in cluster.items(PODS, namespace)
                if owned_by(p, rs["metadata"]["uid"]) and not terminal(p)
            ]
            pods.extend(rs_pods)
            if rs["metadata"]["name"] == new_rs_name:
                updated_pods = len(rs_pods)
        ready = sum(1 for p in pods if is_ready(p))
        strategy = (stored["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = _int_or_percent(
            strategy.get("maxUnavailable", "25%"), replicas, round_up=False
        )
        status: JSON = {"observedGeneration": int(stored["metadata"].get("generation", 1))}
        for field, value in (
            ("replicas", len(pods)),
            ("updatedReplicas", updated_pods),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("unavailableReplicas", max(0, max(len(pods), replicas) - ready)),
        ):
            if value:
                status[field] = value
        available = ready >= replicas - max_unavailable
        complete = updated_pods == replicas == ready and len(pods) == replicas
        if paused:  # the controller's checkPausedConditions
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif stall_reason is not None or (deadline_exceeded and not complete):
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{new_rs_name}" has timed out progressing.',
            )
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{new_rs_name}" has successfully progressed.',
            )
        else:
            progressing = (
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{new_rs_name}" is progressing.',
            )
        old_conditions = {c["type"]: c for c in (stored.get("status") or {}).get("conditions", [])}
        status["conditions"] = [
            self._condition(
                old_conditions.get("Available"),
                "Available",
                "True" if available else "False",
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            self._condition(old_conditions.get("Progressing"), "Progressing", *progressing),
        ]
        if stored.get("status") != status:
            updated = copy.deepcopy(stored)
            updated["status"] = status
            cluster.store(DEPLOYMENTS, updated)

    def _condition(
        self, old: JSON | None, kind: str, status: str, reason: str, message: str
    ) -> JSON:
        now = self.cluster.now()
        if old and (old.get("status"), old.get("reason"), old.get("message")) == (
            status,
            reason,
            message,
        ):
            return old
        transition = old["lastTransitionTime"] if old and old.get("status") == status else now
        return {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }
