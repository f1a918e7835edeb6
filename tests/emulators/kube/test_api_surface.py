"""The rest of the Kubernetes emulator's API surface: discovery, version, unknown paths,
lists (paging, set-based selectors), watches, running on the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    api_client,
    apps_api,
    core_api,
    core_versions_api,
    seed_worker,
    version_api,
)


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
