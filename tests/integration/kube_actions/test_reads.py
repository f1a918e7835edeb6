"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: reads (usage without a metrics server,
quantities in every form the API accepts)."""

from __future__ import annotations

from tests.integration.kube_actions.support import (
    NS,
)

# ---- reads ------------------------------------------------------------------------


async def test_usage_is_none_when_no_metrics_server_answers(emulator, kube):
    emulator.add_node("node-1")
    emulator.set_metrics(nodes={"node-1": {"cpu": "1500m", "memory": "2Gi"}})
    usage = await kube.node_usage()
    assert usage is not None and usage["node-1"].cpu_m == 1500
    assert usage["node-1"].memory == 2 * 1024**3
    emulator.metrics_enabled = False
    assert await kube.node_usage() is None
    assert await kube.pod_usage(NS) is None


async def test_quantities_in_every_form_the_api_accepts_are_read(emulator, kube):
    # parse_quantity from the client itself: decimal and binary suffixes, millis of
    # anything, exponents. Units stay explicit: millicores and bytes.
    emulator.add_node("node-big", allocatable={"cpu": "2k", "memory": "1Pi"})
    emulator.add_node("node-odd", allocatable={"cpu": "1.5", "memory": "12e3"})
    emulator.add_pod(
        NS,
        "odd-limits",
        labels={"app": "odd"},
        resources={
            "requests": {"cpu": "1500000n", "memory": "100m"},
            "limits": {"cpu": "250m", "memory": "1E"},
        },
    )
    emulator.set_metrics(
        pods={f"{NS}/odd-limits": {"cpu": "1u", "memory": "64Ki"}},
        nodes={"node-big": {"cpu": "1", "memory": "2Ei"}},
    )
    nodes = {n.name: n.allocatable for n in await kube.nodes()}
    assert (nodes["node-big"].cpu_m, nodes["node-big"].memory) == (2_000_000, 1024**5)
    assert (nodes["node-odd"].cpu_m, nodes["node-odd"].memory) == (1500, 12_000)
    [pod] = await kube.pods(NS, "app=odd")
    [container] = pod.containers
    assert (container.requests.cpu_m, container.requests.memory) == (2, 1)  # rounded up
    assert (container.limits.cpu_m, container.limits.memory) == (250, 10**18)
    usage = await kube.pod_usage(NS)
    assert usage is not None and (usage["odd-limits"].cpu_m, usage["odd-limits"].memory) == (
        1,
        65536,
    )
    node_usage = await kube.node_usage()
    assert node_usage is not None and node_usage["node-big"].memory == 2 * 1024**6
