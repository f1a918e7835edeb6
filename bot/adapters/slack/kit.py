"""Block Kit's building blocks, each within Slack's limits (see fit.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.adapters.slack.fit import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT,
    MAX_HEADER,
    MAX_SECTION,
    NOTIFICATION_TEXT,
    clip,
    fit_blocks,
)
from bot.adapters.slack.ids import ActionId, BlockId

Block = dict[str, Any]
Payload = dict[str, Any]

_SPARK = "▁▂▃▄▅▆▇█"


def payload(text: str, blocks: list[Block] | None = None, where: str = "") -> Payload:
    """A message body within Slack's limits: short notification text, ≤ 50 blocks."""
    body: Payload = {"text": clip(text, NOTIFICATION_TEXT)}
    if blocks:
        body["blocks"] = fit_blocks(blocks, where or "ask `/backlog status` for the rest")
    return body


def section(text: str, where: str = "") -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION, where)}}


def header(text: str) -> Block:
    # plain_text: nothing in it is interpreted, so nothing needs escaping.
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER)}}


def context(text: str, where: str = "") -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT, where)}],
    }


def button(text: str, action_id: ActionId, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)},
        "action_id": action_id.value,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        element["style"] = style
    return element


def sparkline(values: Sequence[int], width: int = 40) -> str:
    """A text chart of the most recent ``width`` values."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    low, high = min(tail), max(tail)
    span = high - low or 1
    return "".join(_SPARK[min(7, (v - low) * 8 // span)] for v in tail)


def actions(block_id: BlockId, *elements: Block) -> Block:
    return {"type": "actions", "block_id": block_id.value, "elements": list(elements)}


def without_buttons(blocks: Sequence[Block]) -> list[Block]:
    """The blocks of a message with its buttons taken out (they answer nothing now)."""
    return [dict(b) for b in blocks if b.get("type") != "actions"]
