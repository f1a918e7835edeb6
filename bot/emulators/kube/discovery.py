"""Paths outside the resource API: health checks, ``/version`` and API discovery
(``/api``, ``/apis``, each group version's resource list)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.emulators.kube import errors, resources
from bot.emulators.kube.routes import json_response

JSON = dict[str, Any]

HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


def non_resource(
    request: web.Request, path: str, *, metrics_enabled: bool, server_address: str
) -> web.StreamResponse:
    if request.method != "GET":
        raise errors.method_not_allowed()
    path = path.rstrip("/") or "/"
    metrics = metrics_enabled
    if path in HEALTH_PATHS:
        return web.Response(text="ok", content_type="text/plain")
    if path == "/version":
        return json_response(resources.VERSION_INFO)
    if path == "/api":
        return json_response(resources.api_versions(server_address))
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
