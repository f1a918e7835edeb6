"""Deployments through the real ``kubernetes`` client: the scale subresource, unknown
names, invalid replicas and optimistic concurrency."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    apps_api,
    core_api,
    seed_worker,
    status_of,
)

# --- deployments and scale ----------------------------------------------------------


def test_scale_subresource_read_and_patch(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=2)
    apps = apps_api(api)
    core = core_api(api)

    before = apps.read_namespaced_deployment_scale("phishnet-worker-email", NS)
    assert before.kind == "Scale"
    assert before.api_version == "autoscaling/v1"
    assert (before.spec.replicas, before.status.replicas) == (2, 2)
    assert before.status.selector == "app=phishnet-worker-email,component=worker"

    patched = apps.patch_namespaced_deployment_scale(
        "phishnet-worker-email", NS, {"spec": {"replicas": 6}}
    )
    assert patched.spec.replicas == 6
    assert int(patched.metadata.resource_version) > int(before.metadata.resource_version)

    after = apps.read_namespaced_deployment_scale("phishnet-worker-email", NS)
    assert (after.spec.replicas, after.status.replicas) == (6, 6)
    pods = core.list_namespaced_pod(NS, label_selector="component=worker").items
    assert len(pods) == 6
    assert all(p.status.phase == "Running" for p in pods)
    assert all(p.metadata.name.startswith("phishnet-worker-email-") for p in pods)
    assert pods[0].spec.containers[0].resources.limits == {"cpu": "1", "memory": "512Mi"}

    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.metadata.generation == 2
    assert deployment.status.observed_generation == 2
    assert (deployment.status.ready_replicas, deployment.status.available_replicas) == (6, 6)
    conditions = {c.type: (c.status, c.reason) for c in deployment.status.conditions}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }

    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 1}})
    assert len(core.list_namespaced_pod(NS, label_selector="component=worker").items) == 1


def test_unknown_names_are_404(emulator: KubeEmulator, api: client.ApiClient) -> None:
    apps = apps_api(api)
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("nope", NS)
    assert info.value.status == 404
    assert status_of(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale("nope", NS, {"spec": {"replicas": 1}})
    assert info.value.status == 404
    with pytest.raises(ApiException) as info:
        core_api(api).read_namespaced_pod_log("ghost", NS)
    assert status_of(info.value)["message"] == 'pods "ghost" not found'


def test_negative_replicas_are_invalid(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator)
    apps = apps_api(api)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": -1}}
        )
    assert info.value.status == 422
    status = status_of(info.value)
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Scale.autoscaling "phishnet-worker-email" is invalid: spec.replicas: '
        "Invalid value: -1: must be greater than or equal to 0"
    )
    assert status["details"]["causes"][0]["field"] == "spec.replicas"

    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("phishnet-worker-email", NS, {"spec": {"replicas": -3}})
    assert info.value.status == 422
    assert status_of(info.value)["message"].startswith(
        'Deployment.apps "phishnet-worker-email" is invalid: spec.replicas'
    )
    assert apps.read_namespaced_deployment("phishnet-worker-email", NS).spec.replicas == 2


def test_replace_with_stale_resource_version_conflicts(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    seed_worker(emulator)
    apps = apps_api(api)
    stale = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 3}})

    stale.spec.replicas = 9
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("phishnet-worker-email", NS, stale)
    assert info.value.status == 409
    status = status_of(info.value)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on deployments.apps "phishnet-worker-email": the object '
        "has been modified; please apply your changes to the latest version and try again"
    )

    fresh = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    fresh.spec.replicas = 4
    replaced = apps.replace_namespaced_deployment("phishnet-worker-email", NS, fresh)
    assert replaced.spec.replicas == 4

    # a patch that carries a stale resourceVersion is refused too
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email",
            NS,
            {
                "metadata": {"resourceVersion": fresh.metadata.resource_version},
                "spec": {"replicas": 5},
            },
        )
    assert info.value.status == 409
