"""The Kubernetes remediations, run once a request is approved.

Each executor takes the request's stored parameters, re-checks them against
the playbook (it may have changed since the request was made, and a stored
row is not trusted to name anything the playbook does not), does the work
through :class:`KubeClient`, reports short progress lines through
``on_progress`` and returns a JSON-able result for the timeline. Failure is an
:class:`ActionFailed` (or the client's :class:`KubeError`) worded for the channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.adapters.kube import KubeClient
from bot.adapters.kube.follow import Polling, describe_job, follow_job, follow_rollout
from bot.domain.actions import plan_drain
from bot.domain.errors import BotError
from bot.domain.playbook import Playbook
from bot.domain.workloads import JobPhase, RolloutPhase

Progress = Callable[[str], Awaitable[None]]

ROLLOUT_POLLING = Polling(poll_seconds=2.0, timeout_seconds=900.0)
DRAIN_POLLING = Polling(poll_seconds=5.0, timeout_seconds=3600.0)


class ActionFailed(BotError, RuntimeError):
    """An executor's failure, worded for the channel."""


def _deployment(playbook: Playbook, name: str) -> str:
    if name not in playbook.deployments:
        raise ActionFailed(f"`{name}` is no longer a deployment of the playbook")
    return name


async def restart_one(
    kube: KubeClient,
    playbook: Playbook,
    deployment: str,
    on_progress: Progress,
    *,
    now: datetime,
    polling: Polling = ROLLOUT_POLLING,
) -> str:
    """``kubectl rollout restart`` then ``rollout status``; the final status line."""
    await kube.rollout_restart(playbook.namespace, deployment, now)
    status = await follow_rollout(kube, playbook.namespace, deployment, on_progress, polling)
    if status.phase is RolloutPhase.STUCK:
        raise ActionFailed(status.describe())
    if status.phase is RolloutPhase.PROGRESSING:
        raise ActionFailed(
            f"{status.describe()} — still not done after {polling.timeout_seconds:.0f}s"
        )
    return status.describe()


async def execute_restart(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    now: datetime | None = None,
    polling: Polling = ROLLOUT_POLLING,
) -> dict[str, Any]:
    """Rolling restart of each deployment in ``params["deployments"]``, one after another
    (so the workers never all restart at once), each followed to completion."""
    deployments = [_deployment(playbook, str(d)) for d in params["deployments"]]
    at = now or datetime.now(UTC)
    rollouts = {}
    for name in deployments:
        rollouts[name] = await restart_one(
            kube, playbook, name, on_progress, now=at, polling=polling
        )
    return {"deployments": deployments, "rollouts": rollouts}


async def execute_tune(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    now: datetime | None = None,
    polling: Polling = ROLLOUT_POLLING,
) -> dict[str, Any]:
    """Patches the worker ConfigMap, then restarts every deployment that reads it:
    pods read the ConfigMap's values only when they start."""
    config = playbook.worker_config
    changes = {str(k): str(v) for k, v in dict(params["changes"]).items()}
    for key, value in changes.items():
        bounds = config.keys.get(key)
        if bounds is None or not value.isdigit() or not bounds.min <= int(value) <= bounds.max:
            raise ActionFailed(f"`{key}={value}` is no longer allowed by the playbook")
    replaced = await kube.patch_configmap(playbook.namespace, config.configmap, changes)
    summary = ", ".join(f"{k}: {old or '(unset)'} → {new}" for k, (old, new) in replaced.items())
    await on_progress(f":gear: ConfigMap `{config.configmap}` updated ({summary})")
    at = now or datetime.now(UTC)
    rollouts = {}
    for name in config.restart_deployments:
        rollouts[name] = await restart_one(
            kube, playbook, name, on_progress, now=at, polling=polling
        )
    return {
        "configmap": config.configmap,
        "before": {k: old or "" for k, (old, _) in replaced.items()},
        "after": {k: new for k, (_, new) in replaced.items()},
        "rollouts": rollouts,
    }


async def execute_drain(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    polling: Polling = DRAIN_POLLING,
) -> dict[str, Any]:
    """Runs the emergency-drain Job and follows it until it succeeds or fails."""
    name = str(params["job"])
    prefix = f"{playbook.emergency_drain.job_name}-"
    if not name.startswith(prefix):
        raise ActionFailed(f"`{name}` is not a drain job of this playbook")
    # Rebuilt from the playbook now rather than trusted from the stored request.
    manifest = plan_drain(playbook, name.removeprefix(prefix)).params["manifest"]
    await kube.create_job(playbook.namespace, manifest)
    await on_progress(f":rotating_light: Job `{name}` created")
    status = await follow_job(kube, playbook.namespace, name, on_progress, polling)
    if status.phase is JobPhase.FAILED:
        raise ActionFailed(f"Job `{name}` failed: {status.message or 'no reason given'}")
    if status.phase is JobPhase.RUNNING:
        raise ActionFailed(
            f"{describe_job(status)} — still running after {polling.timeout_seconds:.0f}s"
        )
    return {"job": name, "succeeded": status.succeeded, "failed": status.failed}


async def execute_scale(
    kube: KubeClient, playbook: Playbook, params: Mapping[str, Any], on_progress: Progress
) -> dict[str, Any]:
    """``kubectl scale``, or the HPA's bounds when the plan found an HPA in charge.

    Both are a single API write, so there is no progress to report."""
    deployment = playbook.deployments.get(str(params["deployment"]))
    replicas = int(params["replicas"])
    if deployment is None or not deployment.min_replicas <= replicas <= deployment.max_replicas:
        raise ActionFailed("the request is no longer within the playbook's bounds")
    if "hpa" in params:
        return await execute_hpa_bounds(kube, playbook, params, on_progress)
    before, after = await kube.scale(playbook.namespace, str(params["deployment"]), replicas)
    return {"deployment": params["deployment"], "replicas_before": before, "replicas": after}


async def execute_hpa_bounds(
    kube: KubeClient, playbook: Playbook, params: Mapping[str, Any], on_progress: Progress
) -> dict[str, Any]:
    """Sets an HPA's minReplicas/maxReplicas.

    The HPA is looked up again by the deployment it scales, so a stored request
    can only ever touch the HPA in charge of a playbook deployment.
    """
    name = _deployment(playbook, str(params["deployment"]))
    bounds = playbook.deployments[name]
    low, high = int(params["min_replicas"]), int(params["max_replicas"])
    hpa = await kube.hpa_for(playbook.namespace, name)
    if hpa is None or hpa.name != str(params["hpa"]):
        raise ActionFailed(f"HPA `{params['hpa']}` no longer manages `{name}`; nothing changed")
    # maxReplicas may stay where the HPA already had it even above the playbook's cap.
    if not bounds.min_replicas <= low <= bounds.max_replicas or not low <= high <= max(
        bounds.max_replicas, hpa.max_replicas
    ):
        raise ActionFailed(
            f"minReplicas {low} / maxReplicas {high} is no longer within the playbook's bounds "
            f"for `{name}` ({bounds.min_replicas} to {bounds.max_replicas})"
        )
    updated = await kube.set_hpa_bounds(playbook.namespace, hpa.name, low, high)
    return {
        "hpa": updated.name,
        "min_replicas": updated.min_replicas,
        "max_replicas": updated.max_replicas,
        "min_before": hpa.min_replicas,
        "max_before": hpa.max_replicas,
    }
