"""Slack's size limits, in one place, and what to do with content that exceeds them.

Limits from Slack's docs: a message holds at most 50 blocks; a section's text
and a context element's text at most 3,000 characters, a header 150; a message's
``text`` is truncated by Slack beyond 40,000 characters ("chat.postMessage":
"we recommend 4,000 characters or fewer"). A ``response_url`` reply is a
message too. Content longer than :data:`INLINE_LIMIT` goes into an uploaded
file with a summary in the message; whatever is cut says so and where the
whole is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_TEXT = 40_000
# What we show inline, in a message or an ephemeral reply, before moving the
# rest to a file: Slack's recommended size, so every client shows it whole.
INLINE_LIMIT = 3900
# The notification (fallback) ``text`` of a message with blocks: a line or two.
NOTIFICATION_TEXT = 300


def clip(text: str, limit: int, where: str = "") -> str:
    """``text`` if it fits, else cut at a line end (or a word) with a note saying so."""
    if len(text) <= limit:
        return text
    note = f"… _(cut: {where})_" if where else "… _(cut)_"
    room = max(0, limit - len(note))
    cut = text[:room]
    newline = cut.rfind("\n")
    if newline > room // 2:
        cut = cut[:newline]
    return cut.rstrip() + note


def split_sections(text: str, limit: int = MAX_SECTION) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, cut at line ends (a single
    longer line is cut where it must)."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if current and len(current) + len(line) + 1 > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current.strip():
        chunks.append(current)
    return chunks


def fit_blocks(blocks: list[Block], where: str) -> list[Block]:
    """At most 50 blocks: beyond that, the last kept block says how many were left out
    and where the whole is. Actions blocks are kept (they carry the buttons)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    actions = [b for b in blocks if b.get("type") == "actions"]
    others = [b for b in blocks if b.get("type") != "actions"]
    room = MAX_BLOCKS - len(actions) - 1
    left_out = len(others) - room
    note: Block = {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"_{left_out} more part(s) not shown here: {where}._"}
        ],
    }
    return [*others[:room], note, *actions]


@dataclass(frozen=True)
class LongText:
    """Content split for Slack: ``summary`` fits inline; ``whole`` goes into a file
    when it does not (None when the summary is the whole)."""

    summary: str
    whole: str | None


def shorten(text: str, *, file_name: str, limit: int = INLINE_LIMIT) -> LongText:
    """The inline part of ``text`` and, when it is longer than ``limit``, the whole of
    it for an attached file named ``file_name`` (the summary says so)."""
    if len(text) <= limit:
        return LongText(text, None)
    where = f"the whole, {len(text):,} characters, is in the attached file `{file_name}`"
    return LongText(clip(text, limit, where), text)
