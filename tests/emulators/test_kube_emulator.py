"""The Kubernetes API emulator, driven through the real ``kubernetes`` client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
    PolicyRule,
    RequestRecord,
    disallowed_requests,
    load_rules_from_role_yaml,
    unused_permissions,
)

NS = "phishnet"
WORKER_LABELS = {"app": "phishnet-worker-email", "component": "worker"}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator(seed=7)
    emu.start_in_thread()
    try:
        yield emu
    finally:
        emu.stop_thread()


def api_client(emu: KubeEmulator, tmp_path: Path, **kubeconfig: Any) -> client.ApiClient:
    path = emu.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS, **kubeconfig)
    cfg = client.Configuration()
    load: Any = config.load_kube_config
    load(config_file=str(path), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
def api(emulator: KubeEmulator, tmp_path: Path) -> Iterator[client.ApiClient]:
    with api_client(emulator, tmp_path) as api:
        yield api


# The client's generated models type every field Optional; the tests read them as Any.
def apps_api(api: client.ApiClient) -> Any:
    return client.AppsV1Api(api)


def core_api(api: client.ApiClient) -> Any:
    return client.CoreV1Api(api)


def batch_api(api: client.ApiClient) -> Any:
    return client.BatchV1Api(api)


def autoscaling_api(api: client.ApiClient) -> Any:
    return client.AutoscalingV2Api(api)


def custom_api(api: client.ApiClient) -> Any:
    return client.CustomObjectsApi(api)


def apis_api(api: client.ApiClient) -> Any:
    return client.ApisApi(api)


def version_api(api: client.ApiClient) -> Any:
    return client.VersionApi(api)


def core_versions_api(api: client.ApiClient) -> Any:
    return client.CoreApi(api)


def status_of(exc: ApiException) -> dict[str, Any]:
    assert exc.body is not None
    body: dict[str, Any] = json.loads(exc.body)
    return body


def replicas_of(emu: KubeEmulator, name: str = "phishnet-worker-email") -> int:
    deployment = emu.get_deployment(NS, name)
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def seed_worker(emu: KubeEmulator, replicas: int = 2) -> None:
    emu.add_deployment(
        NS,
        "phishnet-worker-email",
        replicas=replicas,
        labels={"component": "worker"},
        pod_labels=WORKER_LABELS,
        resources={
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
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


def test_rollout_restart_replaces_pods(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=3)
    apps = apps_api(api)
    core = core_api(api)
    old_pods = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    old_hashes = {n.rsplit("-", 2)[1] for n in old_pods}

    # what `kubectl rollout restart` sends (strategic merge patch)
    body = {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2025-01-01T10:00:00Z"}}}}
    }
    patched = apps.patch_namespaced_deployment("phishnet-worker-email", NS, body)
    assert patched.spec.template.metadata.annotations == {RESTARTED_AT: "2025-01-01T10:00:00Z"}
    assert patched.spec.template.metadata.labels == WORKER_LABELS  # merged, not replaced
    assert patched.metadata.generation == 2

    new_pods = core.list_namespaced_pod(NS, label_selector="app=phishnet-worker-email").items
    assert len(new_pods) == 3
    assert not old_pods & {p.metadata.name for p in new_pods}
    new_hashes = {p.metadata.labels["pod-template-hash"] for p in new_pods}
    assert len(new_hashes) == 1 and not new_hashes & old_hashes
    assert all(p.metadata.annotations == {RESTARTED_AT: "2025-01-01T10:00:00Z"} for p in new_pods)

    rs = apps.list_namespaced_replica_set(NS).items
    assert sorted(
        (r.spec.replicas, r.metadata.annotations["deployment.kubernetes.io/revision"]) for r in rs
    ) == [(0, "1"), (3, "2")]
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert deployment.status.updated_replicas == 3


def test_stalled_rollout_reports_progress_deadline(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    seed_worker(emulator, replicas=4)
    emulator.stall_rollout(NS, "phishnet-worker-email")
    apps = apps_api(api)
    core = core_api(api)
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}
    apps.patch_namespaced_deployment("phishnet-worker-email", NS, body)

    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    progressing = next(c for c in deployment.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert "has timed out progressing" in progressing.message
    assert deployment.status.updated_replicas == 1
    assert deployment.status.ready_replicas == 4
    waiting = [
        p
        for p in core.list_namespaced_pod(NS).items
        if p.status.container_statuses[0].state.waiting is not None
    ]
    assert [p.status.container_statuses[0].state.waiting.reason for p in waiting] == [
        "CrashLoopBackOff"
    ]

    emulator.release_rollout(NS, "phishnet-worker-email")
    deployment = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    progressing = next(c for c in deployment.status.conditions if c.type == "Progressing")
    assert progressing.reason == "NewReplicaSetAvailable"
    assert deployment.status.updated_replicas == 4


def test_strategic_merge_of_container_env_keeps_the_rest(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    emulator.add_deployment(
        NS,
        "phishnet-worker-analysis",
        replicas=2,
        env={"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"},
    )
    apps = apps_api(api)
    core = core_api(api)
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "worker",
                            "env": [
                                {"name": "WORKER_CONCURRENCY", "value": "8"},
                                {"name": "WORKER_BATCH_SIZE", "value": "50"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("phishnet-worker-analysis", NS, body)
    container = patched.spec.template.spec.containers[0]
    assert {e.name: e.value for e in container.env} == {
        "WORKER_CONCURRENCY": "8",
        "LOG_LEVEL": "info",
        "WORKER_BATCH_SIZE": "50",
    }
    assert container.image and container.resources.requests == {"cpu": "250m", "memory": "256Mi"}
    pods = core.list_namespaced_pod(NS, label_selector="app=phishnet-worker-analysis").items
    assert len(pods) == 2
    assert all(
        {e.name: e.value for e in p.spec.containers[0].env}["WORKER_CONCURRENCY"] == "8"
        for p in pods
    )

    # `null` deletes a key, `$patch: delete` removes a list item by its merge key
    apps.patch_namespaced_deployment(
        "phishnet-worker-analysis",
        NS,
        {
            "metadata": {"labels": {"app": None}},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "worker",
                                "env": [{"name": "LOG_LEVEL", "$patch": "delete"}],
                            }
                        ]
                    }
                }
            },
        },
    )
    deployment = apps.read_namespaced_deployment("phishnet-worker-analysis", NS)
    assert [e.name for e in deployment.spec.template.spec.containers[0].env] == [
        "WORKER_CONCURRENCY",
        "WORKER_BATCH_SIZE",
    ]
    assert "app" not in (deployment.metadata.labels or {})


def test_status_lags_until_reconcile_when_auto_reconcile_is_off(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    seed_worker(emulator, replicas=2)
    emulator.auto_reconcile = False
    apps = apps_api(api)
    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 4}})
    lagging = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert (lagging.metadata.generation, lagging.status.observed_generation) == (2, 1)
    assert lagging.status.replicas == 2
    emulator.reconcile()
    settled = apps.read_namespaced_deployment("phishnet-worker-email", NS)
    assert (settled.status.observed_generation, settled.status.replicas) == (2, 4)
    assert len(emulator.pods_of(NS, "phishnet-worker-email")) == 4


def test_enforced_hpa_takes_scaling_back(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=3)
    emulator.enforce_hpa = True
    emulator.add_hpa(NS, "worker-hpa", "phishnet-worker-email", 2, 10, 3, 3)
    apps = apps_api(api)
    apps.patch_namespaced_deployment_scale("phishnet-worker-email", NS, {"spec": {"replicas": 8}})
    assert replicas_of(emulator) == 3  # the HPA scaled it back to what it wants
    autoscaling_api(api).patch_namespaced_horizontal_pod_autoscaler(
        "worker-hpa", NS, {"spec": {"minReplicas": 8}}
    )
    assert replicas_of(emulator) == 8
    events = (
        core_api(api).list_namespaced_event(NS, field_selector="reason=SuccessfulRescale").items
    )
    assert {e.message.split(";")[0] for e in events} == {"New size: 3", "New size: 8"}


def test_list_pagination(emulator: KubeEmulator, api: client.ApiClient) -> None:
    for index in range(5):
        emulator.add_configmap(NS, f"cm-{index}", {"i": str(index)})
    core = core_api(api)
    first = core.list_namespaced_config_map(NS, limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(NS, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm-2", "cm-3", "cm-4"]
    assert rest.metadata._continue is None


def test_list_deployments_with_set_based_selectors(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    for name, tier in (("worker-a", "worker"), ("worker-b", "worker"), ("web", "frontend")):
        emulator.add_deployment(NS, name, replicas=1, labels={"component": tier, "app": name})
    apps = apps_api(api)

    def names(selector: str) -> list[str]:
        items = apps.list_namespaced_deployment(NS, label_selector=selector).items
        return [d.metadata.name for d in items]

    assert names("component=worker") == ["worker-a", "worker-b"]
    assert names("component in (frontend, other)") == ["web"]
    assert names("component!=worker") == ["web"]
    assert names("app,component notin (frontend)") == ["worker-a", "worker-b"]
    assert names("!app") == []
    with pytest.raises(ApiException) as info:
        apps.list_namespaced_deployment(NS, label_selector="component in in")
    assert info.value.status == 400


# --- configmaps -----------------------------------------------------------------------


def test_configmap_merge_and_json_patch(emulator: KubeEmulator, api: client.ApiClient) -> None:
    emulator.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4", "MODE": "normal"})
    core = core_api(api)

    merged = core.patch_namespaced_config_map(
        "phishnet-config",
        NS,
        {"data": {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50", "MODE": None}},
        _content_type="application/merge-patch+json",
    )
    assert merged.data == {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50"}

    patched = core.patch_namespaced_config_map(
        "phishnet-config",
        NS,
        [
            {"op": "test", "path": "/data/WORKER_CONCURRENCY", "value": "8"},
            {"op": "replace", "path": "/data/WORKER_CONCURRENCY", "value": "16"},
            {"op": "add", "path": "/data/WORKER_TIMEOUT", "value": "300"},
            {"op": "remove", "path": "/data/WORKER_BATCH_SIZE"},
        ],
    )
    assert patched.data == {"WORKER_CONCURRENCY": "16", "WORKER_TIMEOUT": "300"}
    assert int(patched.metadata.resource_version) > int(merged.metadata.resource_version)
    stored = emulator.get_object("configmaps", NS, "phishnet-config")
    assert stored is not None and stored["data"]["WORKER_CONCURRENCY"] == "16"

    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map(
            "phishnet-config", NS, [{"op": "remove", "path": "/data/MISSING"}]
        )
    assert info.value.status == 422

    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map("phishnet-config", NS, {"data": {"WORKER_TIMEOUT": 300}})
    assert info.value.status == 422
    assert status_of(info.value)["reason"] == "Invalid"
    assert "data[WORKER_TIMEOUT]" in status_of(info.value)["message"]


# --- pods and logs --------------------------------------------------------------------


def test_pods_by_label_and_phase_and_logs(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=1)
    emulator.add_pod(
        NS,
        "worker-crash",
        labels={"component": "worker"},
        waiting_reason="CrashLoopBackOff",
        terminated_reason="OOMKilled",
        restart_count=7,
    )
    emulator.add_pod(
        NS, "worker-pending", labels={"component": "worker"}, pending_reason="Unschedulable"
    )
    emulator.add_pod(NS, "redis-0", labels={"app": "redis"})
    emulator.set_pod_log(NS, "worker-crash", "line 1\nERROR boom\nline 3\nFATAL dead\n")
    core = core_api(api)

    workers = core.list_namespaced_pod(NS, label_selector="component=worker").items
    assert len(workers) == 3
    running = core.list_namespaced_pod(
        NS, label_selector="component=worker", field_selector="status.phase=Running"
    ).items
    assert len(running) == 2

    crash = core.read_namespaced_pod("worker-crash", NS)
    status = crash.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.exit_code == 137
    assert (status.restart_count, status.ready) == (7, False)

    pending = core.read_namespaced_pod("worker-pending", NS)
    scheduled = pending.status.conditions[0]
    assert (pending.status.phase, scheduled.type, scheduled.status, scheduled.reason) == (
        "Pending",
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert scheduled.message == "0/3 nodes are available: 3 Insufficient cpu."

    log = core.read_namespaced_pod_log("worker-crash", NS, tail_lines=2)
    assert log == "line 3\nFATAL dead\n"
    assert core.read_namespaced_pod_log("worker-crash", NS, container="worker").startswith("line 1")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("worker-crash", NS, container="sidecar")
    assert info.value.status == 400
    emulator.set_pod_log(NS, "worker-crash", "before the OOM kill\n", previous=True)
    assert core.read_namespaced_pod_log("worker-crash", NS, previous=True) == (
        "before the OOM kill\n"
    )
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("redis-0", NS, previous=True)
    assert info.value.status == 400

    events = core.list_namespaced_event(
        NS, field_selector="involvedObject.name=worker-pending"
    ).items
    assert [(e.type, e.reason) for e in events] == [("Warning", "FailedScheduling")]


def test_deleted_pod_is_replaced(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=2)
    core = core_api(api)
    victim = core.list_namespaced_pod(NS).items[0].metadata.name
    deleted = core.delete_namespaced_pod(victim, NS)
    assert deleted.metadata.name == victim
    names = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    assert len(names) == 2 and victim not in names


# --- jobs -----------------------------------------------------------------------------


def drain_job(name: str = "emergency-queue-drain", image: str | None = "phishnet/worker") -> Any:
    container: dict[str, Any] = {
        "name": "emergency-processor",
        "command": ["python", "-m", "app.workers.emergency_processor"],
    }
    if image is not None:
        container["image"] = image
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 3,
            "template": {"spec": {"containers": [container], "restartPolicy": "Never"}},
        },
    }


def test_jobs_create_conflict_complete_and_delete(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    batch = batch_api(api)
    core = core_api(api)
    created = batch.create_namespaced_job(NS, drain_job())
    assert created.metadata.uid
    assert created.status is None or created.status.active is None

    with pytest.raises(ApiException) as info:
        batch.create_namespaced_job(NS, drain_job())
    assert info.value.status == 409
    assert status_of(info.value)["reason"] == "AlreadyExists"
    assert status_of(info.value)["message"] == 'jobs.batch "emergency-queue-drain" already exists'

    running = batch.read_namespaced_job_status("emergency-queue-drain", NS)
    assert running.status.active == 1 and running.status.succeeded is None
    pods = core.list_namespaced_pod(NS, label_selector="job-name=emergency-queue-drain").items
    assert len(pods) == 1

    emulator.complete_job(NS, "emergency-queue-drain")
    done = batch.read_namespaced_job("emergency-queue-drain", NS)
    assert done.status.succeeded == 1 and done.status.active is None
    assert any(c.type == "Complete" and c.status == "True" for c in done.status.conditions)

    result = batch.delete_namespaced_job(
        "emergency-queue-drain", NS, propagation_policy="Background"
    )
    assert result["status"] == "Success"  # the v37 client returns delete Status as a dict
    assert result["details"]["kind"] == "jobs"
    assert core.list_namespaced_pod(NS, label_selector="job-name=emergency-queue-drain").items == []
    with pytest.raises(ApiException) as info:
        batch.read_namespaced_job("emergency-queue-drain", NS)
    assert info.value.status == 404


def test_job_validation_and_failure(emulator: KubeEmulator, api: client.ApiClient) -> None:
    batch = batch_api(api)
    with pytest.raises(ApiException) as info:
        batch.create_namespaced_job(NS, drain_job("no-image", image=None))
    assert info.value.status == 422
    assert status_of(info.value)["message"] == (
        'Job.batch "no-image" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    emulator.fail_jobs = True
    emulator.job_duration = 0
    batch.create_namespaced_job(NS, drain_job("doomed"))
    failed = batch.read_namespaced_job("doomed", NS)
    assert failed.status.failed == 4
    assert [c.reason for c in failed.status.conditions if c.type == "Failed"] == [
        "BackoffLimitExceeded"
    ]


# --- HPA, nodes, events, metrics ----------------------------------------------------------


def test_hpa_v2_follows_scaling(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=2)
    emulator.add_hpa(NS, "phishnet-worker-email-hpa", "phishnet-worker-email", 2, 20, 2, 3)
    autoscaling = autoscaling_api(api)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("phishnet-worker-email-hpa", NS)
    assert hpa.spec.scale_target_ref.name == "phishnet-worker-email"
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 20)
    assert (hpa.status.current_replicas, hpa.status.desired_replicas) == (2, 3)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 70

    apps_api(api).patch_namespaced_deployment_scale(
        "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
    )
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("phishnet-worker-email-hpa", NS)
    assert hpa.status.current_replicas == 5

    patched = autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "phishnet-worker-email-hpa", NS, {"spec": {"minReplicas": 6}}
    )
    assert patched.spec.min_replicas == 6
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("phishnet-worker-email-hpa", NS)
    assert hpa.status.desired_replicas == 6
    listed = autoscaling.list_namespaced_horizontal_pod_autoscaler(NS).items
    assert [h.metadata.name for h in listed] == ["phishnet-worker-email-hpa"]


def test_nodes_list_and_read(emulator: KubeEmulator, api: client.ApiClient) -> None:
    emulator.add_node(
        "node-1",
        {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
        {"cpu": "4", "memory": "16Gi", "pods": "110"},
    )
    emulator.add_node("node-2", unschedulable=True, ready=False)
    core = core_api(api)
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["node-1", "node-2"]
    assert nodes[0].status.allocatable == {"cpu": "3920m", "memory": "15Gi", "pods": "110"}
    assert nodes[0].status.capacity["cpu"] == "4"
    ready = {
        n.metadata.name: next(c.status for c in n.status.conditions if c.type == "Ready")
        for n in nodes
    }
    assert ready == {"node-1": "True", "node-2": "False"}
    assert core.read_node("node-2").spec.unschedulable is True
    assert [
        n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=false").items
    ] == ["node-1"]
    seed_worker(emulator, replicas=2)
    assert {p.spec.node_name for p in core.list_namespaced_pod(NS).items} == {"node-1"}


def test_metrics_and_metrics_server_absent(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator, replicas=2)
    emulator.add_pod(NS, "redis-0", labels={"app": "redis"})
    emulator.add_node("node-1")
    emulator.set_metrics(
        pods={f"{NS}/redis-0": {"cpu": "50m", "memory": "64Mi"}},
        deployments={f"{NS}/phishnet-worker-email": {"cpu": "480m", "memory": "500Mi"}},
        nodes={"node-1": {"cpu": "3500m", "memory": "12Gi"}},
    )
    custom = custom_api(api)
    pods = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")
    assert pods["kind"] == "PodMetricsList"
    usage = {item["metadata"]["name"]: item["containers"][0]["usage"] for item in pods["items"]}
    assert usage["redis-0"] == {"cpu": "50m", "memory": "64Mi"}
    assert len(usage) == 3
    workers = custom.list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", label_selector="component=worker"
    )
    assert [i["containers"][0]["usage"]["cpu"] for i in workers["items"]] == ["480m", "480m"]
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert nodes["items"][0]["usage"] == {"cpu": "3500m", "memory": "12Gi"}
    groups = [g.name for g in apis_api(api).get_api_versions().groups]
    assert "metrics.k8s.io" in groups

    emulator.metrics_enabled = False
    with pytest.raises(ApiException) as info:
        custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")
    assert info.value.status == 404
    assert status_of(info.value)["message"] == "the server could not find the requested resource"
    groups = [g.name for g in apis_api(api).get_api_versions().groups]
    assert "metrics.k8s.io" not in groups and "apps" in groups


# --- RBAC, recording, faults ------------------------------------------------------------------


ROLE_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: backlog-bot, namespace: phishnet}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: backlog-bot, namespace: phishnet}
rules:
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["get", "list"]
  - apiGroups: ["apps"]
    resources: ["deployments/scale"]
    verbs: ["get"]
  - apiGroups: [""]
    resources: ["pods", "pods/log"]
    verbs: ["get", "list"]
"""


