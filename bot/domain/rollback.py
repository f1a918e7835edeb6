"""Rolling back what an action changed: exactly the previous replicas, HPA bounds or
ConfigMap values, and only if nobody changed the object since.

An executor records a :class:`Change` right after it changes an object: the values
before and after, and the object's ``resourceVersion`` (and ``generation``) after the
change. A rollback reads the object again (when it is requested, and again when it
runs) and refuses when the object is no longer as the action left it.

Kubernetes changes an object's ``resourceVersion`` on every write, the controllers'
status writes included, while ``metadata.generation`` moves only when the spec does
(Kubernetes API conventions, "metadata"; the HPA's and Deployment's
``status.observedGeneration`` follow it). So for a Deployment or an HPA, whose status
their controllers keep rewriting, "unchanged since" means the same generation and the
values the action set; a ConfigMap has no status, so its ``resourceVersion`` must be
the very one recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.actions import ActionPlan, ActionRefused
from bot.domain.models import ActionRequest, ActionState
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.text import code


class Target(StrEnum):
    DEPLOYMENT = "deployment"  # spec.replicas, through the scale subresource
    HPA = "hpa"  # spec.minReplicas / spec.maxReplicas
    CONFIGMAP = "configmap"  # data keys (None: the key was not set)


@dataclass(frozen=True)
class Change:
    """What one action changed on one object.

    ``before``/``after`` hold the same keys: ``{"replicas": n}`` for a Deployment,
    ``{"min_replicas": n, "max_replicas": m}`` for an HPA, ``{KEY: value or None}`` for
    a ConfigMap. ``resource_version`` and ``generation`` are the object's right after
    the change (``generation`` None for a ConfigMap, which has none).
    """

    target: Target
    namespace: str
    name: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    resource_version: str
    generation: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.value,
            "namespace": self.namespace,
            "name": self.name,
            "before": dict(self.before),
            "after": dict(self.after),
            "resource_version": self.resource_version,
            "generation": self.generation,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        generation = data.get("generation")
        return cls(
            target=Target(str(data["target"])),
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            before=dict(data["before"]),
            after=dict(data["after"]),
            resource_version=str(data["resource_version"]),
            generation=None if generation is None else int(generation),
        )


@dataclass(frozen=True)
class ObjectNow:
    """The object as it is now: its versions and the values under the change's keys."""

    resource_version: str
    generation: int | None
    values: Mapping[str, Any] = field(default_factory=dict)


class RollbackRefused(ActionRefused):
    """A rollback that must not run; ``str()`` says why and what to do instead."""


def what(change: Change) -> str:
    kinds = {Target.DEPLOYMENT: "deployment", Target.HPA: "HPA", Target.CONFIGMAP: "ConfigMap"}
    return f"{kinds[change.target]} `{change.name}`"


def changed_since(change: Change, now: ObjectNow) -> str | None:
    """Why the object is no longer as the action left it (a sentence), or None."""
    if now.resource_version == change.resource_version:
        return None
    moved = [key for key, value in change.after.items() if now.values.get(key) != value]
    if moved:
        now_text = ", ".join(f"{_key(change, k)} is now {_value(now.values.get(k))}" for k in moved)
        set_text = ", ".join(f"{_value(change.after[k])}" for k in moved)
        return f"{what(change)} was changed since: {now_text} (the action had set {set_text})"
    if change.target is Target.CONFIGMAP:
        return (
            f"{what(change)} was changed since (resourceVersion {change.resource_version} → "
            f"{now.resource_version}): someone edited it after the action"
        )
    if now.generation != change.generation:
        return (
            f"{what(change)}'s spec was changed since (generation {change.generation} → "
            f"{now.generation}: a restart, a new image or another edit)"
        )
    return None  # only its status moved: the controllers write it all the time


def check_unchanged(change: Change, now: ObjectNow) -> None:
    """Raises :class:`RollbackRefused` when :func:`changed_since` finds a change."""
    reason = changed_since(change, now)
    if reason is not None:
        raise RollbackRefused(
            f"Nothing was rolled back: {reason}. The bot does not undo a change it did not "
            "make; change it by hand (`/backlog scale` or `/backlog tune`) if you still want to."
        )


