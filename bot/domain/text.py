"""Text that reaches people: values read from Redis and text typed in Slack.

Two hazards, kept apart:

- **Bytes.** A job id or key name in Redis is any byte string: NUL, control
  characters, invalid UTF-8. PostgreSQL ``text``/``jsonb`` cannot hold NUL (asyncpg
  refuses it) nor a lone surrogate, and an invisible character misleads whoever
  reads it. :func:`show_bytes` gives a printable form with Python-style escapes
  that is *lossless*: two different ids never show the same.
- **Slack's control characters.** ``&``, ``<`` and ``>`` start Slack's special
  parsing (``<!channel>`` pings everyone, ``<http://x|label>`` hides a link), so
  anything not written by the bot itself is escaped with :func:`mrkdwn_escape`
  before it is put into mrkdwn, as Slack asks in "Formatting text for app surfaces"
  (https://api.slack.com/reference/surfaces/formatting#escaping): replace those
  three with ``&amp;``, ``&lt;``, ``&gt;`` and nothing else. :func:`code` puts a value
  into an inline code span that the value cannot break out of.

The way in is the mirror image: Slack sends the ``&``, ``<`` and ``>`` a person typed
as those same three entities (the escaping doc above: text Slack hands an app is
escaped like the text an app sends), so :func:`slack_unescape` turns them back into
the characters typed, once, before the text is parsed or stored. Escaping is done
again only when the text is rendered, so nothing is escaped twice.
"""

from __future__ import annotations

import re

# Python's short escapes, plus the backslash itself: escaping it keeps the display
# lossless (a literal ``\x00`` typed into an id never reads like a NUL byte).
_SHORT_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
# ``surrogateescape`` decodes an undecodable byte 0xNN to the lone surrogate U+DCNN.
_RAW_BYTE_LOW, _RAW_BYTE_HIGH = 0xDC80, 0xDCFF
# A backtick cannot be put inside a mrkdwn code span (there is no escape for it), so
# it is shown as Python's escape for it; show_bytes already escaped any backslash, so
# this stays unambiguous.
_BACKTICK = "\\x60"
_EMPTY = "_(empty)_"

_SLACK_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_SLACK_ENTITY_RE = re.compile("|".join(_SLACK_ENTITIES))


def show_bytes(value: bytes | str) -> str:
    """A printable, lossless display form of a value read from Redis.

    Printable characters (any script, emoji included) are kept; a backslash becomes
    ``\\\\``; tab, newline and carriage return become ``\\t``, ``\\n``, ``\\r``; other
    non-printable characters (NUL, controls, no-break and other invisible spaces,
    bidi overrides) become ``\\xNN`` (below U+0080), ``\\uNNNN`` or ``\\UNNNNNNNN``; a
    byte that is not valid UTF-8 becomes ``\\xNN`` (0x80 to 0xFF). So
    ``b"job\\x00nul"`` shows as ``job\\x00nul`` and ``b"\\xff"`` as ``\\xff``.

    The result never holds NUL or a surrogate, so PostgreSQL ``text`` and ``jsonb``
    accept it, and different byte strings never give the same result.
    """
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    if text.isprintable() and "\\" not in text:
        return text  # the common case, in one C-level check
    return "".join(_show_char(char) for char in text)


def _show_char(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    point = ord(char)
    if _RAW_BYTE_LOW <= point <= _RAW_BYTE_HIGH:
        return f"\\x{point - 0xDC00:02x}"
    if char.isprintable():
        return char
    if point < 0x80:
        return f"\\x{point:02x}"
    # U+0080..U+00FF get the long form: ``\xNN`` above 0x7f means an undecodable byte.
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def mrkdwn_escape(text: str) -> str:
    """``&``, ``<``, ``>`` as ``&amp;``, ``&lt;``, ``&gt;``: Slack's three control
    characters, and only those (Slack: "Formatting text for app surfaces", escaping).

    For text a person typed or a value read from elsewhere, put into mrkdwn; never
    for mrkdwn the bot wrote itself (its ``<@U123>`` mentions must stay live)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """``text`` as an inline mrkdwn code span that it cannot break out of.

    ``text`` is a display form from :func:`show_bytes` or plain text; characters that
    are not printable are shown escaped as :func:`show_bytes` does (a backslash is
    left as it is, so a display form is not escaped twice), a backtick is shown as
    ``\\x60`` and ``&``, ``<``, ``>`` are escaped for Slack. Empty text is shown as
    ``_(empty)_``.
    """
    if not text:
        return _EMPTY
    shown = "".join(
        char if char == "\\" or char.isprintable() else _show_char(char) for char in text
    )
    return f"`{mrkdwn_escape(shown.replace('`', _BACKTICK))}`"


def codes(texts: tuple[str, ...] | list[str]) -> str:
    """Several values as comma-separated code spans: ``"`a`, `b`"``."""
    return ", ".join(code(text) for text in texts)


def slack_unescape(text: str) -> str:
    """Slack's ``&amp;``, ``&lt;``, ``&gt;`` back to ``&``, ``<``, ``>``, in one pass.

    Only those three (Slack escapes nothing else), and once: ``&amp;lt;`` (a person
    typed ``&lt;``) becomes ``&lt;``, not ``<``. Harmless on text that was not escaped.
    """
    return _SLACK_ENTITY_RE.sub(lambda match: _SLACK_ENTITIES[match.group(0)], text)
