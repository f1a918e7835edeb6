"""A pod's status from a :class:`PodState`: phase, conditions, QoS class and the
container statuses (waiting, running, terminated, restarts) as the kubelet reports
them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.emulators.kube.builders import stable_hex

JSON = dict[str, Any]

PENDING_WAIT_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "ContainerCreating",
        "CreateContainerConfigError",
        "InvalidImageName",
        "PodInitializing",
    }
)
EXIT_CODES = {"OOMKilled": 137, "Error": 1, "Completed": 0, "ContainerCannotRun": 128}


@dataclass(frozen=True)
class PodState:
    """How a pod looks: phase, readiness and the first container's trouble."""

    phase: str | None = None
    ready: bool | None = None
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    exit_code: int | None = None
    pending_reason: str | None = None
    pending_message: str | None = None
    container: str | None = None

    def resolved_phase(self) -> str:
        if self.phase:
            return self.phase
        if self.pending_reason or self.waiting_reason in PENDING_WAIT_REASONS:
            return "Pending"
        return "Running"

    def resolved_ready(self) -> bool:
        if self.ready is not None:
            return self.ready
        return (
            self.resolved_phase() == "Running"
            and self.waiting_reason is None
            and self.pending_reason is None
        )


def _waiting_message(reason: str, pod: JSON, container_name: str, image: str) -> str:
    meta = pod["metadata"]
    if reason == "CrashLoopBackOff":
        return (
            f"back-off 5m0s restarting failed container={container_name} "
            f"pod={meta['name']}_{meta['namespace']}({meta.get('uid', '')})"
        )
    if reason == "ImagePullBackOff":
        return f'Back-off pulling image "{image}"'
    if reason == "ErrImagePull":
        return f'failed to pull and unpack image "{image}": not found'
    return ""


def _qos_class(containers: list[JSON]) -> str:
    requests_any = False
    guaranteed = True
    for spec in containers:
        resources = spec.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            requests_any = True
        for resource in ("cpu", "memory"):
            if (
                resource not in limits
                or requests.get(resource, limits[resource]) != limits[resource]
            ):
                guaranteed = False
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(kind: str, status: bool, now: str, reason: str = "", message: str = "") -> JSON:
    condition: JSON = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def apply_pod_state(pod: JSON, state: PodState, *, now: str, host_ip: str, pod_ip: str) -> None:
    """Write ``status`` (and ``spec.nodeName`` when unscheduled) for a pod."""
    spec = pod.setdefault("spec", {})
    containers: list[JSON] = spec.get("containers") or []
    phase = state.resolved_phase()
    ready = state.resolved_ready()
    qos = _qos_class(containers)
    if state.pending_reason:
        spec.pop("nodeName", None)
        message = state.pending_message or ""
        pod["status"] = {
            "phase": "Pending",
            "conditions": [_condition("PodScheduled", False, now, state.pending_reason, message)],
            "qosClass": qos,
        }
        return
    target = state.container or (containers[0]["name"] if containers else None)
    statuses = [
        _container_status(
            pod, spec_c, state if spec_c["name"] == target else PodState(), phase=phase, now=now
        )
        for spec_c in containers
    ]
    all_ready = ready and all(s["ready"] for s in statuses)
    terminal = phase in ("Succeeded", "Failed")
    unready = [s["name"] for s in statuses if not s["ready"]]
    not_ready_message = f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _condition("PodReadyToStartContainers", phase != "Pending" or bool(statuses), now),
        _condition("Initialized", True, now),
        _condition(
            "Ready",
            all_ready,
            now,
            "" if all_ready else ("PodCompleted" if terminal else "ContainersNotReady"),
            "" if all_ready or terminal else not_ready_message,
        ),
        _condition(
            "ContainersReady",
            all_ready,
            now,
            "" if all_ready else ("PodCompleted" if terminal else "ContainersNotReady"),
            "" if all_ready or terminal else not_ready_message,
        ),
        _condition("PodScheduled", True, now),
    ]
    pod["status"] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": pod["metadata"].get("creationTimestamp", now),
        "containerStatuses": statuses,
        "qosClass": qos,
    }


def _container_status(pod: JSON, spec_c: JSON, state: PodState, *, phase: str, now: str) -> JSON:
    name = str(spec_c["name"])
    image = str(spec_c.get("image", ""))
    uid = str(pod["metadata"].get("uid", ""))
    terminal = phase in ("Succeeded", "Failed")
    ready = state.resolved_ready() and not terminal
    status: JSON = {
        "name": name,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{stable_hex(image)}",
        "ready": ready,
        "restartCount": state.restart_count,
        "started": state.waiting_reason is None and phase == "Running",
    }
    if state.waiting_reason and not terminal:
        message = state.waiting_message or _waiting_message(state.waiting_reason, pod, name, image)
        waiting: JSON = {"reason": state.waiting_reason}
        if message:
            waiting["message"] = message
        status["state"] = {"waiting": waiting}
    elif terminal:
        reason = state.terminated_reason or ("Completed" if phase == "Succeeded" else "Error")
        status["state"] = {"terminated": _terminated(reason, state.exit_code, now, uid, name)}
    else:
        status["state"] = {"running": {"startedAt": now}}
    if state.waiting_reason not in PENDING_WAIT_REASONS:
        status["containerID"] = f"containerd://{stable_hex(uid, name)}"
    if state.terminated_reason and not terminal:
        status["lastState"] = {
            "terminated": _terminated(state.terminated_reason, state.exit_code, now, uid, name)
        }
    elif state.restart_count and not terminal:
        status["lastState"] = {"terminated": _terminated("Error", state.exit_code, now, uid, name)}
    else:
        status["lastState"] = {}
    return status


def _terminated(reason: str, exit_code: int | None, now: str, uid: str, name: str) -> JSON:
    return {
        "exitCode": exit_code if exit_code is not None else EXIT_CODES.get(reason, 1),
        "reason": reason,
        "startedAt": now,
        "finishedAt": now,
        "containerID": f"containerd://{stable_hex(uid, name, 'previous')}",
    }
