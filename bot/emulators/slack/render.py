"""Block Kit flattened to terminal text (the demo's transcript, test assertions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# --------------------------------------------------------------------------------------
# Rendering Block Kit for a terminal
# --------------------------------------------------------------------------------------


def render_text(blocks: Sequence[Mapping[str, Any]] | None, text: str | None = None) -> str:
    """Flatten Block Kit into readable lines; fall back to ``text`` when there are no blocks.

    Headers, section text and fields, context elements, dividers, images, rich text and
    markdown blocks become lines; buttons in ``actions`` blocks become ``[Approve] [Deny]``.
    """
    if not blocks:
        return text or ""
    lines: list[str] = []
    for block in blocks:
        lines.extend(_render_block(block))
    return "\n".join(line for line in lines if line is not None)


def _text_of(obj: Any) -> str:
    if isinstance(obj, Mapping):
        value = obj.get("text")
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            return _text_of(value)
    return obj if isinstance(obj, str) else ""


def _render_element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_text_of(element.get('text'))}]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("plain_text", "mrkdwn"):
        return _text_of(element)
    if kind in ("static_select", "users_select", "conversations_select", "overflow"):
        placeholder = _text_of(element.get("placeholder")) or "…"
        return f"[{placeholder} ▾]"
    return _text_of(element.get("text")) if "text" in element else f"[{kind}]"


def _render_block(block: Mapping[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [f"== {_text_of(block.get('text'))} =="]
    if kind == "section":
        return _render_section(block)
    if kind == "context":
        parts = [_render_element(e) for e in block.get("elements", []) if isinstance(e, Mapping)]
        return ["  " + " · ".join(p for p in parts if p)]
    if kind == "actions":
        parts = [_render_element(e) for e in block.get("elements", []) if isinstance(e, Mapping)]
        return [" ".join(parts)]
    if kind == "divider":
        return ["-" * 40]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    if kind == "markdown":
        return [str(block.get("text", ""))]
    if kind == "rich_text":
        return ["".join(_render_rich(e) for e in block.get("elements", []))]
    if kind == "input":
        return [f"{_text_of(block.get('label'))}: ____"]
    return []


def _render_section(block: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    if "text" in block:
        lines.append(_text_of(block.get("text")))
    fields = [_text_of(f) for f in block.get("fields", []) if isinstance(f, Mapping)]
    if fields:
        lines.append("  " + "  |  ".join(fields))
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping):
        rendered = _render_element(accessory)
        if lines:
            lines[-1] = f"{lines[-1]}  {rendered}"
        else:
            lines.append(rendered)
    return lines


def _render_rich(element: Any) -> str:
    if not isinstance(element, Mapping):
        return ""
    kind = element.get("type")
    children = element.get("elements", [])
    if kind == "text":
        return str(element.get("text", ""))
    if kind == "link":
        return str(element.get("text") or element.get("url", ""))
    if kind == "user":
        return f"<@{element.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{element.get('channel_id', '')}>"
    if kind == "emoji":
        return f":{element.get('name', '')}:"
    if kind == "rich_text_list":
        return "\n".join("• " + _render_rich(item) for item in children) + "\n"
    return "".join(_render_rich(child) for child in children)
