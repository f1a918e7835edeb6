"""A list answer: items without their apiVersion and kind, and paging by ``limit`` and
``continue`` (an opaque token; here the offset, base64-encoded JSON)."""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.emulators.kube import errors
from bot.emulators.kube.resources import ResourceType
from bot.emulators.kube.routes import int_query

JSON = dict[str, Any]


def list_document(
    rtype: ResourceType, items: list[JSON], query: Any, resource_version: int
) -> JSON:
    for item in items:
        item.pop("apiVersion", None)
        item.pop("kind", None)
    metadata: JSON = {"resourceVersion": str(resource_version)}
    limit = int_query(query, "limit")
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
