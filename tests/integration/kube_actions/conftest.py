"""Fixtures: the Kubernetes emulator seeded with the two worker deployments and the
ConfigMap, a client configuration from its kubeconfig, and the bot's KubeClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bot.adapters.kube import KubeClient
from bot.emulators.kube_api import KubeEmulator
from tests.integration.kube_actions.support import (
    ANALYSIS,
    EMAIL,
    NS,
)


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator(seed=11)
    emu.start_in_thread()
    for name in (EMAIL, ANALYSIS):
        emu.add_deployment(NS, name, replicas=2, pod_labels={"app": name, "component": "worker"})
    emu.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"})
    try:
        yield emu
    finally:
        emu.stop_thread()


@pytest.fixture
def configuration(emulator: KubeEmulator, tmp_path: Path) -> k8s.Configuration:
    path = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    configuration = k8s.Configuration()
    load: Any = k8s_config.load_kube_config
    load(config_file=str(path), client_configuration=configuration)
    configuration.retries = False  # as KubeClient.from_config does
    return configuration


@pytest.fixture
def kube(configuration: k8s.Configuration) -> Iterator[KubeClient]:
    # A short backoff: the retries are what is under test, not their spacing.
    client = KubeClient(k8s.ApiClient(configuration), backoff_seconds=0.01)
    yield client
    client.close()
