"""Validation the API server does where the bot could trip (422 Invalid)."""

from __future__ import annotations

import re
from typing import Any

from bot.emulators.kube.errors import FieldError
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.selectors import matches_labels, requirements_from_label_selector

JSON = dict[str, Any]

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative(path: str, value: Any, errors: list[FieldError], minimum: int = 0) -> None:
    if value is None:
        return
    if not _is_int(value):
        errors.append(FieldError(path, "Invalid", "must be an integer", value))
    elif value < minimum:
        errors.append(
            FieldError(path, "Invalid", f"must be greater than or equal to {minimum}", value)
        )


def _metadata(obj: JSON, errors: list[FieldError]) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        errors.append(FieldError("metadata.name", "Required", "name or generateName is required"))
    elif not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        errors.append(FieldError("metadata.name", "Invalid", _SUBDOMAIN_MESSAGE, name))
    for section in ("labels", "annotations"):
        values = meta.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append(FieldError(f"metadata.{section}", "Invalid", "must be a map", values))
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                errors.append(
                    FieldError(f"metadata.{section}", "Invalid", "values must be strings", value)
                )
            elif section == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                errors.append(
                    FieldError(
                        "metadata.labels",
                        "Invalid",
                        "a valid label must be an empty string or consist of alphanumeric "
                        "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                        "character",
                        value,
                    )
                )
            del key


def _pod_spec(path: str, spec: Any, errors: list[FieldError]) -> None:
    if not isinstance(spec, dict):
        errors.append(FieldError(path, "Required"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append(FieldError(f"{path}.containers", "Required"))
        return
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            errors.append(FieldError(where, "Invalid", "must be an object", container))
            continue
        name = container.get("name")
        if not name:
            errors.append(FieldError(f"{where}.name", "Required"))
        elif name in seen:
            errors.append(FieldError(f"{where}.name", "Duplicate", "", name))
        else:
            seen.add(str(name))
        if not container.get("image"):
            errors.append(FieldError(f"{where}.image", "Required"))
        for env_index, env in enumerate(container.get("env") or []):
            if not isinstance(env, dict) or not env.get("name"):
                errors.append(FieldError(f"{where}.env[{env_index}].name", "Required"))
            elif "value" in env and not isinstance(env["value"], str | None):
                errors.append(
                    FieldError(
                        f"{where}.env[{env_index}].value",
                        "Invalid",
                        "must be a string",
                        env["value"],
                    )
                )


def _template(path: str, spec: JSON, errors: list[FieldError], *, check_selector: bool) -> None:
    template = spec.get("template")
    if not isinstance(template, dict):
        errors.append(FieldError(f"{path}.template", "Required"))
        return
    _pod_spec(f"{path}.template.spec", template.get("spec"), errors)
    if not check_selector:
        return
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        errors.append(FieldError(f"{path}.selector", "Required"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not matches_labels(requirements_from_label_selector(selector), labels):
        errors.append(
            FieldError(
                f"{path}.template.metadata.labels",
                "Invalid",
                "`selector` does not match template `labels`",
                labels,
            )
        )


def _deployment(obj: JSON, errors: list[FieldError]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append(FieldError("spec", "Required"))
        return
    _non_negative("spec.replicas", spec.get("replicas"), errors)
    _template("spec", spec, errors, check_selector=True)


def _job(obj: JSON, errors: list[FieldError]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append(FieldError("spec", "Required"))
        return
    for field_name in ("backoffLimit", "completions", "parallelism", "activeDeadlineSeconds"):
        _non_negative(f"spec.{field_name}", spec.get(field_name), errors)
    _template("spec", spec, errors, check_selector=False)
    template = spec.get("template") or {}
    pod_spec = template.get("spec") if isinstance(template, dict) else None
    policy = pod_spec.get("restartPolicy") if isinstance(pod_spec, dict) else None
    if policy not in ("OnFailure", "Never"):
        errors.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                "Unsupported",
                'supported values: "OnFailure", "Never"',
                policy,
            )
        )


def _configmap(obj: JSON, errors: list[FieldError]) -> None:
    data = obj.get("data")
    if data is None:
        return
    if not isinstance(data, dict):
        errors.append(FieldError("data", "Invalid", "must be a map of strings", data))
        return
    for key, value in data.items():
        if not isinstance(value, str):
            errors.append(FieldError(f"data[{key}]", "Invalid", "must be a string", value))
        if not re.match(r"^[-._a-zA-Z0-9]+$", str(key)):
            errors.append(
                FieldError(
                    "data",
                    "Invalid",
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                    key,
                )
            )


def _hpa(obj: JSON, errors: list[FieldError]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append(FieldError("spec", "Required"))
        return
    minimum = spec.get("minReplicas", 1)
    maximum = spec.get("maxReplicas")
    _non_negative("spec.minReplicas", minimum, errors, 1)
    if maximum is None:
        errors.append(FieldError("spec.maxReplicas", "Required"))
    elif not _is_int(maximum) or (_is_int(minimum) and maximum < minimum):
        errors.append(
            FieldError(
                "spec.maxReplicas",
                "Invalid",
                "must be greater than or equal to `minReplicas`",
                maximum,
            )
        )
    target = spec.get("scaleTargetRef")
    if not isinstance(target, dict) or not target.get("name") or not target.get("kind"):
        errors.append(FieldError("spec.scaleTargetRef", "Required"))


_VALIDATORS = {
    "Deployment": _deployment,
    "ReplicaSet": _deployment,
    "Job": _job,
    "ConfigMap": _configmap,
    "HorizontalPodAutoscaler": _hpa,
}


def validate(rtype: ResourceType, obj: JSON) -> list[FieldError]:
    errors: list[FieldError] = []
    _metadata(obj, errors)
    validator = _VALIDATORS.get(rtype.kind)
    if validator is not None:
        validator(obj, errors)
    return errors
