"""A PATCH request's body: its content type, decoding, and applying it to the current
object with the API server's answers (415, 400, 422, 409)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from bot.emulators.kube import errors
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from bot.emulators.kube.resources import ResourceType

JSON = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def parse_patch(content_type: str, raw_body: bytes, field_manager: str | None) -> Any:
    if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH):
        raise errors.unsupported_media_type(content_type)
    try:
        if content_type == APPLY_PATCH:
            if not field_manager:
                raise errors.bad_request("fieldManager is required for apply requests")
            document = yaml.safe_load(raw_body.decode() or "{}")
        else:
            document = json.loads(raw_body.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
    if content_type == JSON_PATCH and not isinstance(document, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    if content_type != JSON_PATCH and not isinstance(document, dict):
        raise errors.bad_request("error decoding patch: the patch must be a JSON object")
    return document


def apply_patch(content_type: str, current: JSON, patch_doc: Any, rtype: ResourceType) -> JSON:
    try:
        if content_type == JSON_PATCH:
            result = json_patch(current, patch_doc)
        elif content_type == MERGE_PATCH:
            result = json_merge_patch(current, patch_doc)
        else:
            result = strategic_merge_patch(current, patch_doc)
    except PatchError as exc:
        raise ApiError(422, str(exc)) from exc
    if not isinstance(result, dict):
        raise ApiError(422, "the patch did not produce an object")
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        meta = result["metadata"] = {}
    wanted_rv = meta.get("resourceVersion")
    current_rv = current.get("metadata", {}).get("resourceVersion")
    if wanted_rv and wanted_rv != current_rv:
        name = str(current.get("metadata", {}).get("name", ""))
        raise errors.conflict(rtype.group, rtype.resource, name)
    # the patch applies to the current object: it is not a stale write
    meta["resourceVersion"] = current_rv
    return result
