"""Pods on the Kubernetes emulator: label and phase selection, logs, replacement."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    core_api,
    seed_worker,
)

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
