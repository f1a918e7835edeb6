"""ConfigMaps on the Kubernetes emulator: merge and JSON patches."""

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
    status_of,
)

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
