"""The emulated cluster's object store: keys, resourceVersions, server-set metadata
on insert, namespaces, and the watchers told about every write.

Every method is thread-safe (one re-entrant lock); :class:`~bot.emulators.kube.cluster.Cluster`
adds the API verbs on top."""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.emulators.kube import errors
from bot.emulators.kube.resources import NAMESPACES, PODS, ResourceType
from bot.emulators.kube.selectors import (
    FieldRequirement,
    Requirement,
    matches_fields,
    matches_labels,
)
from bot.emulators.kube.side import SideState

JSON = dict[str, Any]
Key = tuple[str, str, str, str, str]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Watcher:
    rtype: ResourceType
    namespace: str | None
    labels: list[Requirement]
    fields: list[FieldRequirement]
    send: Callable[[str, JSON], None]


class ObjectStore:
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
        if current is not None and same_object(current, obj):
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


def same_object(a: JSON, b: JSON) -> bool:
    """Equal but for the resourceVersion (a write that changes nothing else)."""

    def strip(obj: JSON) -> JSON:
        clone = dict(obj)
        clone["metadata"] = {
            k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"
        }
        return clone

    return strip(a) == strip(b)
