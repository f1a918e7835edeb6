"""The official ``kubernetes`` client, wrapped for an asyncio bot.

The client is synchronous, so every call runs in a worker thread. The
configuration is built per instance from a kubeconfig or the in-cluster
service account and never touches the library's global default, so tests
and several clusters can coexist in one process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from bot.domain.models import DeploymentStatus

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRIABLE = {500, 502, 503, 504}


class KubeError(RuntimeError):
    """An API error, worded for the person who asked (never a raw response dump)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


def _error_from(exc: ApiException) -> KubeError:
    reason = exc.reason or ""
    message = reason
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("reason", reason)
        message = body.get("message", message)
    except (ValueError, TypeError):
        pass
    status = int(exc.status or 0)
    if status == 403:
        message = f"The bot lacks a Kubernetes permission: {message}"
    elif status == 404:
        message = f"Not found in Kubernetes: {message}"
    return KubeError(status, reason, message)


class KubeClient:
    def __init__(self, api_client: k8s.ApiClient, *, attempts: int = 3) -> None:
        self._api = api_client
        self._apps = k8s.AppsV1Api(api_client)
        self._attempts = attempts

    @classmethod
    def from_config(cls, kubeconfig: Path | None = None) -> KubeClient:
        """From ``kubeconfig`` (or ``KUBECONFIG``/~/.kube/config), else in-cluster."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_kube_config(
                config_file=str(kubeconfig) if kubeconfig else None,
                client_configuration=configuration,
            )
        except (k8s_config.ConfigException, FileNotFoundError, TypeError):
            k8s_config.load_incluster_config(client_configuration=configuration)
        return cls(k8s.ApiClient(configuration))

    def close(self) -> None:
        self._api.close()

    async def _call(self, fn: Callable[[], T]) -> T:
        delay = 0.2
        for attempt in range(1, self._attempts + 1):
            try:
                return await asyncio.to_thread(fn)
            except ApiException as exc:
                if exc.status in _RETRIABLE and attempt < self._attempts:
                    log.warning("kubernetes api %s, retrying", exc.status)
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise _error_from(exc) from exc
        raise AssertionError("unreachable")

    async def deployment_status(self, namespace: str, name: str) -> DeploymentStatus:
        dep: Any = await self._call(lambda: self._apps.read_namespaced_deployment(name, namespace))
        status = dep.status
        return DeploymentStatus(
            name=name,
            desired=int(dep.spec.replicas or 0),
            ready=int(status.ready_replicas or 0),
            available=int(status.available_replicas or 0),
            updated=int(status.updated_replicas or 0),
        )

    async def scale(self, namespace: str, name: str, replicas: int) -> tuple[int, int]:
        """Sets ``spec.replicas`` through the scale subresource; returns (before, after)."""
        current: Any = await self._call(
            lambda: self._apps.read_namespaced_deployment_scale(name, namespace)
        )
        before = int(current.spec.replicas or 0)
        updated: Any = await self._call(
            lambda: self._apps.patch_namespaced_deployment_scale(
                name, namespace, {"spec": {"replicas": replicas}}
            )
        )
        return before, int(updated.spec.replicas or 0)

    async def ping(self) -> bool:
        try:
            await self._call(lambda: k8s.VersionApi(self._api).get_code())
        except (KubeError, OSError):
            return False
        return True
