"""Block Kit flattened to terminal text (the demo's transcript, test assertions), and
Slack's formatting (mentions, links, emoji) shown the way a person sees it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import emoji

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


# --------------------------------------------------------------------------------------
# What a person sees: mentions, links, emoji
# --------------------------------------------------------------------------------------

_ANGLED = re.compile(r"<([^<>]+)>")
_SHORTCODE = re.compile(r":([a-z0-9_+'-]+):")
# Slack's own names for colour shapes that Unicode's CLDR names without "large_".
_SLACK_ONLY = re.compile(r"large_(green|yellow|orange|purple|brown|red)_(circle|square)")
_BROADCASTS = {"!channel": "@channel", "!here": "@here", "!everyone": "@everyone"}


@dataclass(frozen=True)
class Directory:
    """Names for ids: users (``U…`` → ``alice``), channels, user groups (``S…`` → handle)."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    usergroups: Mapping[str, str] = field(default_factory=dict)


def render_for_people(
    blocks: Sequence[Mapping[str, Any]] | None, text: str | None, directory: Directory
) -> str:
    """:func:`render_text`, then mentions, links and emoji as Slack's clients show them."""
    return humanize(render_text(blocks, text), directory)


def humanize(text: str, directory: Directory) -> str:
    """Slack's message formatting as a person reads it.

    ``<@U123>`` → ``@alice``, ``<#C123|incidents>`` → ``#incidents``,
    ``<!subteam^S1|@oncall>`` → ``@oncall``, ``<!here>`` → ``@here``,
    ``<https://x|the runbook>`` → ``the runbook``, ``:rotating_light:`` → 🚨, and the
    ``&amp;``/``&lt;``/``&gt;`` escapes back to ``&``/``<``/``>`` (Slack's "Formatting
    text for app surfaces": escaping, mentions, links, emoji shortcodes).
    """
    replaced = _ANGLED.sub(lambda match: _reference(match.group(1), directory), text)
    with_emoji = _SHORTCODE.sub(_emoji, replaced)
    return with_emoji.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _reference(inner: str, directory: Directory) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + directory.users.get(user_id, label or user_id)
    if target.startswith("#"):
        channel_id = target[1:]
        return "#" + (label or directory.channels.get(channel_id, channel_id))
    if target.startswith("!subteam^"):
        group_id = target.removeprefix("!subteam^")
        return label or "@" + directory.usergroups.get(group_id, group_id)
    if target in _BROADCASTS:
        return _BROADCASTS[target]
    if target.startswith("!"):  # <!date^…|fallback> and the like
        return label or target
    return label or target


def _emoji(match: re.Match[str]) -> str:
    name = _SLACK_ONLY.sub(r"\1_\2", match.group(1))
    for language in ("alias", "en"):
        shown = emoji.emojize(f":{name}:", language=language)
        if shown != f":{name}:":
            return shown
    return match.group(0)
