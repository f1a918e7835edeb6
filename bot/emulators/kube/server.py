"""The HTTP face of the emulator: routes Kubernetes REST paths to the cluster."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.emulators.kube import errors, resources, views
from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.controller import Controller
from bot.emulators.kube.discovery import non_resource
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.gate import Gate
from bot.emulators.kube.listing import list_document
from bot.emulators.kube.rbac import RequestRecord
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.routes import (
    Route,
    decode_body,
    error_response,
    int_query,
    json_response,
    parse_route,
    query_selectors,
    verb_for,
)
from bot.emulators.kube.scale import patch_scale, read_scale, update_scale
from bot.emulators.kube.watch import WatchQueue, watch

JSON = dict[str, Any]
log = logging.getLogger(__name__)


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
        self._watch_queues: set[WatchQueue] = set()
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
            return (
                non_resource(
                    request,
                    path,
                    metrics_enabled=self.cluster.side.metrics_enabled,
                    server_address=self.server_address,
                ),
                None,
            )
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

    # --- resources -------------------------------------------------------------------

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
            return await watch(self.cluster, self._watch_queues, request, rtype, route)
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
                cluster.create(rtype, namespace, decode_body(raw, content_type), dry_run=dry_run),
                201,
            )
        if verb == "update":
            body = decode_body(raw, content_type)
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
        options = decode_body(raw, "application/json") if raw.strip() else {}
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

    def _list(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        labels, fields = query_selectors(rtype, query)
        self._progress_jobs()
        items = self.cluster.list(rtype, route.namespace, labels, fields)
        return json_response(list_document(rtype, items, query, self.cluster.resource_version))

    def _get(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        name = route.name or ""
        if route.subresource == "log":
            text = views.pod_log(
                self.cluster,
                route.namespace or "",
                name,
                container=query.get("container") or None,
                previous=str(query.get("previous", "")).lower() == "true",
                tail_lines=int_query(query, "tailLines"),
                limit_bytes=int_query(query, "limitBytes"),
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
        labels, fields = query_selectors(rtype, query)
        options = decode_body(raw, "application/json") if raw.strip() else {}
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
        return json_response(list_document(rtype, deleted, {}, self.cluster.resource_version))

    def _metrics(self, rtype: ResourceType, route: Route, query: Any) -> web.StreamResponse:
        labels, fields = query_selectors(
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
