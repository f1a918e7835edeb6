"""Watches: the initial ADDED events, then every change to matching objects as a
stream of JSON lines, until the timeout, the client leaves or the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.routes import Route, int_query, query_selectors
from bot.emulators.kube.selectors import parse_field_selector
from bot.emulators.kube.store import Watcher

JSON = dict[str, Any]
WatchQueue = asyncio.Queue[tuple[str, JSON] | None]


async def watch(
    cluster: Cluster,
    queues: set[WatchQueue],
    request: web.Request,
    rtype: ResourceType,
    route: Route,
) -> web.StreamResponse:
    labels, fields = query_selectors(rtype, request.query)
    if route.name is not None:
        fields = [*fields, *parse_field_selector(f"metadata.name={route.name}", rtype.kind)]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, JSON] | None] = asyncio.Queue()

    def send(kind: str, obj: JSON) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(queue.put_nowait, (kind, obj))

    watcher = Watcher(rtype, route.namespace, labels, fields, send)
    since = request.query.get("resourceVersion")
    with cluster.lock:
        initial = (
            cluster.list(rtype, route.namespace, labels, fields) if since in (None, "", "0") else []
        )
        cluster.watchers.append(watcher)
    queues.add(queue)
    timeout = float(int_query(request.query, "timeoutSeconds") or 60)
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
        with cluster.lock, contextlib.suppress(ValueError):
            cluster.watchers.remove(watcher)
        queues.discard(queue)
    return response


def _event_line(kind: str, rtype: ResourceType, obj: JSON) -> bytes:
    obj["apiVersion"] = rtype.api_version
    obj["kind"] = rtype.kind
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode()
