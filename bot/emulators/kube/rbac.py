"""RBAC emulation: policy rules, request records, and checks between them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class RequestRecord:
    """One resource request as the authorizer sees it.

    ``verb`` is the Kubernetes verb (get, list, watch, create, update, patch, delete,
    deletecollection); ``name`` is None for list/create; ``namespace`` is None at the
    cluster scope. ``code``, ``method``, ``path`` and ``user`` do not take part in equality.
    """

    verb: str
    api_group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None
    code: int = field(default=0, compare=False)
    method: str = field(default="", compare=False)
    path: str = field(default="", compare=False)
    user: str = field(default="", compare=False)

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class PolicyRule:
    """A rule of a Role/ClusterRole (``nonResourceURLs`` are not needed by the bot)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        api_groups: Iterable[str],
        resources: Iterable[str],
        verbs: Iterable[str],
        resource_names: Iterable[str] = (),
    ) -> PolicyRule:
        return cls(tuple(api_groups), tuple(resources), tuple(verbs), tuple(resource_names))

    @classmethod
    def from_dict(cls, rule: dict[str, Any]) -> PolicyRule:
        return cls.of(
            rule.get("apiGroups") or [],
            rule.get("resources") or [],
            rule.get("verbs") or [],
            rule.get("resourceNames") or [],
        )

    def allows(self, request: RequestRecord) -> bool:
        if "*" not in self.verbs and request.verb not in self.verbs:
            return False
        if "*" not in self.api_groups and request.api_group not in self.api_groups:
            return False
        if not self._resource_matches(request):
            return False
        if not self.resource_names:
            return True
        return request.name is not None and request.name in self.resource_names

    def _resource_matches(self, request: RequestRecord) -> bool:
        for resource in self.resources:
            if resource in ("*", request.full_resource):
                return True
            if request.subresource and resource == f"*/{request.subresource}":
                return True
        return False


def is_allowed(rules: Sequence[PolicyRule], request: RequestRecord) -> bool:
    return any(rule.allows(request) for rule in rules)


def load_rules_from_role_yaml(path: str | Path, *, name: str | None = None) -> list[PolicyRule]:
    """The rules of every Role/ClusterRole in a (multi-document) YAML file, or of the one
    called ``name``."""
    text = Path(path).read_text(encoding="utf-8")
    rules: list[PolicyRule] = []
    for document in yaml.safe_load_all(text):
        if not isinstance(document, dict):
            continue
        documents = document.get("items") if document.get("kind") == "List" else [document]
        for doc in documents or []:
            if not isinstance(doc, dict) or doc.get("kind") not in ("Role", "ClusterRole"):
                continue
            if name is not None and (doc.get("metadata") or {}).get("name") != name:
                continue
            rules.extend(PolicyRule.from_dict(rule) for rule in doc.get("rules") or [])
    return rules


def disallowed_requests(
    rules: Sequence[PolicyRule], requests: Iterable[RequestRecord]
) -> list[RequestRecord]:
    """Requests the rules would refuse."""
    return [request for request in requests if not is_allowed(rules, request)]


def unused_permissions(
    rules: Sequence[PolicyRule], requests: Iterable[RequestRecord]
) -> list[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a rule grants that no request used.
    Wildcards are reported as written (a ``*`` is never "used" completely)."""
    seen = list(requests)
    unused: list[tuple[str, str, str]] = []
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                for verb in rule.verbs:
                    narrow = PolicyRule((group,), (resource,), (verb,), rule.resource_names)
                    if not any(narrow.allows(request) for request in seen):
                        unused.append((group, resource, verb))
    return unused
