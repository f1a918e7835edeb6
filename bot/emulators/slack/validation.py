"""Slack's argument and Block Kit checks, answering with Slack's error codes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.emulators.slack.records import MAX_BLOCKS, JSONDict, _SlackError

# --------------------------------------------------------------------------------------
# Block Kit validation (the limits Slack enforces on messages)
# --------------------------------------------------------------------------------------

_KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
        "table",
    }
)


def _validate_blocks(blocks: list[Any]) -> list[str]:
    if len(blocks) > MAX_BLOCKS:
        return [f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict) or block.get("type") not in _KNOWN_BLOCKS:
            errors.append(f"[ERROR] unsupported type [json-pointer:{pointer}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255:
                errors.append(f"[ERROR] must be at most 255 characters [json-pointer:{pointer}]")
            elif block_id in seen_ids:
                errors.append(f"[ERROR] duplicate block_id [json-pointer:{pointer}/block_id]")
            else:
                seen_ids.add(block_id)
        errors.extend(_validate_block(block, pointer))
    return errors


def _validate_text_object(obj: Any, pointer: str, max_len: int, plain_only: bool) -> list[str]:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        kinds = "|".join(allowed)
        return [f"[ERROR] must provide a text object of type {kinds} [json-pointer:{pointer}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"[ERROR] must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _validate_block(block: JSONDict, pointer: str) -> list[str]:
    kind = block["type"]
    if kind == "header":
        return _validate_text_object(block.get("text"), f"{pointer}/text", 150, plain_only=True)
    if kind == "section":
        return _validate_section(block, pointer)
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return [f"[ERROR] must have between 1 and 10 items [json-pointer:{pointer}/elements]"]
        return []
    if kind == "actions":
        return _validate_actions(block, pointer)
    return []


def _validate_section(block: JSONDict, pointer: str) -> list[str]:
    errors: list[str] = []
    text = block.get("text")
    fields = block.get("fields")
    if text is None and fields is None:
        return [f"[ERROR] must provide either text or fields [json-pointer:{pointer}]"]
    if text is not None:
        errors += _validate_text_object(text, f"{pointer}/text", 3000, plain_only=False)
    if fields is not None:
        if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
            return [f"[ERROR] must have between 1 and 10 items [json-pointer:{pointer}/fields]"]
        for i, item in enumerate(fields):
            errors += _validate_text_object(item, f"{pointer}/fields/{i}", 2000, plain_only=False)
    accessory = block.get("accessory")
    if isinstance(accessory, dict) and accessory.get("type") == "button":
        errors += _validate_button(accessory, f"{pointer}/accessory")
    return errors


def _validate_actions(block: JSONDict, pointer: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        return [f"[ERROR] must have between 1 and 25 items [json-pointer:{pointer}/elements]"]
    errors: list[str] = []
    action_ids: set[str] = set()
    for i, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{i}"
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(f"[ERROR] invalid element [json-pointer:{element_pointer}]")
            continue
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if action_id in action_ids:
                errors.append(f"[ERROR] duplicate action_id [json-pointer:{element_pointer}]")
            action_ids.add(action_id)
        if element["type"] == "button":
            errors += _validate_button(element, element_pointer)
    return errors


def _validate_button(button: JSONDict, pointer: str) -> list[str]:
    errors = _validate_text_object(button.get("text"), f"{pointer}/text", 75, plain_only=True)
    action_id = button.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        errors.append(f"[ERROR] must be at most 255 characters [json-pointer:{pointer}/action_id]")
    value = button.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 2000):
        errors.append(f"[ERROR] must be at most 2000 characters [json-pointer:{pointer}/value]")
    style = button.get("style")
    if style is not None and style not in ("primary", "danger"):
        errors.append(f"[ERROR] must be one of primary|danger [json-pointer:{pointer}/style]")
    return errors


# --------------------------------------------------------------------------------------
# Argument helpers
# --------------------------------------------------------------------------------------


def _str_arg(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    return str(value)


def _int_arg(args: Mapping[str, Any], name: str, default: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _SlackError("invalid_arguments") from None


def _json_list_arg(args: Mapping[str, Any], name: str, error: str) -> list[Any] | None:
    """A JSON array argument; form and query arguments carry it as a JSON string."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _SlackError(error) from None
    if not isinstance(value, list):
        raise _SlackError(error)
    return value


_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")


def _metadata_arg(args: Mapping[str, Any]) -> tuple[JSONDict | None, str | None]:
    """A message's ``metadata`` argument, checked as Slack does: ``(metadata, warning)``.

    An object (or its JSON text) with a string ``event_type`` and an object
    ``event_payload``; anything else is ``invalid_metadata_format``. An ``event_type``
    with characters other than letters, digits, ``_`` and ``-`` is accepted with the
    warning ``invalid_metadata_schema`` and the metadata dropped (Slack's "Using message
    metadata": "Metadata with an invalid event_type returns an invalid_metadata_schema
    warning and is ignored").
    """
    value = args.get("metadata")
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _SlackError("invalid_metadata_format") from None
    if not isinstance(value, dict):
        raise _SlackError("invalid_metadata_format")
    event_type = value.get("event_type")
    payload = value.get("event_payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise _SlackError("invalid_metadata_format")
    if not _EVENT_TYPE.match(event_type):
        return None, "invalid_metadata_schema"
    return {"event_type": event_type, "event_payload": payload}, None


_CHANNEL_NAME_MAX = 80
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
_PUNCTUATION_ONLY = re.compile(r"^[_-]+$")


def _check_channel_name(name: str | None) -> str:
    """A new channel's name as Slack checks it, in Slack's error order.

    Lowercase letters, digits, hyphens and underscores, at most 80 characters
    (``conversations.create`` reference: ``invalid_name_required``,
    ``invalid_name_maxlength``, ``invalid_name_specials``, ``invalid_name_punctuation``).
    """
    if not name:
        raise _SlackError("invalid_name_required")
    if len(name) > _CHANNEL_NAME_MAX:
        raise _SlackError("invalid_name_maxlength")
    if not _CHANNEL_NAME.match(name):
        raise _SlackError("invalid_name_specials")
    if _PUNCTUATION_ONLY.match(name):
        raise _SlackError("invalid_name_punctuation")
    return name


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, number = base64.b64decode(cursor.encode()).decode().partition(":")
        if prefix != "offset":
            raise ValueError(cursor)
        return int(number)
    except ValueError:
        raise _SlackError("invalid_cursor") from None


def _page(
    items: list[Any], args: Mapping[str, Any], *, default: int = 100, maximum: int = 1000
) -> tuple[list[Any], str]:
    """One page of ``items`` from Slack's cursor arguments: ``(page, next_cursor)``.

    ``limit`` (default ``default``, at most ``maximum``) and the opaque ``cursor`` of the
    previous page's ``response_metadata.next_cursor``; an empty ``next_cursor`` means the
    last page (Slack's "Pagination through collections").
    """
    limit = max(1, min(_int_arg(args, "limit", default), maximum))
    offset = _decode_cursor(_str_arg(args, "cursor"))
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, _encode_cursor(offset + limit) if more else ""


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds), int(micros or 0)
    except ValueError:
        raise _SlackError("invalid_ts_latest") from None
