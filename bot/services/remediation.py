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

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.kube.follow import (
    Polling,
    describe_job,
    follow_job,
    follow_rollout,
    follow_scale,
)
from bot.domain.actions import (
    ActionPlan,
    DeploymentPaused,
    paused_refusal,
    plan_drain,
    refuse_paused,
)
from bot.domain.errors import BotError
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.rollback import Target
from bot.domain.workloads import JobPhase, RolloutPhase, RolloutStatus, describe_unready
from bot.services.changes import ChangeHook, record_change

Progress = Callable[[str], Awaitable[None]]
# A drain's recovery steps: before its Job starts; once it ended (succeeded or not).
DrainStart = Callable[[], Awaitable[None]]
DrainEnd = Callable[[bool], Awaitable[None]]

ROLLOUT_POLLING = Polling(poll_seconds=2.0, timeout_seconds=900.0)
DRAIN_POLLING = Polling(poll_seconds=5.0, timeout_seconds=3600.0)


class ActionFailed(BotError, RuntimeError):
    """An executor's failure, worded for the channel."""


def _deployment(playbook: Playbook, name: str) -> str:
    if name not in playbook.deployments:
        raise ActionFailed(f"`{name}` is no longer a deployment of the playbook")
    return name


async def refuse_paused_restarts(kube: KubeClient, plan: ActionPlan) -> None:
    """Before a restart or a tune is put up for approval: refuses it
    (:class:`DeploymentPaused`, an ``ActionRefused``) when a deployment it would
    restart is paused, so nobody approves what cannot run. Other plans pass."""
    if plan.kind not in (ActionKind.RESTART, ActionKind.TUNE):
        return
    namespace = str(plan.params["namespace"])
    deployments = [str(name) for name in plan.params["deployments"]]
    refuse_paused(plan, await kube.paused_deployments(namespace, deployments))


async def why_not_ready(kube: KubeClient, namespace: str, deployment: str) -> str:
    """The tail of a failure message naming the deployment's pods that are not Ready
    and why (" — pods not Ready: ..."); "" when all are Ready. Pods that cannot be
    read are said so: the failure itself is still reported."""
    try:
        selector = await kube.deployment_selector(namespace, deployment)
        pods = await kube.pods(namespace, selector)
    except KubeError as exc:
        return f" (its pods could not be read: {exc})"
    reasons = describe_unready(pods)
    return f" — pods not Ready: {reasons}" if reasons else ""


