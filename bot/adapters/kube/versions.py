"""Objects read with their versions, and written back only if still unchanged: what a
rollback needs (see :mod:`bot.domain.rollback`).

A write carries the ``metadata.resourceVersion`` it was based on; the API server
treats it as a precondition and answers 409 Conflict when the object changed since
(Kubernetes API concepts, "Resource versions"; a patch carrying a resourceVersion is
an optimistic-concurrency write like an update). The 409 is not retried here: the
caller was about to restore a value over someone else's change, and must say so.

A mixin of :class:`~bot.adapters.kube.client.KubeClient` (it uses its ``_call`` and
API objects), kept apart so the client stays one screen of calls per concern.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kubernetes import client as k8s

from bot.adapters.kube.errors import KubeError
from bot.domain.rollback import Change, ObjectNow, Target


class VersionedObjects:
    _apps: k8s.AppsV1Api
    _core: k8s.CoreV1Api
    _autoscaling: k8s.AutoscalingV2Api
    request_timeout: tuple[float, float]
    _call: Callable[..., Awaitable[Any]]

    async def object_now(
        self, target: Target, namespace: str, name: str, keys: Sequence[str] = ()
    ) -> ObjectNow:
        """The object's resourceVersion, generation and the values a :class:`Change`
        names (``replicas``; ``min_replicas``/``max_replicas``; the ConfigMap ``keys``,
        None when unset). Raises :class:`KubeError` (404 when it is gone)."""
        timeout = self.request_timeout
        if target is Target.DEPLOYMENT:
            dep: Any = await self._call(
                lambda: self._apps.read_namespaced_deployment(
                    name, namespace, _request_timeout=timeout
                )
            )
            return _now(dep.metadata, {"replicas": int(dep.spec.replicas or 0)})
        if target is Target.HPA:
            # Listed, not read by name: the Role grants `list` (the HPA is found by the
            # deployment it scales), and one HPA more or less is no cost.
            found: Any = await self._call(
                lambda: self._autoscaling.list_namespaced_horizontal_pod_autoscaler(
                    namespace, _request_timeout=timeout
                )
            )
            hpa = next((item for item in found.items if item.metadata.name == name), None)
            if hpa is None:
                raise KubeError(404, "NotFound", f"HPA `{name}` no longer exists in `{namespace}`.")
            values = {
                "min_replicas": int(hpa.spec.min_replicas or 1),
                "max_replicas": int(hpa.spec.max_replicas),
            }
            return _now(hpa.metadata, values)
        config: Any = await self._call(
            lambda: self._core.read_namespaced_config_map(name, namespace, _request_timeout=timeout)
        )
        data = dict(config.data or {})
        return _now(config.metadata, {key: data.get(key) for key in keys})

    async def write_pinned(
        self, change: Change, values: dict[str, Any], resource_version: str
    ) -> str:
        """Writes ``values`` (keys as in ``change.before``) to ``change``'s object, only
        if its resourceVersion is still ``resource_version``; returns the new one.
        A ConfigMap key whose value is None is removed. Raises :class:`KubeError`
        (409 Conflict when the object changed in between)."""
        namespace, name, timeout = change.namespace, change.name, self.request_timeout
        pin = {"resourceVersion": resource_version}
        if change.target is Target.DEPLOYMENT:
            body: dict[str, Any] = {"metadata": pin, "spec": {"replicas": int(values["replicas"])}}
            done: Any = await self._call(
                lambda: self._apps.patch_namespaced_deployment_scale(
                    name, namespace, body, _request_timeout=timeout
                )
            )
        elif change.target is Target.HPA:
            spec = {
                "minReplicas": int(values["min_replicas"]),
                "maxReplicas": int(values["max_replicas"]),
            }
            body = {"metadata": pin, "spec": spec}
            done = await self._call(
                lambda: self._autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                    name, namespace, body, _request_timeout=timeout
                )
            )
        else:
            body = {"metadata": pin, "data": dict(values)}  # null removes a key
            done = await self._call(
                lambda: self._core.patch_namespaced_config_map(
                    name, namespace, body, _request_timeout=timeout
                )
            )
        return str(done.metadata.resource_version)


def _now(metadata: Any, values: dict[str, Any]) -> ObjectNow:
    generation = metadata.generation
    return ObjectNow(
        resource_version=str(metadata.resource_version),
        generation=None if generation is None else int(generation),
        values=values,
    )
