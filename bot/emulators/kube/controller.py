"""A tiny controller manager: deployments -> replicasets -> pods, jobs, HPAs.

It runs synchronously (after writes when ``auto_reconcile`` is on) so that tests
can observe the effects of what the bot does without waiting."""

from __future__ import annotations

from bot.emulators.kube.autoscaler import HpaController
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.deployments import HASH_LABEL, REVISION, DeploymentController
from bot.emulators.kube.jobs import JobController
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.pods import is_ready, owned_by, owner_ref
from bot.emulators.kube.resources import DEPLOYMENTS, HPAS, JOBS, PODS, REPLICASETS

__all__ = ["HASH_LABEL", "REVISION", "Controller", "is_ready", "owned_by", "owner_ref"]


class Controller(DeploymentController, JobController, HpaController):
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