async def restart_one(
    kube: KubeClient,
    playbook: Playbook,
    deployment: str,
    on_progress: Progress,
    *,
    now: datetime,
    polling: Polling = ROLLOUT_POLLING,
) -> str:
    """``kubectl rollout restart`` then ``rollout status``; the final status line.

    A paused deployment is refused before anything is patched (kubectl's "can't
    restart paused deployment"); a rollout that is stuck, paused meanwhile or not
    done in time fails with the reasons of the pods that are not Ready."""
    namespace = playbook.namespace
    try:
        await kube.rollout_restart(namespace, deployment, now)
    except DeploymentPaused as exc:
        raise ActionFailed(str(exc)) from exc
    status = await follow_rollout(kube, namespace, deployment, on_progress, polling)
    if status.phase is RolloutPhase.COMPLETE:
        return status.describe()
    late = (
        f" — still not done after {polling.timeout_seconds:.0f}s"
        if status.phase is RolloutPhase.PROGRESSING
        else ""
    )
    pods = await why_not_ready(kube, namespace, deployment)
    raise ActionFailed(f"{status.describe()}{late}{pods}")


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
    on_change: ChangeHook | None = None,
) -> dict[str, Any]:
    """Patches the worker ConfigMap, then restarts every deployment that reads it:
    pods read the ConfigMap's values only when they start. ``on_change`` is told the
    values replaced (None: the key was unset), before the restarts."""
    config = playbook.worker_config
    changes = {str(k): str(v) for k, v in dict(params["changes"]).items()}
    for key, value in changes.items():
        bounds = config.keys.get(key)
        if bounds is None or not value.isdigit() or not bounds.min <= int(value) <= bounds.max:
            raise ActionFailed(f"`{key}={value}` is no longer allowed by the playbook")
    # Checked before the ConfigMap changes: settings that no restart can apply
    # would sit there unexplained.
    readers = config.restart_deployments
    paused = await kube.paused_deployments(playbook.namespace, readers)
    if paused:
        refusal = paused_refusal(ActionKind.TUNE, playbook.namespace, readers, paused)
        raise ActionFailed(f"Nothing was changed. {refusal}")
    replaced = await kube.patch_configmap(playbook.namespace, config.configmap, changes)
    summary = ", ".join(f"{k}: {old or '(unset)'} → {new}" for k, (old, new) in replaced.items())
    await on_progress(f":gear: ConfigMap `{config.configmap}` updated ({summary})")
    if on_change is not None:
        before = {k: old for k, (old, _) in replaced.items()}
        after = {k: new for k, (_, new) in replaced.items()}
        await record_change(
            kube,
            on_change,
            on_progress,
            Target.CONFIGMAP,
            config.configmap,
            playbook,
            before,
            after,
        )
    at = now or datetime.now(UTC)
    rollouts = {}
    for name in readers:
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
    before_start: DrainStart | None = None,
    after_end: DrainEnd | None = None,
) -> dict[str, Any]:
    """Runs the emergency-drain Job and follows it until it succeeds or fails.

    ``before_start`` runs right before the Job is created (its failure means the Job
    is not created); ``after_end`` once the Job has ended, with whether it succeeded
    (not when it is still running at the timeout: it may still be taking jobs)."""
    name = str(params["job"])
    prefix = f"{playbook.emergency_drain.job_name}-"
    if not name.startswith(prefix):
        raise ActionFailed(f"`{name}` is not a drain job of this playbook")
    # Rebuilt from the playbook now rather than trusted from the stored request.
    manifest = plan_drain(playbook, name.removeprefix(prefix)).params["manifest"]
    if before_start is not None:
        await before_start()
    await kube.create_job(playbook.namespace, manifest)
    await on_progress(f":rotating_light: Job `{name}` created")
    status = await follow_job(kube, playbook.namespace, name, on_progress, polling)
    if after_end is not None and status.phase is not JobPhase.RUNNING:
        await after_end(status.phase is JobPhase.SUCCEEDED)
    if status.phase is JobPhase.FAILED:
        raise ActionFailed(f"Job `{name}` failed: {status.message or 'no reason given'}")
    if status.phase is JobPhase.RUNNING:
        raise ActionFailed(
            f"{describe_job(status)} — still running after {polling.timeout_seconds:.0f}s"
        )
    return {"job": name, "succeeded": status.succeeded, "failed": status.failed}


async def execute_scale(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    polling: Polling = ROLLOUT_POLLING,
    on_change: ChangeHook | None = None,
) -> dict[str, Any]:
    """``kubectl scale``, or the HPA's bounds when the plan found an HPA in charge,
    then followed until the deployment's pods are Ready (``kubectl rollout status``).

    Fails (:class:`ActionFailed`) when the scale is stuck (progress deadline
    exceeded) or its pods are not all Ready after ``polling.timeout_seconds``,
    naming each pod that is not Ready and why (the scheduler's message for a
    Pending pod, CrashLoopBackOff, ImagePullBackOff ...).
    """
    deployment = playbook.deployments.get(str(params["deployment"]))
    replicas = int(params["replicas"])
    if deployment is None or not deployment.min_replicas <= replicas <= deployment.max_replicas:
        raise ActionFailed("the request is no longer within the playbook's bounds")
    if "hpa" in params:
        return await execute_hpa_bounds(
            kube, playbook, params, on_progress, polling=polling, on_change=on_change
        )
    name = str(params["deployment"])
    before, after = await kube.scale(playbook.namespace, name, replicas)
    if on_change is not None:
        values = ({"replicas": before}, {"replicas": after})
        await record_change(
            kube, on_change, on_progress, Target.DEPLOYMENT, name, playbook, *values
        )
    done = f"`{name}` scaled from {before} to {after} replicas"
    status = await follow_scaled(kube, playbook, name, on_progress, polling, done)
    return {
        "deployment": name,
        "replicas_before": before,
        "replicas": after,
        "ready": status.ready,
    }


