"""A tiny controller manager: deployments -> replicasets -> pods, jobs, HPAs.

It runs synchronously (after writes when ``auto_reconcile`` is on) so that tests
can observe the effects of what the bot does without waiting."""

from __future__ import annotations

import copy
import math
from typing import Any

from bot.emulators.kube import builders
from bot.emulators.kube.autoscaler import HpaController
from bot.emulators.kube.builders import PodState
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.jobs import JobController
from bot.emulators.kube.pods import is_ready, owned_by, owner_ref, terminal
from bot.emulators.kube.resources import (
    DEPLOYMENTS,
    HPAS,
    JOBS,
    PODS,
    REPLICASETS,
)
from bot.emulators.kube.selectors import (
    Requirement,
    matches_labels,
    requirements_from_label_selector,
)

__all__ = ["HASH_LABEL", "REVISION", "Controller", "is_ready", "owned_by", "owner_ref"]

JSON = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def _revision(obj: JSON) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        fraction = total * int(value[:-1]) / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return 0


class Controller(JobController, HpaController):
    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self._running = False

    # --- entry point ---------------------------------------------------------

    def reconcile(self) -> None:
        cluster = self.cluster
        with cluster.lock:
            if self._running:
                return
            self._running = True
            try:
                for _ in range(5):  # a few passes settle HPA-driven scaling
                    start = cluster.resource_version
                    self._pass()
                    if cluster.resource_version == start:
                        break
            finally:
                self._running = False

    def _pass(self) -> None:
        cluster = self.cluster
        self._garbage_collect()
        for deployment in cluster.items(DEPLOYMENTS):
            self.reconcile_deployment(deployment)
        for rs in cluster.items(REPLICASETS):
            if not rs["metadata"].get("ownerReferences"):
                self._reconcile_replicaset(rs, PodState())
        for job in cluster.items(JOBS):
            self.reconcile_job(job)
        for hpa in cluster.items(HPAS):
            self._reconcile_hpa(hpa)
        for pod in cluster.items(PODS):
            if "status" not in pod:
                self._give_status(pod)

    def _garbage_collect(self) -> None:
        """Delete dependents whose owner is gone (background cascading deletion)."""
        cluster = self.cluster
        owners = {
            obj["metadata"]["uid"]
            for rtype in (DEPLOYMENTS, REPLICASETS, JOBS)
            for obj in cluster.items(rtype)
        }
        for rtype in (REPLICASETS, PODS):
            for obj in cluster.items(rtype):
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and not any(ref.get("uid") in owners for ref in refs):
                    cluster.remove(rtype, obj["metadata"]["namespace"], obj["metadata"]["name"])

    # --- deployments -----------------------------------------------------------

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


def _stall_state(reason: str | None) -> PodState:
    if reason is None:
        return PodState()
    if reason in builders.PENDING_WAIT_REASONS:
        return PodState(waiting_reason=reason)
    return PodState(waiting_reason=reason, restart_count=5, terminated_reason="Error")


def _invert(timestamp: str) -> str:
    """Sort key that puts newer timestamps first."""
    return "".join(chr(0x10FFFF - ord(ch)) if ch.isdigit() else ch for ch in timestamp)
