"""The defaults the API server fills in on create (the ones the bot may read back)."""

from __future__ import annotations

import uuid
from typing import Any

from bot.emulators.kube.resources import DEPLOYMENTS, JOBS, REPLICASETS, ResourceType

JSON = dict[str, Any]


def default_on_create(rtype: ResourceType, obj: JSON) -> None:
    """The defaults the API server fills in that the bot may read back."""
    spec = obj.get("spec")
    if rtype == DEPLOYMENTS and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        )
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _default_pod_spec(spec.get("template"), "Always")
    elif rtype == REPLICASETS and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
    elif rtype == JOBS and isinstance(spec, dict):
        controller_uid = str(uuid.uuid4())
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            job_name = obj["metadata"]["name"]
            labels.update(
                {
                    "batch.kubernetes.io/controller-uid": controller_uid,
                    "batch.kubernetes.io/job-name": job_name,
                    "controller-uid": controller_uid,
                    "job-name": job_name,
                }
            )
        spec.setdefault(
            "selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": controller_uid}}
        )
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _default_pod_spec(template, "Always")
    elif rtype.kind == "HorizontalPodAutoscaler" and isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)


def _default_pod_spec(template: Any, restart_policy: str) -> None:
    if not isinstance(template, dict):
        return
    pod_spec = template.setdefault("spec", {})
    if not isinstance(pod_spec, dict):
        return
    pod_spec.setdefault("restartPolicy", restart_policy)
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec.setdefault("schedulerName", "default-scheduler")
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
