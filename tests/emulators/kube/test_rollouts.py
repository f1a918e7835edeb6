"""Rollouts on the Kubernetes emulator: restarts, stalled rollouts, strategic merge of a
container's env, status with auto-reconcile off, an enforced HPA."""

from __future__ import annotations

from kubernetes import client

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    RESTARTED_AT,
    WORKER_LABELS,
    apps_api,
    autoscaling_api,
    core_api,
    replicas_of,
    seed_worker,
)


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
