"""Showing Redis bytes and typed text safely: lossless, printable, inert in Slack."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.text import code, codes, mrkdwn_escape, show_bytes, slack_unescape


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"job-1", "job-1"),
        (b"job\x00nul", "job\\x00nul"),
        (b"job-\xff\xfe", "job-\\xff\\xfe"),
        (b"tab\there\nnewline\rcr", "tab\\there\\nnewline\\rcr"),
        (b"back\\slash", "back\\\\slash"),
        (b"literal \\x00", "literal \\\\x00"),  # typed backslash-x-0-0, not a NUL
        ("caf\u00e9 \u2014 \u65e5\u672c \U0001f600".encode(), "café — 日本 😀"),
        ("no\u00a0break".encode(), "no\\u00a0break"),  # invisible spaces are shown
        ("\u202eevil".encode(), "\\u202eevil"),  # a bidi override cannot flip the display
        ("\u0085".encode(), "\\u0085"),  # U+0085 is not the byte 0x85 ...
        (b"\x85", "\\x85"),  # ... which is invalid UTF-8
        ("\U000e0001".encode(), "\\U000e0001"),
        ("already text", "already text"),
    ],
)
def test_show_bytes(raw: bytes | str, shown: str) -> None:
    assert show_bytes(raw) == shown


def _unshow(shown: str) -> bytes:
    """The inverse of show_bytes on bytes, written independently, to prove it lossless."""
    out = bytearray()
    position = 0
    escapes = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[\\tnr])")
    while position < len(shown):
        match = escapes.match(shown, position)
        if match is None:
            out += shown[position].encode()
            position += 1
            continue
        token = match.group(1)
        if token[0] == "x":
            out.append(int(token[1:], 16))
        elif token[0] in "uU":
            out += chr(int(token[1:], 16)).encode()
        else:
            out += {"\\": b"\\", "t": b"\t", "n": b"\n", "r": b"\r"}[token]
        position = match.end()
    return bytes(out)


@given(st.binary(max_size=64))
def test_show_bytes_is_printable_storable_and_lossless(raw: bytes) -> None:
    shown = show_bytes(raw)
    assert shown.isprintable()
    assert "\x00" not in shown
    shown.encode("utf-8")  # no lone surrogate: PostgreSQL text and jsonb accept it
    assert _unshow(shown) == raw


@given(st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_show_bytes_is_lossless_on_any_unicode(raw: bytes) -> None:
    assert _unshow(show_bytes(raw)) == raw


def test_mrkdwn_escape_only_escapes_slacks_three_control_characters() -> None:
    assert mrkdwn_escape("<!channel> & <@U1|bob> > *bold* 'q' \"q\"") == (
        "&lt;!channel&gt; &amp; &lt;@U1|bob&gt; &gt; *bold* 'q' \"q\""
    )
    assert mrkdwn_escape("&lt;") == "&amp;lt;"  # an entity typed literally stays literal


@given(st.text(max_size=64))
def test_slack_unescape_undoes_mrkdwn_escape(text: str) -> None:
    assert slack_unescape(mrkdwn_escape(text)) == text


def test_slack_unescape_decodes_once_and_only_slacks_entities() -> None:
    assert slack_unescape("a &lt;b&gt; &amp; c") == "a <b> & c"
    assert slack_unescape("&amp;lt;") == "&lt;"
    assert slack_unescape("&quot; &#39; &nbsp;") == "&quot; &#39; &nbsp;"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("email_processing_queue", "`email_processing_queue`"),
        ("<!channel>", "`&lt;!channel&gt;`"),
        ("a`b", "`a\\x60b`"),  # a backtick cannot close the span
        ("```", "`\\x60\\x60\\x60`"),
        ("job\\x00nul", "`job\\x00nul`"),  # a show_bytes form is not escaped again
        ("line\nbreak", "`line\\nbreak`"),  # typed control characters are shown
        ("", "_(empty)_"),
    ],
)
def test_code(text: str, shown: str) -> None:
    assert code(text) == shown


@given(st.binary(max_size=40))
def test_a_code_span_of_any_id_is_one_span_with_no_slack_markup(raw: bytes) -> None:
    span = code(show_bytes(raw))
    if raw:
        assert span.startswith("`") and span.endswith("`") and span.count("`") == 2
    assert "<" not in span and ">" not in span
    assert "\n" not in span
    assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", span)


def test_codes() -> None:
    assert codes(("a", "<b>")) == "`a`, `&lt;b&gt;`"
    assert codes([]) == ""