async def follow_scaled(
    kube: KubeClient,
    playbook: Playbook,
    name: str,
    on_progress: Progress,
    polling: Polling,
    done: str,
    *,
    replicas: Callable[[int], bool] = lambda _: True,
    waiting_for: str = "",
) -> RolloutStatus:
    """Follows a scale that has been made (``done`` says what was changed) to Ready."""
    namespace = playbook.namespace
    await on_progress(f":arrows_counterclockwise: {done}; waiting for its pods to be Ready")
    try:
        status = await follow_scale(
            kube,
            namespace,
            name,
            on_progress,
            polling,
            replicas=replicas,
            waiting_for=waiting_for,
        )
    except KubeError as exc:
        raise ActionFailed(f"{done}, but following its pods failed: {exc}") from exc
    if status.phase is not RolloutPhase.STUCK and status.scaled and replicas(status.desired):
        return status
    if status.phase is RolloutPhase.STUCK:
        pods = await why_not_ready(kube, namespace, name)
        raise ActionFailed(f"{done}, but {status.describe_scale()}{pods}")
    if not replicas(status.desired):
        raise ActionFailed(
            f"{done}, but after {polling.timeout_seconds:.0f}s `{name}` still runs "
            f"{status.desired} replicas: the HPA has not scaled it (see `kubectl describe "
            f"hpa -n {namespace}`)"
        )
    pods = await why_not_ready(kube, namespace, name)
    raise ActionFailed(
        f"{done}, but only {status.ready} of {status.desired} pods are Ready after "
        f"{polling.timeout_seconds:.0f}s{pods}"
    )


async def execute_hpa_bounds(
    kube: KubeClient,
    playbook: Playbook,
    params: Mapping[str, Any],
    on_progress: Progress,
    *,
    polling: Polling = ROLLOUT_POLLING,
    on_change: ChangeHook | None = None,
) -> dict[str, Any]:
    """Sets an HPA's minReplicas/maxReplicas, then follows the deployment until the
    HPA has brought it within the new bounds and its pods are Ready.

    The HPA is looked up again by the deployment it scales, so a stored request
    can only ever touch the HPA in charge of a playbook deployment. The HPA
    controller acts at its next sync (every 15 s by default,
    ``--horizontal-pod-autoscaler-sync-period``), so the wait includes that.
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
    running = await kube.deployment_status(playbook.namespace, name)
    updated = await kube.set_hpa_bounds(playbook.namespace, hpa.name, low, high)
    if on_change is not None:
        before = {"min_replicas": hpa.min_replicas, "max_replicas": hpa.max_replicas}
        after = {"min_replicas": updated.min_replicas, "max_replicas": updated.max_replicas}
        await record_change(
            kube, on_change, on_progress, Target.HPA, hpa.name, playbook, before, after
        )
    status = await follow_scaled(
        kube,
        playbook,
        name,
        on_progress,
        polling,
        f"HPA `{updated.name}` set to minReplicas {updated.min_replicas}, maxReplicas "
        f"{updated.max_replicas}",
        replicas=lambda n: updated.min_replicas <= n <= updated.max_replicas,
        waiting_for=(
            f"waiting for HPA `{updated.name}` to scale it to {updated.min_replicas} to "
            f"{updated.max_replicas} (it acts at its next sync)"
        ),
    )
    return {
        "hpa": updated.name,
        "min_replicas": updated.min_replicas,
        "max_replicas": updated.max_replicas,
        "min_before": hpa.min_replicas,
        "max_before": hpa.max_replicas,
        "replicas_before": running.desired,
        "replicas": status.desired,
        "ready": status.ready,
    }
