"""Deployments in trouble, as ``KubeEmulator`` methods: a rollout that stalls, a
paused deployment, pods that never become Ready."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.emulators.kube.controller import HASH_LABEL, is_ready, owned_by
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.resources import DEPLOYMENTS, PODS, REPLICASETS
from bot.emulators.kube.seed_workloads import UNSCHEDULABLE_MESSAGE
from bot.emulators.kube.seeding import SeedingMixin
from bot.emulators.kube.side import Hold

JSON = dict[str, Any]

# What each reason a test may hold pods with looks like on the pod.
_HELD_STATES = {
    "Unschedulable": PodState(pending_reason="Unschedulable"),
    "CrashLoopBackOff": PodState(
        waiting_reason="CrashLoopBackOff", restart_count=5, terminated_reason="Error"
    ),
    "ImagePullBackOff": PodState(waiting_reason="ImagePullBackOff"),
    "ErrImagePull": PodState(waiting_reason="ErrImagePull"),
    "CreateContainerConfigError": PodState(
        waiting_reason="CreateContainerConfigError",
        waiting_message='configmap "phishnet-config" not found',
    ),
    "OOMKilled": PodState(
        waiting_reason="CrashLoopBackOff", restart_count=3, terminated_reason="OOMKilled"
    ),
}


class TroubleMixin(SeedingMixin):
    def stall_rollout(self, namespace: str, name: str, *, reason: str = "CrashLoopBackOff") -> None:
        """The deployment's next rollout (new pod template) never becomes available: new
        pods fail with ``reason`` and the deployment reports Progressing=False
        ProgressDeadlineExceeded while the old pods keep serving."""
        with self.cluster.lock:
            self.cluster.get(DEPLOYMENTS, namespace, name)
            self.cluster.side.stall_pending[(namespace, name)] = reason

    def release_rollout(self, namespace: str, name: str) -> None:
        """Let a stalled rollout finish."""
        with self.cluster.lock:
            self.cluster.side.stall_pending.pop((namespace, name), None)
            stalled = self.cluster.side.stalled.pop((namespace, name), None)
            if stalled is not None:
                for rs in self.cluster.items(REPLICASETS, namespace):
                    if rs["metadata"].get("labels", {}).get(HASH_LABEL) == stalled[0]:
                        for pod in self.cluster.items(PODS, namespace):
                            if owned_by(pod, rs["metadata"]["uid"]):
                                self.cluster.remove(PODS, namespace, pod["metadata"]["name"])
        self._after_seed()

    def set_paused(self, namespace: str, name: str, paused: bool = True) -> JSON:
        """``kubectl rollout pause`` (or ``resume`` with ``paused=False``): sets
        ``spec.paused``. While paused the deployment still scales, but a changed pod
        template is not rolled out and Progressing is Unknown/DeploymentPaused."""
        with self.cluster.lock:
            deployment = self.cluster.get(DEPLOYMENTS, namespace, name)
            if bool(deployment["spec"].get("paused")) != paused:
                if paused:
                    deployment["spec"]["paused"] = True
                else:
                    deployment["spec"].pop("paused", None)
                generation = int(deployment["metadata"].get("generation", 1))
                deployment["metadata"]["generation"] = generation + 1
                self.cluster.store(DEPLOYMENTS, deployment)
        self._after_seed()
        return self.cluster.get(DEPLOYMENTS, namespace, name)

    def hold_pods(
        self,
        namespace: str,
        deployment: str,
        reason: str = "Unschedulable",
        *,
        message: str | None = None,
        deadline_exceeded: bool = False,
    ) -> None:
        """Every new pod of ``deployment`` comes up and stays not Ready: ``reason`` is
        ``Unschedulable`` (Pending, PodScheduled=False with the scheduler's ``message``),
        ``CrashLoopBackOff``, ``ImagePullBackOff``, ``ErrImagePull``,
        ``CreateContainerConfigError`` or ``OOMKilled`` (crash-looping after OOM kills).
        Pods that exist already are left as they are. With ``deadline_exceeded`` the
        deployment reports Progressing=False ProgressDeadlineExceeded while it is not
        complete, as it does once ``progressDeadlineSeconds`` has passed; without it,
        it keeps reporting progress. (A rollout replaces the old pods anyway: use
        ``stall_rollout`` to keep them serving.)"""
        if reason not in _HELD_STATES:
            raise ValueError(f"cannot hold pods with {reason!r}; one of {sorted(_HELD_STATES)}")
        state = _HELD_STATES[reason]
        if reason == "Unschedulable":
            state = PodState(
                pending_reason="Unschedulable", pending_message=message or UNSCHEDULABLE_MESSAGE
            )
        elif message:
            state = dataclasses.replace(state, waiting_message=message)
        with self.cluster.lock:
            self.cluster.get(DEPLOYMENTS, namespace, deployment)
            self.cluster.side.held[(namespace, deployment)] = Hold(state, deadline_exceeded)

    def release_pods(self, namespace: str, deployment: str) -> None:
        """End ``hold_pods``: the held pods that are not Ready are replaced by pods that
        become Ready (as if the node, image or configuration had been fixed)."""
        with self.cluster.lock:
            self.cluster.side.held.pop((namespace, deployment), None)
            obj = self.cluster.get(DEPLOYMENTS, namespace, deployment)
            owners = {
                rs["metadata"]["uid"]
                for rs in self.cluster.items(REPLICASETS, namespace)
                if owned_by(rs, obj["metadata"]["uid"])
            }
            for pod in self.cluster.items(PODS, namespace):
                if any(owned_by(pod, uid) for uid in owners) and not is_ready(pod):
                    self.cluster.remove(PODS, namespace, pod["metadata"]["name"])
        self._after_seed()
