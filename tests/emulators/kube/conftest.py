"""Fixtures: a started Kubernetes emulator and a real ``kubernetes`` client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import api_client


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator(seed=7)
    emu.start_in_thread()
    try:
        yield emu
    finally:
        emu.stop_thread()


@pytest.fixture
def api(emulator: KubeEmulator, tmp_path: Path) -> Iterator[client.ApiClient]:
    with api_client(emulator, tmp_path) as api:
        yield api