def test_rbac_forbids_with_the_real_message(
    emulator: KubeEmulator, api: client.ApiClient, tmp_path: Path
) -> None:
    seed_worker(emulator)
    role = tmp_path / "role.yaml"
    role.write_text(ROLE_YAML)
    rules = load_rules_from_role_yaml(role)
    assert rules[1] == PolicyRule(("apps",), ("deployments/scale",), ("get",))
    emulator.rbac_rules = rules
    emulator.user = "system:serviceaccount:phishnet:backlog-bot"
    apps = apps_api(api)

    assert apps.read_namespaced_deployment_scale("phishnet-worker-email", NS).spec.replicas == 2
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 4}}
        )
    assert info.value.status == 403
    status = status_of(info.value)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'deployments.apps "phishnet-worker-email" is forbidden: User '
        '"system:serviceaccount:phishnet:backlog-bot" cannot patch resource "deployments/scale" '
        'in API group "apps" in the namespace "phishnet"'
    )
    assert status["details"] == {
        "name": "phishnet-worker-email",
        "group": "apps",
        "kind": "deployments",
    }
    with pytest.raises(ApiException) as info:
        core_api(api).list_node()
    assert status_of(info.value)["message"] == (
        'nodes is forbidden: User "system:serviceaccount:phishnet:backlog-bot" cannot list '
        'resource "nodes" in API group "" at the cluster scope'
    )
    assert replicas_of(emulator) == 2


