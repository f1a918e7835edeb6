"""Label and field selectors, parsed and matched as the API server does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.emulators.kube.errors import ApiError, bad_request

JSON = dict[str, Any]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQ = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too
        return not present or value not in self.values


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        if match := _SET.match(term):
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQ.match(term):
            operator = "!=" if match.group(2) == "!=" else "="
            requirements.append(Requirement(match.group(1), operator, frozenset({match.group(3)})))
        elif match := _EXISTS.match(term):
            operator = "!" if match.group(1) else "exists"
            requirements.append(Requirement(match.group(2), operator))
        else:
            raise bad_request(
                f"unable to parse requirement: found '{term}', expected: in, notin, =, "
                "==, !=, gt, lt"
            )
    return requirements


def matches_labels(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    present = labels or {}
    return all(requirement.matches(present) for requirement in requirements)


def requirements_from_label_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """From a ``LabelSelector`` object (``matchLabels`` / ``matchExpressions``)."""
    if not selector:
        return []
    requirements = [
        Requirement(key, "=", frozenset({str(value)}))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators.get(str(expression.get("operator")))
        if operator is None:
            continue
        values = frozenset(str(v) for v in expression.get("values") or [])
        requirements.append(Requirement(str(expression.get("key")), operator, values))
    return requirements


def label_selector_string(selector: Mapping[str, Any] | None) -> str:
    """The string form the API server puts in ``Scale.status.selector``."""
    parts: list[str] = []
    for requirement in sorted(
        requirements_from_label_selector(selector), key=lambda r: (r.key, r.operator)
    ):
        values = sorted(requirement.values)
        if requirement.operator == "=":
            parts.append(f"{requirement.key}={values[0]}")
        elif requirement.operator in ("in", "notin"):
            parts.append(f"{requirement.key} {requirement.operator} ({','.join(values)})")
        elif requirement.operator == "exists":
            parts.append(requirement.key)
        elif requirement.operator == "!":
            parts.append(f"!{requirement.key}")
    return ",".join(parts)


# Field selectors: the real server only supports a few fields per kind.
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Node": ("spec.unschedulable",),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
    "Namespace": ("status.phase",),
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str


def parse_field_selector(text: str | None, kind: str) -> list[FieldRequirement]:
    if not text:
        return []
    allowed = _COMMON_FIELDS + _FIELDS.get(kind, ())
    requirements: list[FieldRequirement] = []
    for term in _split_terms(text):
        match = re.match(r"^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, operator, value = match.groups()
        if path not in allowed:
            raise ApiError(400, f"field label not supported: {path}")
        requirements.append(FieldRequirement(path, operator != "!=", value.strip()))
    return requirements


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    if path == "source":
        current = (obj.get("source") or {}).get("component", "")
        return str(current)
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return "false" if path in ("spec.unschedulable", "spec.hostNetwork") else ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def matches_fields(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    for requirement in requirements:
        equal = _field_value(obj, requirement.path) == requirement.value
        if equal != requirement.equal:
            return False
    return True