def plan_rollback(
    playbook: Playbook, original: ActionRequest, change: Change, now: ObjectNow
) -> ActionPlan:
    """The approval request that restores ``change.before``, or :class:`RollbackRefused`
    (the action is not finished, the object changed since, or a previous value is now
    outside the playbook's bounds). The plan keeps the original's kind, so its approval
    policy applies; ``params["once"]`` lets one rollback of an action be pending or done
    at a time (a unique index)."""
    if original.state not in (ActionState.SUCCEEDED, ActionState.FAILED):
        raise RollbackRefused(
            f"That action is {original.state.value}; only a finished action can be rolled back."
        )
    check_unchanged(change, now)
    restore = dict(change.before)
    params: dict[str, Any] = {
        "namespace": change.namespace,
        "rollback_of": str(original.id),
        "once": f"rollback:{original.id}",
        "change": change.to_json(),
    }
    if change.target is Target.CONFIGMAP:
        _check_config(playbook, change)
        params["deployments"] = list(playbook.worker_config.restart_deployments)
        restarts = ", ".join(f"`{d}`" for d in params["deployments"])
        pairs = ", ".join(
            f"{k}: {_value(change.after[k])} → {_value(v)}" for k, v in sorted(restore.items())
        )
        summary = f"Roll back ConfigMap `{change.name}` ({pairs}), then restart {restarts}"
    else:
        deployment = str(original.params.get("deployment", change.name))
        params["deployment"] = deployment
        _check_replicas(playbook, change, deployment)
        if change.target is Target.HPA:
            summary = (
                f"Roll back HPA `{change.name}` to minReplicas {restore['min_replicas']}, "
                f"maxReplicas {restore['max_replicas']} (from {change.after['min_replicas']}, "
                f"{change.after['max_replicas']})"
            )
        else:
            summary = (
                f"Roll back `{change.name}` from {change.after['replicas']} to "
                f"{restore['replicas']} replicas"
            )
        params["replicas"] = int(restore.get("replicas", restore.get("min_replicas", 0)))
    when = f"{original.finished_at:%H:%M} UTC" if original.finished_at else "earlier"
    return ActionPlan(
        kind=original.kind,
        params=params,
        summary=summary,
        details=(
            f"Undoes “{original.summary}” (run at {when}, asked by <@{original.requested_by}>). "
            f"Refused if {what(change)} is changed by anyone meanwhile (checked again when it "
            "runs).",
        ),
    )


def _check_replicas(playbook: Playbook, change: Change, deployment: str) -> None:
    bounds = playbook.deployments.get(deployment)
    if bounds is None:
        raise RollbackRefused(f"`{deployment}` is no longer a deployment of the playbook.")
    counts = [int(v) for k, v in change.before.items() if k in ("replicas", "min_replicas")]
    for count in counts:
        if not bounds.min_replicas <= count <= bounds.max_replicas:
            raise RollbackRefused(
                f"Nothing was rolled back: the previous {count} replicas is outside the "
                f"playbook's bounds for `{deployment}` ({bounds.min_replicas} to "
                f"{bounds.max_replicas}); scale it by hand with `/backlog scale`."
            )


def _check_config(playbook: Playbook, change: Change) -> None:
    config = playbook.worker_config
    if change.name != config.configmap:
        raise RollbackRefused(f"`{change.name}` is no longer the playbook's worker ConfigMap.")
    for key, value in change.before.items():
        bounds = config.keys.get(key)
        if bounds is None:
            raise RollbackRefused(f"{code(key)} is no longer a tunable worker setting.")
        if value is not None and not (
            str(value).isdigit() and bounds.min <= int(value) <= bounds.max
        ):
            raise RollbackRefused(
                f"Nothing was rolled back: the previous `{key}={value}` is outside the "
                f"playbook's bounds ({bounds.min} to {bounds.max}); use `/backlog tune`."
            )


def rollback_target(kind: ActionKind, params: Mapping[str, Any]) -> Change | None:
    """The change a rollback request restores (None for any other request)."""
    if "rollback_of" not in params or kind not in (ActionKind.SCALE, ActionKind.TUNE):
        return None
    return Change.from_json(params["change"])


def _key(change: Change, key: str) -> str:
    names = {"replicas": "replicas", "min_replicas": "minReplicas", "max_replicas": "maxReplicas"}
    return names.get(key, f"`{key}`") if change.target is not Target.CONFIGMAP else f"`{key}`"


def _value(value: Any) -> str:
    return "(unset)" if value is None else str(value)
