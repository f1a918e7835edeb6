"""The official ``kubernetes`` client, wrapped for an asyncio bot.

The client is synchronous, so every call runs in a worker thread. The
configuration is built per instance from a kubeconfig or the in-cluster
service account and never touches the library's global default, so tests
and several clusters can coexist in one process.

Errors: 403 names the missing permission, 404 says what is missing, 409 is
retried on a fresh read (callers pass the whole read-modify-write), 5xx and
timeouts are retried with backoff and then reported, and 429 (API priority and
fairness) is retried after the wait its ``Retry-After`` asks for, within bounds
(see :mod:`bot.adapters.kube.errors`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from bot.adapters.kube import convert
from bot.adapters.kube.errors import RETRIABLE, KubeError, Throttle, error_from
from bot.adapters.kube.versions import VersionedObjects
from bot.domain.actions import DeploymentPaused
from bot.domain.models import DeploymentStatus
from bot.domain.workloads import (
    HpaStatus,
    JobStatus,
    NodeInfo,
    PodInfo,
    Resources,
    RolloutStatus,
)

__all__ = ["KubeClient", "KubeError"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_REQUEST_TIMEOUT = (5.0, 15.0)  # connect, read (seconds)
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class KubeClient(VersionedObjects):  # versions.py: reads/writes for rollbacks
    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        throttle: Callable[[], Throttle] = Throttle,
    ) -> None:
        """``sleep`` waits between attempts and for a 429's Retry-After (injectable so
        tests do not wait); ``throttle`` makes each call's 429 allowance."""
        self._api = api_client
        self.sleep = sleep
        self.throttle = throttle
        self._apps = k8s.AppsV1Api(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._autoscaling = k8s.AutoscalingV2Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self.request_timeout: tuple[float, float] = _REQUEST_TIMEOUT
        # The client is synchronous: its calls run on threads of this client's own, so
        # calls stuck on a slow API server never use up the event loop's default
        # executor (which the rest of the bot, e.g. chart rendering, shares).
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kube")

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
        # The client's own urllib3 retries would hide our backoff and double timeouts.
        configuration.retries = False
        return cls(k8s.ApiClient(configuration))

    def close(self) -> None:
        self._api.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[[], T], *, conflicts: bool = False) -> T:
        """Runs ``fn`` in a thread with retries.

        5xx answers and unanswered requests are retried ``attempts`` times with
        exponential backoff. A 429 (API priority and fairness) was not executed:
        it is retried after its ``Retry-After`` without using up an attempt,
        within the :class:`Throttle` bounds. ``conflicts=True`` means ``fn``
        re-reads before it writes, so a 409 is retried as a whole on fresh data.
        """
        delay = self._backoff
        failures = 0
        throttle = self.throttle()
        while True:
            try:
                return await asyncio.get_running_loop().run_in_executor(self._threads, fn)
            except ApiException as exc:
                if exc.status == 429:
                    wait = throttle.wait_for(exc, delay)
                    log.warning("kubernetes api answered 429; retrying in %gs", wait)
                    await self.sleep(wait)
                    continue
                failures += 1
                retriable = exc.status in RETRIABLE or (conflicts and exc.status == 409)
                if not retriable or failures >= self._attempts:
                    raise error_from(exc) from exc
                log.warning("kubernetes api answered %s; retrying", exc.status)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                failures += 1
                if failures >= self._attempts:
                    raise KubeError(
                        0, "Unavailable", f"The Kubernetes API did not answer: {type(exc).__name__}"
                    ) from exc
                log.warning("kubernetes api unreachable (%s); retrying", type(exc).__name__)
            await self.sleep(delay)
            delay *= 2

    # ---- deployments -----------------------------------------------------

    async def deployment_status(self, namespace: str, name: str) -> DeploymentStatus:
        dep: Any = await self._call(
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
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
            lambda: self._apps.read_namespaced_deployment_scale(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
        before = int(current.spec.replicas or 0)
        updated: Any = await self._call(
            lambda: self._apps.patch_namespaced_deployment_scale(
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                _request_timeout=self.request_timeout,
            )
        )
        return before, int(updated.spec.replicas or 0)

    async def rollout_restart(self, namespace: str, name: str, at: datetime) -> None:
        """What ``kubectl rollout restart`` does: read the deployment, refuse a paused
        one (:class:`DeploymentPaused`, as kubectl's "can't restart paused deployment"),
        else stamp the pod template's ``restartedAt`` annotation."""
        if await self.paused_deployments(namespace, [name]):
            raise DeploymentPaused(namespace, [name])
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        await self._call(
            lambda: self._apps.patch_namespaced_deployment(
                name, namespace, body, _request_timeout=self.request_timeout
            )
        )

    async def paused_deployments(self, namespace: str, names: Sequence[str]) -> list[str]:
        """Those of ``names`` whose ``spec.paused`` is set (``kubectl rollout pause``)."""
        paused = []
        for name in names:
            dep = await self._read_deployment(namespace, name)
            if dep.spec.paused:
                paused.append(name)
        return paused

    async def _read_deployment(self, namespace: str, name: str) -> Any:
        return await self._call(
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _request_timeout=self.request_timeout
            )
        )

    async def rollout_status(self, namespace: str, name: str) -> RolloutStatus:
        dep: Any = await self._call(
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
        return convert.rollout_status(dep)

    # ---- autoscaling -----------------------------------------------------

    async def hpas(self, namespace: str) -> list[HpaStatus]:
        found: Any = await self._call(
            lambda: self._autoscaling.list_namespaced_horizontal_pod_autoscaler(
                namespace, _request_timeout=self.request_timeout
            )
        )
        return [convert.hpa(item) for item in found.items]

    async def hpa_for(self, namespace: str, deployment: str) -> HpaStatus | None:
        return next((h for h in await self.hpas(namespace) if h.target == deployment), None)

    async def set_hpa_bounds(
        self, namespace: str, name: str, min_replicas: int, max_replicas: int
    ) -> HpaStatus:
        body = {"spec": {"minReplicas": min_replicas, "maxReplicas": max_replicas}}
        updated: Any = await self._call(
            lambda: self._autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                name, namespace, body, _request_timeout=self.request_timeout
            )
        )
        return convert.hpa(updated)

    # ---- configuration -----------------------------------------------------

    async def read_configmap(self, namespace: str, name: str) -> dict[str, str]:
        found: Any = await self._call(
            lambda: self._core.read_namespaced_config_map(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
        return dict(found.data or {})

    async def patch_configmap(
        self, namespace: str, name: str, data: Mapping[str, str]
    ) -> dict[str, tuple[str | None, str]]:
        """Merges ``data`` into the ConfigMap; returns ``{key: (old, new)}`` (old None if unset).

        A read-modify-write pinned to the read's resourceVersion: if someone
        changed the ConfigMap meanwhile the API answers 409 and the whole
        exchange is retried on fresh data, so the old values reported are the
        ones really replaced and no concurrent edit is lost.
        """
        changes = dict(data)

        def exchange() -> dict[str, tuple[str | None, str]]:
            current: Any = self._core.read_namespaced_config_map(
                name, namespace, _request_timeout=self.request_timeout
            )
            before = dict(current.data or {})
            body = {
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "data": changes,
            }
            self._core.patch_namespaced_config_map(
                name, namespace, body, _request_timeout=self.request_timeout
            )
            return {key: (before.get(key), value) for key, value in changes.items()}

        return await self._call(exchange, conflicts=True)

    # ---- jobs --------------------------------------------------------------

    async def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> str:
        """Creates the Job; returns its name.

        A create whose answer was lost (read timeout) is retried and then meets
        409 AlreadyExists for the Job it made itself: a Job of that name carrying
        the manifest's labels is adopted rather than reported as a failure. Any
        other Job of that name is reported, never touched.
        """
        body: Any = dict(manifest)  # the client accepts plain dicts as bodies
        name = str(manifest["metadata"]["name"])
        try:
            created: Any = await self._call(
                lambda: self._batch.create_namespaced_job(
                    namespace, body, _request_timeout=self.request_timeout
                )
            )
        except KubeError as exc:
            if exc.status != 409 or exc.reason != "AlreadyExists":
                raise
            existing: Any = await self._call(
                lambda: self._batch.read_namespaced_job(
                    name, namespace, _request_timeout=self.request_timeout
                )
            )
            wanted = dict(manifest["metadata"].get("labels") or {})
            labels = dict(existing.metadata.labels or {})
            if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
                raise KubeError(
                    409,
                    "AlreadyExists",
                    f"A Job named `{name}` already exists in `{namespace}` and was not "
                    "created by this bot; it was left alone.",
                ) from exc
            log.info("job %s already existed with our labels; following it", name)
            return name
        return str(created.metadata.name)

    async def job_status(self, namespace: str, name: str) -> JobStatus:
        job: Any = await self._call(
            lambda: self._batch.read_namespaced_job(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
        return convert.job_status(job)

    # ---- reads for diagnosis ------------------------------------------------

    async def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        found: Any = await self._call(
            lambda: self._core.list_namespaced_pod(
                namespace, label_selector=selector, _request_timeout=self.request_timeout
            )
        )
        return [convert.pod(item) for item in found.items]

    async def deployment_selector(self, namespace: str, name: str) -> str:
        dep: Any = await self._call(
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _request_timeout=self.request_timeout
            )
        )
        labels = dep.spec.selector.match_labels or {}
        return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))

    async def pod_log(self, namespace: str, pod: str, tail_lines: int) -> str:
        text: Any = await self._call(
            lambda: self._core.read_namespaced_pod_log(
                pod, namespace, tail_lines=tail_lines, _request_timeout=self.request_timeout
            )
        )
        return str(text or "")

    async def nodes(self) -> list[NodeInfo]:
        found: Any = await self._call(
            lambda: self._core.list_node(_request_timeout=self.request_timeout)
        )
        return [convert.node(item) for item in found.items]

    async def pod_usage(self, namespace: str) -> dict[str, Resources] | None:
        """Per-pod usage from metrics.k8s.io; None when no metrics server answers."""
        try:
            found: Any = await self._call(
                lambda: self._custom.list_namespaced_custom_object(
                    "metrics.k8s.io",
                    "v1beta1",
                    namespace,
                    "pods",
                    _request_timeout=self.request_timeout,
                )
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return convert.pod_usage(found)

    async def node_usage(self) -> dict[str, Resources] | None:
        """Per-node usage (``kubectl top nodes``); None when no metrics server answers."""
        try:
            found: Any = await self._call(
                lambda: self._custom.list_cluster_custom_object(
                    "metrics.k8s.io", "v1beta1", "nodes", _request_timeout=self.request_timeout
                )
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return convert.node_usage(found)

    async def ping(self) -> bool:
        try:
            await self._call(lambda: k8s.VersionApi(self._api).get_code())
        except KubeError:
            return False
        return True
