"""The emulated Deployment controller: a ReplicaSet per pod template, revisions and
rollbacks, rolling the new ReplicaSet up and the old ones down; stalled rollouts
(a test's ``stall_pending``) and held pods (``held``) come from the side state."""

from __future__ import annotations

import copy
import math
from typing import Any

from bot.emulators.kube import builders, pod_state
from bot.emulators.kube.deployment_status import DeploymentStatus
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.pods import owned_by, owner_ref
from bot.emulators.kube.replicasets import ReplicaSetController
from bot.emulators.kube.resources import DEPLOYMENTS, REPLICASETS

JSON = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def _revision(obj: JSON) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController(ReplicaSetController, DeploymentStatus):
    def reconcile_deployment(self, deployment: JSON) -> None:
        """Deployment -> ReplicaSets -> pods, as the deployment controller does. A paused
        deployment (``spec.paused``) still scales, but its changed template is not rolled
        out: no new ReplicaSet until it is resumed (the controller's ``sync`` path)."""
        cluster = self.cluster
        meta = deployment["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        paused = bool(spec.get("paused"))
        template = spec.get("template") or {}
        pod_hash = builders.template_hash(template)
        owned = [rs for rs in cluster.items(REPLICASETS, namespace) if owned_by(rs, uid)]
        new_rs = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash),
            None,
        )
        key = (namespace, name)
        max_revision = max((_revision(rs) for rs in owned), default=0)
        if new_rs is None and not (paused and owned):
            if key in cluster.side.stall_pending and owned:
                cluster.side.stalled[key] = (pod_hash, cluster.side.stall_pending.pop(key))
            new_rs = self._create_replicaset(deployment, template, pod_hash, max_revision + 1)
            owned.append(new_rs)
        elif new_rs is not None and _revision(new_rs) < max_revision and not paused:
            new_rs = copy.deepcopy(new_rs)  # a rollback to an older template
            new_rs["metadata"]["annotations"][REVISION] = str(max_revision + 1)
            cluster.store(REPLICASETS, new_rs)
        current = new_rs or max(owned, key=_revision)
        stalled = cluster.side.stalled.get(key)
        stall_reason = stalled[1] if stalled and stalled[0] == pod_hash else None
        if stalled and stall_reason is None:
            del cluster.side.stalled[key]
        self._scale_replicasets(
            deployment, current, owned, replicas, stall_reason is not None, paused=paused
        )
        hold = cluster.side.held.get(key)
        for rs in cluster.items(REPLICASETS, namespace):
            if owned_by(rs, uid):
                is_new = rs["metadata"]["name"] == current["metadata"]["name"]
                state = _stall_state(stall_reason if is_new else None)
                if hold is not None and state == PodState():
                    state = hold.state
                self._reconcile_replicaset(rs, state)
        self._deployment_status(
            deployment,
            new_rs["metadata"]["name"] if new_rs else "",
            stall_reason,
            paused=paused,
            deadline_exceeded=hold is not None and hold.deadline_exceeded,
        )

    def _create_replicaset(
        self, deployment: JSON, template: JSON, pod_hash: str, revision: int
    ) -> JSON:
        meta = deployment["metadata"]
        rs_template = copy.deepcopy(template)
        labels = {**(rs_template.get("metadata", {}).get("labels") or {}), HASH_LABEL: pod_hash}
        rs_template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        replicas = int(deployment["spec"].get("replicas", 1))
        rs: JSON = {
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(labels),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                },
                "ownerReferences": [owner_ref(deployment, "Deployment", "apps/v1")],
            },
            "spec": {"replicas": 0, "selector": selector, "template": rs_template},
            "status": {"replicas": 0},
        }
        created = self.cluster.insert(REPLICASETS, rs)
        stored = self.cluster.raw(DEPLOYMENTS, meta["namespace"], meta["name"])
        if stored is not None:
            annotated = copy.deepcopy(stored)
            annotated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            self.cluster.store(DEPLOYMENTS, annotated)
        return created

    def _scale_replicasets(
        self,
        deployment: JSON,
        new_rs: JSON,
        owned: list[JSON],
        replicas: int,
        stalled: bool,
        *,
        paused: bool = False,
    ) -> None:
        """Sizes the ReplicaSets: the new one to ``replicas`` and the old ones to 0 (a
        stalled rollout keeps the newest old one serving); paused, only the current
        one is resized (a scale) and the others are left as they are."""
        new_name = new_rs["metadata"]["name"]
        targets: dict[str, int] = {} if paused else {rs["metadata"]["name"]: 0 for rs in owned}
        if stalled and not paused:
            surge = max(1, math.ceil(replicas * 0.25)) if replicas else 0
            targets[new_name] = min(replicas, surge)
            olds = sorted(
                (rs for rs in owned if rs["metadata"]["name"] != new_name),
                key=_revision,
                reverse=True,
            )
            if olds:
                targets[olds[0]["metadata"]["name"]] = replicas
        else:
            targets[new_name] = replicas
        namespace = deployment["metadata"]["namespace"]
        for rs_name, want in targets.items():
            rs = self.cluster.raw(REPLICASETS, namespace, rs_name)
            if rs is None:
                continue
            have = int(rs["spec"].get("replicas", 0))
            if have == want:
                continue
            updated = copy.deepcopy(rs)
            updated["spec"]["replicas"] = want
            if want:
                updated["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = (
                    str(replicas)
                )
            updated["metadata"]["generation"] = int(rs["metadata"].get("generation", 1)) + 1
            self.cluster.store(REPLICASETS, updated)
            direction = "up" if want > have else "down"
            self.emit(
                deployment,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs_name} from {have} to {want}",
                component="deployment-controller",
            )


def _stall_state(reason: str | None) -> PodState:
    if reason is None:
        return PodState()
    if reason in pod_state.PENDING_WAIT_REASONS:
        return PodState(waiting_reason=reason)
    return PodState(waiting_reason=reason, restart_count=5, terminated_reason="Error")
