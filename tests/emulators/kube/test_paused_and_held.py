"""Rollouts that do not finish on the Kubernetes emulator: paused deployments and pods
held unready (until released, and past the progress deadline)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    RESTARTED_AT,
    apps_api,
    core_api,
    seed_worker,
)


def _progressing(deployment: Any) -> tuple[str, str, str]:
    condition = next(c for c in deployment.status.conditions if c.type == "Progressing")
    return condition.status, condition.reason, condition.message


def test_a_paused_deployment_scales_but_rolls_nothing_out(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    seed_worker(emulator, replicas=2)
    apps = apps_api(api)
    core = core_api(api)
    before = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    paused = emulator.set_paused(NS, "phishnet-worker-email")
    assert paused["spec"]["paused"] is True
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.spec.paused is True
    assert _progressing(deployment) == ("Unknown", "DeploymentPaused", "Deployment is paused")

    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}
    apps.patch_namespaced_deployment("phishnet-worker-email", NS, body)
    pods = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    assert pods == before  # the new template is held back: no pod replaced
    assert len(apps.list_namespaced_replica_set(NS).items) == 1  # and no new ReplicaSet
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.status.updated_replicas is None  # no pod runs the current template

    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 3}})
    assert len(core.list_namespaced_pod(NS).items) == 3  # paused, it still scales

    emulator.set_paused(NS, "phishnet-worker-email", False)
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.spec.paused is None
    assert deployment.status.updated_replicas == 3
    assert _progressing(deployment)[1] == "NewReplicaSetAvailable"
    assert not before & {p.metadata.name for p in core.list_namespaced_pod(NS).items}


@pytest.mark.parametrize(
    ("reason", "phase", "why"),
    [
        ("Unschedulable", "Pending", "0/3 nodes are available: 3 Insufficient cpu."),
        ("CrashLoopBackOff", "Running", "back-off 5m0s restarting failed container=worker"),
        ("ImagePullBackOff", "Pending", 'Back-off pulling image "registry.example.com/'),
    ],
)
def test_held_pods_never_become_ready_until_released(
    emulator: KubeEmulator, api: client.ApiClient, reason: str, phase: str, why: str
) -> None:
    seed_worker(emulator, replicas=2)
    apps = apps_api(api)
    core = core_api(api)
    emulator.hold_pods(NS, "phishnet-worker-email", reason)
    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 4}})
    pods = core.list_namespaced_pod(NS).items
    held = [
        p
        for p in pods
        if not any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    assert len(pods) == 4 and len(held) == 2  # the two that were running keep running
    for pod in held:
        assert pod.status.phase == phase
        if reason == "Unschedulable":
            scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
            assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
            assert scheduled.message == why
            assert pod.spec.node_name is None
        else:
            waiting = pod.status.container_statuses[0].state.waiting
            assert waiting.reason == reason and waiting.message.startswith(why)
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert (deployment.status.ready_replicas, deployment.status.unavailable_replicas) == (2, 2)
    assert _progressing(deployment)[:2] == ("True", "ReplicaSetUpdated")  # still "progressing"

    emulator.release_pods(NS, "phishnet-worker-email")
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.status.ready_replicas == 4
    assert _progressing(deployment)[1] == "NewReplicaSetAvailable"


def test_held_pods_past_the_progress_deadline(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    seed_worker(emulator, replicas=1)
    emulator.hold_pods(NS, "phishnet-worker-email", "ImagePullBackOff", deadline_exceeded=True)
    apps = apps_api(api)
    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 2}})
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    status, reason, message = _progressing(deployment)
    assert (status, reason) == ("False", "ProgressDeadlineExceeded")
    assert message.endswith("has timed out progressing.")
    with pytest.raises(ValueError, match="cannot hold pods with 'Sleepy'"):
        emulator.hold_pods(NS, "phishnet-worker-email", "Sleepy")