def test_requests_are_recorded_for_role_checks(
    emulator: KubeEmulator, api: client.ApiClient, tmp_path: Path
) -> None:
    seed_worker(emulator)
    emulator.clear_requests()
    apps = apps_api(api)
    core = core_api(api)
    apps.list_namespaced_deployment(NS, label_selector="component=worker")
    apps.read_namespaced_deployment_scale("phishnet-worker-email", NS)
    pod = core.list_namespaced_pod(NS).items[0].metadata.name
    core.read_namespaced_pod_log(pod, NS, tail_lines=10)
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("missing", NS)

    assert emulator.requests == [
        RequestRecord("list", "apps", "deployments", None, NS, None),
        RequestRecord("get", "apps", "deployments", "scale", NS, "phishnet-worker-email"),
        RequestRecord("list", "", "pods", None, NS, None),
        RequestRecord("get", "", "pods", "log", NS, pod),
        RequestRecord("get", "apps", "deployments", None, NS, "missing"),
    ]
    assert [r.code for r in emulator.requests] == [200, 200, 200, 200, 404]

    role = tmp_path / "role.yaml"
    role.write_text(ROLE_YAML)
    rules = load_rules_from_role_yaml(role)
    assert disallowed_requests(rules, emulator.requests) == []
    assert unused_permissions(rules, emulator.requests) == [
        ("", "pods", "get"),
        ("", "pods/log", "list"),
    ]
    assert (
        disallowed_requests(
            rules, [RequestRecord("patch", "apps", "deployments", "scale", NS, "x")]
        )
        != []
    )


