"""The scale subresource (``.../deployments/NAME/scale``): an autoscaling/v1 Scale
read from, and written through to, the object's ``spec.replicas``."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube import errors
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.errors import FieldError
from bot.emulators.kube.patch_request import apply_patch, parse_patch
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.selectors import label_selector_string

JSON = dict[str, Any]


def scale_of(rtype: ResourceType, obj: JSON) -> JSON:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": label_selector_string(spec.get("selector")),
        },
    }


def read_scale(cluster: Cluster, rtype: ResourceType, namespace: str | None, name: str) -> JSON:
    with cluster.lock:
        return scale_of(rtype, cluster.get(rtype, namespace, name))


def update_scale(
    cluster: Cluster,
    rtype: ResourceType,
    namespace: str | None,
    name: str,
    scale: Any,
    *,
    dry_run: bool = False,
) -> JSON:
    if not isinstance(scale, dict):
        raise errors.bad_request("the body of the request must be a Scale object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        detail = "must be greater than or equal to 0"
        raise errors.invalid(
            "autoscaling",
            "Scale",
            name,
            [FieldError("spec.replicas", "Invalid", detail, replicas)],
        )
    with cluster.lock:
        current = cluster.raw(rtype, namespace, name)
        if current is None:
            raise errors.not_found(rtype.group, rtype.resource, name)
        wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.group, rtype.resource, name)
        body = copy.deepcopy(current)
        body["spec"]["replicas"] = replicas
        body["metadata"].pop("resourceVersion", None)
        updated = cluster.replace(rtype, namespace, name, body, dry_run=dry_run)
        return scale_of(rtype, updated)


def patch_scale(
    cluster: Cluster,
    rtype: ResourceType,
    namespace: str | None,
    name: str,
    content_type: str,
    raw_body: bytes,
    *,
    dry_run: bool = False,
    field_manager: str | None = None,
) -> JSON:
    patch_doc = parse_patch(content_type, raw_body, field_manager)
    with cluster.lock:
        current = scale_of(rtype, cluster.get(rtype, namespace, name))
        patched = apply_patch(content_type, current, patch_doc, rtype)
        return update_scale(cluster, rtype, namespace, name, patched, dry_run=dry_run)
