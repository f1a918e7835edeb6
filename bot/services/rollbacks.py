"""Running an approved rollback: the previous replicas, HPA bounds or ConfigMap values,
written only if the object is still as the original action left it.

The object is read again here (the request may have waited for approval a while) and
written pinned to the resourceVersion just read, so a change made in between is met
with 409 Conflict and reported, never overwritten (see :mod:`bot.domain.rollback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.kube.follow import Polling
from bot.domain.playbook import Playbook
from bot.domain.rollback import Change, RollbackRefused, Target, check_unchanged, what
from bot.services.remediation import (
    ROLLOUT_POLLING,
    ActionFailed,
    Progress,
    follow_scaled,
    restart_one,
)


async def execute_rollback(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    now: datetime,
    polling: Polling = ROLLOUT_POLLING,
) -> dict[str, Any]:
    """Restores ``params["change"]``'s ``before`` values, then follows the result: the
    deployment's pods to Ready, or the restart of the ConfigMap's readers.

    Raises :class:`ActionFailed` (nothing written) when the object changed since the
    original action, or changes between this read and the write (409), or a previous
    value is no longer within the playbook's bounds."""
    change = Change.from_json(params["change"])
    if change.namespace != playbook.namespace:
        raise ActionFailed(f"`{change.namespace}` is no longer the playbook's namespace")
    _still_allowed(playbook, change, str(params.get("deployment", change.name)))
    try:
        current = await kube.object_now(
            change.target, change.namespace, change.name, list(change.after)
        )
        check_unchanged(change, current)
        await kube.write_pinned(change, dict(change.before), current.resource_version)
    except RollbackRefused as exc:
        raise ActionFailed(str(exc)) from exc
    except KubeError as exc:
        if exc.status == 409:
            raise ActionFailed(
                f"Nothing was rolled back: {what(change)} was changed by someone else while "
                "the rollback ran (409 Conflict); the bot does not overwrite their change."
            ) from exc
        raise
    restored = ", ".join(
        f"{k} {_show(change.after[k])} → {_show(v)}" for k, v in sorted(change.before.items())
    )
    await on_progress(f":rewind: {what(change)} rolled back ({restored})")
    result: dict[str, Any] = {
        "rolled_back": str(params["rollback_of"]),
        "target": change.target.value,
        "name": change.name,
        "restored": dict(change.before),
        "replaced": dict(change.after),
    }
    if change.target is Target.CONFIGMAP:
        result["rollouts"] = {
            name: await restart_one(kube, playbook, name, on_progress, now=now, polling=polling)
            for name in playbook.worker_config.restart_deployments
        }
        return result
    deployment = str(params.get("deployment", change.name))
    if change.target is Target.HPA:
        low, high = int(change.before["min_replicas"]), int(change.before["max_replicas"])
        status = await follow_scaled(
            kube,
            playbook,
            deployment,
            on_progress,
            polling,
            f"HPA `{change.name}` back to minReplicas {low}, maxReplicas {high}",
            replicas=lambda n: low <= n <= high,
            waiting_for=f"waiting for HPA `{change.name}` to bring it within {low} to {high}",
        )
    else:
        status = await follow_scaled(
            kube,
            playbook,
            deployment,
            on_progress,
            polling,
            f"`{deployment}` scaled back to {change.before['replicas']} replicas",
        )
    result.update(deployment=deployment, replicas=status.desired, ready=status.ready)
    return result


def _still_allowed(playbook: Playbook, change: Change, deployment: str) -> None:
    """The playbook may have changed since the request: only its deployments and
    ConfigMap, only within its bounds."""
    if change.target is Target.CONFIGMAP:
        config = playbook.worker_config
        if change.name != config.configmap or any(k not in config.keys for k in change.before):
            raise ActionFailed("the ConfigMap or its keys are no longer in the playbook")
        return
    bounds = playbook.deployments.get(deployment)
    if bounds is None:
        raise ActionFailed(f"`{deployment}` is no longer a deployment of the playbook")
    for key in ("replicas", "min_replicas"):
        if key in change.before and not (
            bounds.min_replicas <= int(change.before[key]) <= bounds.max_replicas
        ):
            raise ActionFailed(
                "the previous replica count is no longer within the playbook's bounds"
            )


def _show(value: Any) -> str:
    return "(unset)" if value is None else str(value)
