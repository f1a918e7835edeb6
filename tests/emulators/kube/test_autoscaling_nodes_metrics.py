"""HPAs, nodes, events and metrics.k8s.io on the Kubernetes emulator."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    apis_api,
    apps_api,
    autoscaling_api,
    core_api,
    custom_api,
    seed_worker,
    status_of,
)

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
