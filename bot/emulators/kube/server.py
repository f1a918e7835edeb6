"""The HTTP face of the emulator: routes Kubernetes REST paths to the cluster."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from bot.emulators.kube import errors, resources, views
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.controller import Controller
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.gate import Gate
from bot.emulators.kube.rbac import RequestRecord
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.scale import patch_scale, read_scale, update_scale
from bot.emulators.kube.selectors import parse_field_selector, parse_label_selector
from bot.emulators.kube.store import Watcher

JSON = dict[str, Any]
log = logging.getLogger(__name__)

_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


@dataclass(frozen=True)
class Route:
    group: str
    version: str
    resource: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_route(path: str) -> Route | None:
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return Route(group, version, rest[0], namespace, name, subresource)


def verb_for(method: str, route: Route, query: Any) -> str:
    watching = str(query.get("watch", "")).lower() in ("true", "1")
    if method == "GET":
        if watching:
            return "watch"
        return "get" if route.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if route.name else "deletecollection"
    return method.lower()


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.status(), error.code, headers=error.headers or None)


def _int_query(query: Any, key: str) -> int | None:
    value = query.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f"invalid value for {key}: {value!r}") from exc


class ApiServer:
    """aiohttp handler for every path."""

    def __init__(
        self,
        cluster: Cluster,
        controller: Controller,
        gate: Gate,
        *,
        auto_reconcile: Callable[[], bool],
    ) -> None:
        self.cluster = cluster
        self.controller = controller
        self.gate = gate
        self._auto_reconcile = auto_reconcile
        self._watch_queues: set[asyncio.Queue[tuple[str, JSON] | None]] = set()
        self.server_address = "127.0.0.1:0"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def close_watches(self) -> None:
        for queue in list(self._watch_queues):
            queue.put_nowait(None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        index: int | None = None
        try:
            response, index = await self._handle(request)
        except ApiError as error:
            response = error_response(error)
        except Exception:  # an emulator bug must still answer like a server
            log.exception("kube emulator failed on %s %s", request.method, request.path)
            response = error_response(ApiError(500, "Internal error occurred: emulator bug"))
        if index is not None:
            self.gate.set_code(index, response.status)
        return response

    async def _handle(self, request: web.Request) -> tuple[web.StreamResponse, int | None]:
        user = self.gate.authenticate(request.headers.get("Authorization"))
        path = request.path
        route = parse_route(path)
        if route is None:
            return self._non_resource(request, path), None
        verb = verb_for(request.method, route, request.query)
        namespace = route.namespace
        record = RequestRecord(
            verb,
            route.group,
            route.resource,
            route.subresource,
            namespace,
            route.name,
            method=request.method,
            path=path,
            user=user,
        )
        index = self.gate.record(record)
        try:
            delay = self.gate.take_delay(record)
            if delay:
                await asyncio.sleep(delay)
            injected = self.gate.take_fault(record)
            if injected is not None:
                raise injected
            self.gate.authorize(record)
            return await self._dispatch(request, route, verb), index
        except ApiError as error:
            return error_response(error), index

    # --- discovery and health ----------------------------------------------------

    def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        if request.method != "GET":
            raise errors.method_not_allowed()
        path = path.rstrip("/") or "/"
        metrics = self.cluster.side.metrics_enabled
        if path in _HEALTH_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response(resources.VERSION_INFO)
        if path == "/api":
            return json_response(resources.api_versions(self.server_address))
        if path == "/apis":
            return json_response(resources.api_group_list(metrics_enabled=metrics))
        parts = path.strip("/").split("/")
        document: JSON | None = None
        if len(parts) == 2 and parts[0] == "api":
            document = resources.resource_list("", parts[1], metrics_enabled=metrics)
        elif len(parts) == 2 and parts[0] == "apis":
            document = resources.api_group(parts[1], metrics_enabled=metrics)
        elif len(parts) == 3 and parts[0] == "apis":
            document = resources.resource_list(parts[1], parts[2], metrics_enabled=metrics)
        if document is None:
            raise errors.path_not_found()
        return json_response(document)

    # --- resources -------------------------------------------------------------------

    def _resource_type(self, route: Route) -> ResourceType:
        rtype = resources.lookup(route.group, route.version, route.resource)
        if rtype is None or (rtype.metrics and not self.cluster.side.metrics_enabled):
            raise errors.path_not_found()
        if route.namespace is not None and not rtype.namespaced:
            raise errors.path_not_found()
        if (
            route.name is None
            and route.namespace is None
            and rtype.namespaced
            and (route.subresource is not None)
        ):
            raise errors.path_not_found()
        if route.subresource is not None and rtype.subresource(route.subresource) is None:
            raise errors.path_not_found()
        return rtype

    async def _dispatch(self, request: web.Request, route: Route, verb: str) -> web.StreamResponse:
        rtype = self._resource_type(route)
        sub = rtype.subresource(route.subresource) if route.subresource else None
        allowed = sub.verbs if sub is not None else rtype.verbs
        if verb not in allowed and not (verb == "get" and route.subresource == "log"):
            raise errors.method_not_allowed()
        if rtype.namespaced and route.name is not None and route.namespace is None:
            raise errors.path_not_found()
        query = request.query
        dry_run = query.get("dryRun") == "All"
        if rtype.metrics:
            return self._metrics(rtype, route, query)
        if verb == "list":
            return self._list(rtype, route, query)
        if verb == "watch":
            return await self._watch(request, rtype, route)
        if verb == "get":
            return self._get(rtype, route, query)
        if verb == "deletecollection":
            return self._delete_collection(rtype, route, query, await request.read())
        raw = await request.read()
        name = route.name or ""
        response = self._write(request, rtype, route, verb, name, raw, dry_run)
        if self._auto_reconcile() and not dry_run:
            self.controller.reconcile()
        return response

    def _write(
        self,
        request: web.Request,
        rtype: ResourceType,
        route: Route,
        verb: str,
        name: str,
        raw: bytes,
        dry_run: bool,
    ) -> web.StreamResponse:
        cluster = self.cluster
        namespace = route.namespace
        content_type = request.content_type
        field_manager = request.query.get("fieldManager")
        if verb == "create":
            return json_response(
                cluster.create(rtype, namespace, self._body(raw, content_type), dry_run=dry_run),
                201,
            )
        if verb == "update":
            body = self._body(raw, content_type)
            if route.subresource == "scale":
                return json_response(
                    update_scale(cluster, rtype, namespace, name, body, dry_run=dry_run)
                )
            return json_response(
                cluster.replace(
                    rtype,
                    namespace,
                    name,
                    body,
                    status_only=route.subresource == "status",
                    dry_run=dry_run,
                )
            )
        if verb == "patch":
            if route.subresource == "scale":
                return json_response(
                    patch_scale(
                        cluster,
                        rtype,
                        namespace,
                        name,
                        content_type,
                        raw,
                        dry_run=dry_run,
                        field_manager=field_manager,
                    )
                )
            obj, created = cluster.patch(
                rtype,
                namespace,
                name,
                content_type,
                raw,
                status_only=route.subresource == "status",
                dry_run=dry_run,
                field_manager=field_manager,
            )
            return json_response(obj, 201 if created else 200)
        options = self._body(raw, "application/json") if raw.strip() else {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy")
        orphan = request.query.get("orphanDependents") or options.get("orphanDependents")
        if propagation is None and orphan is not None:
            propagation = "Orphan" if str(orphan).lower() == "true" else "Background"
        if dry_run:
            return json_response(cluster.get(rtype, namespace, name))
        return json_response(
            cluster.delete(
                rtype,
                namespace,
                name,
                propagation=propagation,
                preconditions=options.get("preconditions"),
            )
        )

    @staticmethod
    def _body(raw: bytes, content_type: str) -> Any:
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw.decode() or "null")
            return json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _selectors(self, rtype: ResourceType, query: Any) -> tuple[Any, Any]:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype.kind)
        return labels, fields

    def _list_doc(self, rtype: ResourceType, items: list[JSON], query: Any) -> JSON:
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
        metadata: JSON = {"resourceVersion": str(self.cluster.resource_version)}
        limit = _int_query(query, "limit")
        start = 0
        token = query.get("continue")
        if token:
            try:
                start = int(json.loads(base64.b64decode(token))["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request("continue key is not valid") from exc
        if limit and limit > 0:
            page = items[start : start + limit]
            rest = len(items) - start - len(page)
            if rest > 0:
                metadata["continue"] = base64.b64encode(
                    json.dumps({"start": start + limit}).encode()
                ).decode()
                metadata["remainingItemCount"] = rest
            items = page
        elif start:
            items = items[start:]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": metadata,
            "items": items,
        }

    def _list(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        labels, fields = self._selectors(rtype, query)
        self._progress_jobs()
        items = self.cluster.list(rtype, route.namespace, labels, fields)
        return json_response(self._list_doc(rtype, items, query))

    def _get(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        name = route.name or ""
        if route.subresource == "log":
            text = views.pod_log(
                self.cluster,
                route.namespace or "",
                name,
                container=query.get("container") or None,
                previous=str(query.get("previous", "")).lower() == "true",
                tail_lines=_int_query(query, "tailLines"),
                limit_bytes=_int_query(query, "limitBytes"),
            )
            return web.Response(text=text, content_type="text/plain")
        if route.subresource == "scale":
            return json_response(read_scale(self.cluster, rtype, route.namespace, name))
        self._progress_jobs()
        return json_response(self.cluster.get(rtype, route.namespace, name))

    def _progress_jobs(self) -> None:
        """Time-based job completion is observed on reads too."""
        if self.cluster.side.job_duration is not None and self._auto_reconcile():
            self.controller.reconcile()

    def _delete_collection(
        self, rtype: ResourceType, route: Route, query: Any, raw: bytes
    ) -> web.StreamResponse:
        labels, fields = self._selectors(rtype, query)
        options = self._body(raw, "application/json") if raw.strip() else {}
        propagation = query.get("propagationPolicy") or (
            options.get("propagationPolicy") if isinstance(options, dict) else None
        )
        deleted: list[JSON] = []
        if query.get("dryRun") == "All":
            deleted = self.cluster.list(rtype, route.namespace, labels, fields)
        else:
            for obj in self.cluster.list(rtype, route.namespace, labels, fields):
                meta = obj["metadata"]
                with contextlib.suppress(ApiError):
                    self.cluster.delete(
                        rtype, meta.get("namespace"), meta["name"], propagation=propagation
                    )
                    deleted.append(obj)
            if self._auto_reconcile():
                self.controller.reconcile()
        return json_response(self._list_doc(rtype, deleted, {}))

    def _metrics(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        labels, fields = self._selectors(
            resources.PODS if rtype.namespaced else resources.NODES, query
        )
        if rtype.namespaced:
            items = views.pod_metrics(self.cluster, route.namespace, labels, fields, route.name)
        else:
            items = views.node_metrics(self.cluster, labels, route.name)
        for item in items:
            item["kind"] = rtype.kind
            item["apiVersion"] = rtype.api_version
        if route.name is not None:
            return json_response(items[0])
        return json_response(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": {},
                "items": items,
            }
        )

    async def _watch(
        self, request: web.Request, rtype: ResourceType, route: Route
    ) -> web.StreamResponse:
        labels, fields = self._selectors(rtype, request.query)
        if route.name is not None:
            fields = [*fields, *parse_field_selector(f"metadata.name={route.name}", rtype.kind)]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, JSON] | None] = asyncio.Queue()

        def send(kind: str, obj: JSON) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(queue.put_nowait, (kind, obj))

        watcher = Watcher(rtype, route.namespace, labels, fields, send)
        since = request.query.get("resourceVersion")
        with self.cluster.lock:
            initial = (
                self.cluster.list(rtype, route.namespace, labels, fields)
                if since in (None, "", "0")
                else []
            )
            self.cluster.watchers.append(watcher)
        self._watch_queues.add(queue)
        timeout = float(_int_query(request.query, "timeoutSeconds") or 60)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            for obj in initial:
                await response.write(_event_line("ADDED", rtype, obj))
            deadline = loop.time() + timeout
            while (remaining := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    break
                await response.write(_event_line(item[0], rtype, item[1]))
            await response.write_eof()
        except ConnectionResetError:
            pass
        finally:
            with self.cluster.lock, contextlib.suppress(ValueError):
                self.cluster.watchers.remove(watcher)
            self._watch_queues.discard(queue)
        return response


def _event_line(kind: str, rtype: ResourceType, obj: JSON) -> bytes:
    obj["apiVersion"] = rtype.api_version
    obj["kind"] = rtype.kind
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode()
