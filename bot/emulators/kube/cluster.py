"""The emulated cluster: the API verbs on the object store, with the API server's
write semantics (validation, defaults, generation, optimistic concurrency, patches,
cascading deletes). The store itself is :mod:`bot.emulators.kube.store`; the scale
subresource is :mod:`bot.emulators.kube.scale`.

Every method is thread-safe (one re-entrant lock); the HTTP layer and the seeding
helpers both call in here."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from bot.emulators.kube import errors
from bot.emulators.kube.defaults import default_on_create
from bot.emulators.kube.errors import ApiError, FieldError
from bot.emulators.kube.patch_request import APPLY_PATCH, apply_patch, parse_patch
from bot.emulators.kube.resources import PODS, ResourceType, lookup
from bot.emulators.kube.selectors import (
    FieldRequirement,
    Requirement,
    matches_fields,
    matches_labels,
)
from bot.emulators.kube.store import JSON, Key, ObjectStore, same_object
from bot.emulators.kube.validation import validate


class Cluster(ObjectStore):
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
            if same_object(current, result):
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


def _type_of(key: Key) -> ResourceType | None:
    return lookup(key[0], key[1], key[2])


def _raise_invalid(rtype: ResourceType, obj: JSON) -> None:
    problems = validate(rtype, obj)
    if problems:
        name = str(obj.get("metadata", {}).get("name", ""))
        raise errors.invalid(rtype.group, rtype.kind, name, problems)


def monotonic() -> float:
    return time.monotonic()
