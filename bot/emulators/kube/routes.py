"""Kubernetes REST paths and answers: a path parsed into a route, the API verb of a
request, query parameters (selectors, integers), request bodies and JSON responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from bot.emulators.kube import errors
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.selectors import parse_field_selector, parse_label_selector

JSON = dict[str, Any]


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


def int_query(query: Any, key: str) -> int | None:
    value = query.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f"invalid value for {key}: {value!r}") from exc


def decode_body(raw: bytes, content_type: str) -> Any:
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw.decode() or "null")
        return json.loads(raw.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


def query_selectors(rtype: ResourceType, query: Any) -> tuple[Any, Any]:
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), rtype.kind)
    return labels, fields
