"""``/backlog note lesson: …`` and ``note prevention: …`` feed the report's sections."""

from __future__ import annotations

from bot.domain.models import EventKind

_NOTE_PREFIXES = {"lesson:": EventKind.LESSON, "prevention:": EventKind.PREVENTION}


def classify_note(text: str) -> tuple[EventKind, str]:
    """The note's kind (``LESSON``, ``PREVENTION`` or ``NOTE``) and its text without
    the prefix (matched case-insensitively, leading spaces ignored)."""
    stripped = text.lstrip()
    lowered = stripped.lower()
    for prefix, kind in _NOTE_PREFIXES.items():
        if lowered.startswith(prefix):
            return kind, stripped[len(prefix) :].strip() or text
    return EventKind.NOTE, text
