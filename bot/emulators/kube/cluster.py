"""The emulated cluster: an object store with the API server's write semantics
(resourceVersion, generation, validation, optimistic concurrency, cascading deletes).

Every method is thread-safe (one re-entrant lock); the HTTP layer and the seeding
helpers both call in here."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from bot.emulators.kube import errors
from bot.emulators.kube.errors import ApiError, FieldError
from bot.emulators.kube.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from bot.emulators.kube.resources import (
    DEPLOYMENTS,
    JOBS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    ResourceType,
    lookup,
)
from bot.emulators.kube.selectors import (
    FieldRequirement,
    Requirement,
    label_selector_string,
    matches_fields,
    matches_labels,
)
from bot.emulators.kube.side import SideState
from bot.emulators.kube.validation import validate

JSON = dict[str, Any]
Key = tuple[str, str, str, str, str]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Watcher:
    rtype: ResourceType
    namespace: str | None
    labels: list[Requirement]
    fields: list[FieldRequirement]
    send: Callable[[str, JSON], None]


class Cluster:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        seed: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = random.Random(seed)
        self.side = SideState()
        self.watchers: list[Watcher] = []
        self.after_write: Callable[[], None] | None = None
        self._objects: dict[Key, JSON] = {}
        self._rv = 0
        self._ip = 10

    # --- basics -----------------------------------------------------------------

    def now(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def resource_version(self) -> int:
        return self._rv

    def next_ip(self, prefix: str = "10.244.0.") -> str:
        with self.lock:
            self._ip += 1
            return f"{prefix}{self._ip % 250 + 2}"

    def random_suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(length))

    @staticmethod
    def key(rtype: ResourceType, namespace: str | None, name: str) -> Key:
        ns = namespace if rtype.namespaced and namespace else ""
        return (rtype.group, rtype.version, rtype.resource, ns, name)

    def raw(self, rtype: ResourceType, namespace: str | None, name: str) -> JSON | None:
        """The stored object itself (callers hold the lock and must not mutate it)."""
        return self._objects.get(self.key(rtype, namespace, name))

    def items(self, rtype: ResourceType, namespace: str | None = None) -> list[JSON]:
        """Stored objects of a type (not copies), sorted by namespace and name."""
        found = [
            obj
            for (group, version, resource, ns, _), obj in self._objects.items()
            if (group, version, resource) == (rtype.group, rtype.version, rtype.resource)
            and (namespace is None or not rtype.namespaced or ns == namespace)
        ]
        return sorted(
            found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> JSON:
        with self.lock:
            obj = self.raw(rtype, namespace, name)
            if obj is None:
                raise errors.not_found(rtype.group, rtype.resource, name)
            return copy.deepcopy(obj)

    def _notify(self, kind: str, rtype: ResourceType, obj: JSON) -> None:
        for watcher in list(self.watchers):
            if watcher.rtype != rtype:
                continue
            if watcher.namespace and obj["metadata"].get("namespace") != watcher.namespace:
                continue
            if not matches_labels(watcher.labels, obj["metadata"].get("labels")):
                continue
            if not matches_fields(watcher.fields, obj):
                continue
            watcher.send(kind, copy.deepcopy(obj))

    def store(self, rtype: ResourceType, obj: JSON) -> JSON:
        """Write an object as is, with a new resourceVersion (no validation)."""
        with self.lock:
            meta = obj["metadata"]
            key = self.key(rtype, meta.get("namespace"), meta["name"])
            existed = key in self._objects
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            self._objects[key] = obj
            self._notify("MODIFIED" if existed else "ADDED", rtype, obj)
            return obj

    def store_if_changed(self, rtype: ResourceType, obj: JSON) -> bool:
        meta = obj["metadata"]
        current = self.raw(rtype, meta.get("namespace"), meta["name"])
        if current is not None and _same(current, obj):
            return False
        self.store(rtype, obj)
        return True

    def remove(self, rtype: ResourceType, namespace: str | None, name: str) -> JSON | None:
        with self.lock:
            obj = self._objects.pop(self.key(rtype, namespace, name), None)
            if obj is not None:
                self._rv += 1
                obj["metadata"]["resourceVersion"] = str(self._rv)
                self._notify("DELETED", rtype, obj)
                if rtype == PODS:
                    self.side.pinned_pods.discard((obj["metadata"]["namespace"], name))
            return obj

    def insert(self, rtype: ResourceType, obj: JSON) -> JSON:
        """Create with server-set metadata (uid, creationTimestamp, generation)."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            key = self.key(rtype, meta.get("namespace"), meta["name"])
            if key in self._objects:
                raise errors.already_exists(rtype.group, rtype.resource, meta["name"])
            if not rtype.namespaced:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            meta["creationTimestamp"] = self.now()
            if rtype.has_generation:
                meta["generation"] = 1
            return self.store(rtype, obj)

    def _changed(self) -> None:
        if self.after_write is not None:
            self.after_write()

    def ensure_namespace(self, name: str) -> None:
        with self.lock:
            if self.raw(NAMESPACES, None, name) is None:
                self.insert(
                    NAMESPACES,
                    {
                        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    },
                )

    def _check_namespace(self, rtype: ResourceType, namespace: str | None) -> None:
        if rtype.namespaced and namespace and self.raw(NAMESPACES, None, namespace) is None:
            raise errors.not_found("", "namespaces", namespace)

    # --- API verbs ------------------------------------------------------------

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[FieldRequirement],
    ) -> list[JSON]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for obj in self.items(rtype, namespace)
                if matches_labels(labels, obj["metadata"].get("labels"))
                and matches_fields(fields, obj)
            ]

    def create(
        self, rtype: ResourceType, namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> JSON:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {rtype.kind} object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        body_ns = meta.get("namespace")
        if rtype.namespaced:
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace or body_ns or "default"
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{self.random_suffix()}"
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            if server_field == "resourceVersion" and meta.get(server_field):
                raise ApiError(
                    500,
                    "Internal error occurred: resourceVersion should not be set "
                    "on objects to be created",
                )
            meta.pop(server_field, None)
        if rtype.status_is_subresource and rtype != PODS:
            obj.pop("status", None)
        with self.lock:
            self._check_namespace(rtype, meta.get("namespace"))
            default_on_create(rtype, obj)
            _raise_invalid(rtype, obj)
            if self.raw(rtype, meta.get("namespace"), meta["name"]) is not None:
                raise errors.already_exists(rtype.group, rtype.resource, meta["name"])
            if dry_run:
                return obj
            stored = copy.deepcopy(self.insert(rtype, obj))
        self._changed()
        return stored

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {rtype.kind} object")
        with self.lock:
            current = self.raw(rtype, namespace, name)
            if current is None:
                raise errors.not_found(rtype.group, rtype.resource, name)
            result = self._updated(rtype, current, body, status_only=status_only)
            if dry_run:
                return result
            if _same(current, result):
                return copy.deepcopy(current)  # a no-op update keeps the resourceVersion
            stored = copy.deepcopy(self.store(rtype, result))
        self._changed()
        return stored

    def _updated(
        self, rtype: ResourceType, current: JSON, body: JSON, *, status_only: bool
    ) -> JSON:
        name = current["metadata"]["name"]
        new = copy.deepcopy(body)
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        if meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL"
                f" ({name})"
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.group, rtype.resource, name)
        if status_only:
            result = copy.deepcopy(current)
            result["status"] = new.get("status", {})
            return result
        old_meta = current["metadata"]
        for kept in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
        ):
            if kept in old_meta:
                meta[kept] = old_meta[kept]
            else:
                meta.pop(kept, None)
        if rtype.status_is_subresource and "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        elif rtype.status_is_subresource:
            new.pop("status", None)
        new["apiVersion"] = rtype.api_version
        new["kind"] = rtype.kind
        _raise_invalid(rtype, new)
        if rtype.has_generation and new.get("spec") != current.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        return new

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        raw_body: bytes,
        *,
        status_only: bool = False,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> tuple[JSON, bool]:
        """Returns the object and whether it was created (server-side apply)."""
        patch_doc = parse_patch(content_type, raw_body, field_manager)
        with self.lock:
            current = self.raw(rtype, namespace, name)
            if current is None:
                if content_type == APPLY_PATCH and not status_only:
                    body = dict(patch_doc)
                    body.setdefault("metadata", {})["name"] = name
                    return self.create(rtype, namespace, body, dry_run=dry_run), True
                raise errors.not_found(rtype.group, rtype.resource, name)
            patched = apply_patch(content_type, current, patch_doc, rtype)
            return (
                self.replace(
                    rtype, namespace, name, patched, status_only=status_only, dry_run=dry_run
                ),
                False,
            )

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Mapping[str, Any] | None = None,
    ) -> JSON:
        with self.lock:
            current = self.raw(rtype, namespace, name)
            if current is None:
                raise errors.not_found(rtype.group, rtype.resource, name)
            meta = current["metadata"]
            for key, value in (preconditions or {}).items():
                if value and meta.get(key) != value:
                    raise errors.conflict(
                        rtype.group,
                        rtype.resource,
                        name,
                        f"Precondition failed: {key.capitalize()} in precondition: {value}, "
                        f"{key.capitalize()} in object meta: {meta.get(key)}",
                    )
            policy = propagation or rtype.default_propagation
            if policy not in ("Orphan", "Background", "Foreground"):
                raise errors.invalid(
                    "",
                    "DeleteOptions",
                    "",
                    [
                        FieldError(
                            "propagationPolicy",
                            "Unsupported",
                            'supported values: "Foreground", "Background", "Orphan", "nil"',
                            policy,
                        )
                    ],
                )
            removed = self.remove(rtype, namespace, name)
            assert removed is not None
            self._cascade(str(meta.get("uid", "")), orphan=policy == "Orphan")
            if rtype == PODS:
                removed = copy.deepcopy(removed)
                removed["metadata"]["deletionTimestamp"] = self.now()
                removed["metadata"]["deletionGracePeriodSeconds"] = 0
                response = removed
            else:
                details: JSON = {"name": name, "kind": rtype.resource, "uid": meta.get("uid")}
                if rtype.group:
                    details["group"] = rtype.group
                response = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
        self._changed()
        return response

    def _cascade(self, owner_uid: str, *, orphan: bool) -> None:
        if not owner_uid:
            return
        for key, obj in list(self._objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            rtype = _type_of(key)
            if rtype is None:
                continue
            if orphan:
                kept = [ref for ref in refs if ref.get("uid") != owner_uid]
                if kept:
                    obj["metadata"]["ownerReferences"] = kept
                else:
                    obj["metadata"].pop("ownerReferences", None)
                self.store(rtype, obj)
            else:
                removed = self.remove(rtype, key[3] or None, key[4])
                if removed is not None:
                    self._cascade(str(removed["metadata"].get("uid", "")), orphan=False)

    # --- the scale subresource --------------------------------------------------

    def scale_of(self, rtype: ResourceType, obj: JSON) -> JSON:
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

    def read_scale(self, rtype: ResourceType, namespace: str | None, name: str) -> JSON:
        with self.lock:
            return self.scale_of(rtype, self.get(rtype, namespace, name))

    def update_scale(
        self,
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
        with self.lock:
            current = self.raw(rtype, namespace, name)
            if current is None:
                raise errors.not_found(rtype.group, rtype.resource, name)
            wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.resource, name)
            body = copy.deepcopy(current)
            body["spec"]["replicas"] = replicas
            body["metadata"].pop("resourceVersion", None)
            updated = self.replace(rtype, namespace, name, body, dry_run=dry_run)
            return self.scale_of(rtype, updated)

    def patch_scale(
        self,
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
        with self.lock:
            current = self.scale_of(rtype, self.get(rtype, namespace, name))
            patched = apply_patch(content_type, current, patch_doc, rtype)
            return self.update_scale(rtype, namespace, name, patched, dry_run=dry_run)


def _type_of(key: Key) -> ResourceType | None:
    return lookup(key[0], key[1], key[2])


def _same(a: JSON, b: JSON) -> bool:
    def strip(obj: JSON) -> JSON:
        clone = dict(obj)
        clone["metadata"] = {
            k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"
        }
        return clone

    return strip(a) == strip(b)


def _raise_invalid(rtype: ResourceType, obj: JSON) -> None:
    problems = validate(rtype, obj)
    if problems:
        name = str(obj.get("metadata", {}).get("name", ""))
        raise errors.invalid(rtype.group, rtype.kind, name, problems)


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


def parse_patch(content_type: str, raw_body: bytes, field_manager: str | None) -> Any:
    if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH):
        raise errors.unsupported_media_type(content_type)
    try:
        if content_type == APPLY_PATCH:
            if not field_manager:
                raise errors.bad_request("fieldManager is required for apply requests")
            document = yaml.safe_load(raw_body.decode() or "{}")
        else:
            document = json.loads(raw_body.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
    if content_type == JSON_PATCH and not isinstance(document, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    if content_type != JSON_PATCH and not isinstance(document, dict):
        raise errors.bad_request("error decoding patch: the patch must be a JSON object")
    return document


def apply_patch(content_type: str, current: JSON, patch_doc: Any, rtype: ResourceType) -> JSON:
    try:
        if content_type == JSON_PATCH:
            result = json_patch(current, patch_doc)
        elif content_type == MERGE_PATCH:
            result = json_merge_patch(current, patch_doc)
        else:
            result = strategic_merge_patch(current, patch_doc)
    except PatchError as exc:
        raise ApiError(422, str(exc)) from exc
    if not isinstance(result, dict):
        raise ApiError(422, "the patch did not produce an object")
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        meta = result["metadata"] = {}
    wanted_rv = meta.get("resourceVersion")
    current_rv = current.get("metadata", {}).get("resourceVersion")
    if wanted_rv and wanted_rv != current_rv:
        name = str(current.get("metadata", {}).get("name", ""))
        raise errors.conflict(rtype.group, rtype.resource, name)
    # the patch applies to the current object: it is not a stale write
    meta["resourceVersion"] = current_rv
    return result


def monotonic() -> float:
    return time.monotonic()
