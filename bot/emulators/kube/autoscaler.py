"""The emulated HorizontalPodAutoscaler controller: status follows the target, and
with ``enforce_hpa`` it scales the target to what its (seeded) metrics ask for,
within minReplicas..maxReplicas."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube.pods import PodMaker
from bot.emulators.kube.resources import DEPLOYMENTS, HPAS

JSON = dict[str, Any]


class HpaController(PodMaker):
    def _reconcile_hpa(self, hpa: JSON) -> None:
        cluster = self.cluster
        meta = hpa["metadata"]
        namespace = meta["namespace"]
        spec = hpa.get("spec") or {}
        status = copy.deepcopy(hpa.get("status") or {})
        minimum = int(spec.get("minReplicas", 1))
        maximum = int(spec.get("maxReplicas", minimum))
        target_ref = spec.get("scaleTargetRef") or {}
        target = (
            cluster.raw(DEPLOYMENTS, namespace, str(target_ref.get("name", "")))
            if target_ref.get("kind") == "Deployment"
            else None
        )
        key = (namespace, meta["name"])
        if target is not None:
            status["currentReplicas"] = int((target.get("status") or {}).get("replicas", 0))
        current = int(status.get("currentReplicas", 0))
        wanted = cluster.side.hpa_wanted.get(key, int(status.get("desiredReplicas", current)))
        desired = min(max(wanted, minimum), maximum)
        status["desiredReplicas"] = desired
        if target is not None and cluster.side.enforce_hpa:
            target_replicas = int(target["spec"].get("replicas", 1))
            if target_replicas != desired:
                scaled = copy.deepcopy(target)
                scaled["spec"]["replicas"] = desired
                scaled["metadata"]["generation"] = int(target["metadata"].get("generation", 1)) + 1
                cluster.store(DEPLOYMENTS, scaled)
                status["lastScaleTime"] = cluster.now()
                self.emit(
                    hpa,
                    "SuccessfulRescale",
                    f"New size: {desired}; reason: All metrics below target"
                    if desired < target_replicas
                    else f"New size: {desired}; reason: cpu resource utilization (percentage "
                    "of request) above target",
                    component="horizontal-pod-autoscaler",
                )
        if wanted > maximum:
            limited = (
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif wanted < minimum:
            limited = (
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        else:
            limited = (
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            )
        conditions = [
            c for c in status.get("conditions") or [] if c.get("type") != "ScalingLimited"
        ]
        old = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "ScalingLimited"), None
        )
        if old and (old.get("status"), old.get("reason")) == limited[:2]:
            conditions.append(old)
        else:
            conditions.append(
                {
                    "type": "ScalingLimited",
                    "status": limited[0],
                    "lastTransitionTime": cluster.now(),
                    "reason": limited[1],
                    "message": limited[2],
                }
            )
        status["conditions"] = conditions
        if status != hpa.get("status"):
            updated = copy.deepcopy(hpa)
            updated["status"] = status
            cluster.store(HPAS, updated)
