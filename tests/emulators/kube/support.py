"""Shared helpers of the Kubernetes emulator tests: the namespace and worker the tests
seed, a real ``kubernetes`` client from the emulator's kubeconfig, and readers of its
answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)

NS = "phishnet"
WORKER_LABELS = {"app": "phishnet-worker-email", "component": "worker"}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def api_client(emu: KubeEmulator, tmp_path: Path, **kubeconfig: Any) -> client.ApiClient:
    path = emu.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS, **kubeconfig)
    cfg = client.Configuration()
    load: Any = config.load_kube_config
    load(config_file=str(path), client_configuration=cfg)
    return client.ApiClient(cfg)


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