def test_injected_failures_and_delays(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator)
    apps = apps_api(api)
    emulator.fail_next("patch", "deployments/scale", status=500)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 3}}
        )
    assert info.value.status == 500
    assert status_of(info.value)["reason"] == "InternalError"
    assert replicas_of(emulator) == 2
    # only once: the retry goes through
    assert (
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 3}}
        ).spec.replicas
        == 3
    )

    emulator.fail_next("GET", "deployments", status=503, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            apps.read_namespaced_deployment("phishnet-worker-email", NS)
        assert info.value.status == 503
        assert status_of(info.value)["reason"] == "ServiceUnavailable"
    assert apps.read_namespaced_deployment("phishnet-worker-email", NS).spec.replicas == 3

    emulator.fail_next("patch", "deployments/scale", status=409)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 4}}
        )
    assert status_of(info.value)["reason"] == "Conflict"

    # urllib3 retries a read timeout 3 times on its own, then gives up
    emulator.clear_requests()
    emulator.delay_next("get", "deployments/scale", seconds=0.5, times=4)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as timeout:
        apps.read_namespaced_deployment_scale("phishnet-worker-email", NS, _request_timeout=0.2)
    assert isinstance(timeout.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert len(emulator.requests) == 4
    assert (
        apps.read_namespaced_deployment_scale(
            "phishnet-worker-email", NS, _request_timeout=2
        ).spec.replicas
        == 3
    )


# --- the rest of the API surface -------------------------------------------------------------


def test_discovery_version_and_unknown_paths(emulator: KubeEmulator, api: client.ApiClient) -> None:
    assert version_api(api).get_code().major == "1"
    names = {r.name for r in apps_api(api).get_api_resources().resources}
    assert {"deployments", "deployments/scale", "replicasets"} <= names
    core_names = {r.name for r in core_api(api).get_api_resources().resources}
    assert {"pods", "pods/log", "configmaps", "nodes", "events"} <= core_names
    assert core_versions_api(api).get_api_versions().versions == ["v1"]

    def raw(method: str, path: str) -> tuple[int, dict[str, Any]]:
        untyped: Any = api
        response = untyped.call_api(*untyped.param_serialize(method, path, body={}))
        response.read()
        return response.status, json.loads(response.data)

    status, body = raw("GET", "/apis/apps/v1/namespaces/x/statefulsets")
    assert (status, body["reason"]) == (404, "NotFound")
    assert body["message"] == "the server could not find the requested resource"
    status, body = raw("POST", "/apis/apps/v1/namespaces/x/deployments/a/scale")
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    status, body = raw("GET", "/apis/example.com/v1")
    assert status == 404


def test_watch_streams_changes(
    emulator: KubeEmulator, api: client.ApiClient, tmp_path: Path
) -> None:
    seed_worker(emulator, replicas=1)
    core = core_api(api)
    first_seen = threading.Event()

    def scale_up() -> None:
        first_seen.wait(5)
        with api_client(emulator, tmp_path / "other") as other:
            apps_api(other).patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 2}}
            )

    worker = threading.Thread(target=scale_up)
    worker.start()
    seen: list[tuple[str, str]] = []
    stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(core.list_namespaced_pod, NS, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        first_seen.set()
        if event["type"] == "ADDED" and len({name for _, name in seen}) == 2:
            stream.stop()
    worker.join()
    assert seen[0][0] == "ADDED"
    assert len({name for kind, name in seen if kind == "ADDED"}) == 2
    assert emulator.requests[0].verb == "watch"


async def test_runs_on_the_event_loop_too(tmp_path: Path) -> None:
    async with KubeEmulator() as emu:
        emu.add_deployment(NS, "phishnet-worker-analysis", replicas=3)

        def read() -> int:
            with api_client(emu, tmp_path) as api:
                scale = apps_api(api).read_namespaced_deployment_scale(
                    "phishnet-worker-analysis", NS
                )
                return int(scale.status.replicas)

        assert await asyncio.to_thread(read) == 3
    assert not emu.running


# --- the API server under load, paused deployments, pods that never become Ready -------------


def test_throttled_requests_are_answered_like_api_priority_and_fairness(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    seed_worker(emulator)
    path = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    cfg = client.Configuration()
    load: Any = config.load_kube_config
    load(config_file=str(path), client_configuration=cfg)
    cfg.retries = False  # urllib3 would otherwise honour Retry-After by itself
    with client.ApiClient(cfg) as api:
        apps = apps_api(api)
        emulator.throttle_next("patch", "deployments/scale", retry_after=7)
        with pytest.raises(ApiException) as info:
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            )
        assert info.value.status == 429
        assert info.value.headers["Retry-After"] == "7"
        status = status_of(info.value)
        assert status["kind"] == "Status" and status["reason"] == "TooManyRequests"
        assert status["message"] == "Too many requests, please try again later."
        assert status["details"] == {"retryAfterSeconds": 7}
        assert replicas_of(emulator) == 2  # a throttled request is not executed
        # per verb and resource: a read of the same deployment still goes through
        emulator.throttle_next("patch", "deployments/scale")
        assert apps.read_namespaced_deployment_scale("phishnet-worker-email", NS).spec.replicas == 2
        with pytest.raises(ApiException) as info:
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            )
        assert info.value.headers["Retry-After"] == "1"  # the API server's usual wait
        assert (
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            ).spec.replicas
            == 5
        )
    codes = [r.code for r in emulator.requests if r.resource == "deployments"]
    assert codes.count(429) == 2


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
