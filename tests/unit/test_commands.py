# ruff: noqa: RUF001  (the confusable dashes and quotes are what these tests are about)
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import commands as cmd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", cmd.Help()),
        ("status", cmd.Status()),
        ("STATUS", cmd.Status()),
        ("scale phishnet-worker-email 6", cmd.Scale("phishnet-worker-email", 6)),
        ("requeue", cmd.Requeue()),
        ("requeue --older-than 10m", cmd.Requeue(older_than=timedelta(minutes=10))),
        (
            "requeue --older-than=90s --queue analysis_queue",
            cmd.Requeue(older_than=timedelta(seconds=90), queue="analysis_queue"),
        ),
        ("restart phishnet-worker-email", cmd.Restart("phishnet-worker-email")),
        (
            "tune phishnet-worker-email WORKER_CONCURRENCY=8 WORKER_BATCH_SIZE=50",
            cmd.Tune(
                "phishnet-worker-email",
                (("WORKER_CONCURRENCY", "8"), ("WORKER_BATCH_SIZE", "50")),
            ),
        ),
        ("escalate", cmd.Escalate()),
        ("escalate 2", cmd.Escalate(2)),
        ("escalate L3", cmd.Escalate(3)),
        ("note db pool saturated", cmd.Note("db pool saturated")),
        ("rootcause VirusTotal quota exhausted", cmd.RootCause("VirusTotal quota exhausted")),
        ("resolve", cmd.Resolve()),
    ],
)
def test_parses(text, expected):
    assert cmd.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scale phishnet-worker-email", "needs a deployment and a replica count"),
        ("scale phishnet-worker-email six", "Replicas must be a whole number"),
        ("scale phishnet-worker-email -1", "Replicas must be a whole number"),
        ("scale Bad_Name 3", "not a valid deployment name"),
        ("requeue --older-than soon", "expected a duration"),
        ("requeue --older-than 0s", "must be a positive duration"),
        ("requeue --queue", "needs a value"),
        ("requeue --force", "Unknown option"),
        ("restart", "needs exactly one deployment"),
        ("tune phishnet-worker-email CONCURRENCY", "is not `KEY=VALUE`"),
        ("tune phishnet-worker-email A=1 A=2", "given twice"),
        ("escalate max", "optional tier number"),
        ("status now", "takes no arguments"),
        ("note", "needs some text"),
        ("nuke everything", "Unknown command `nuke`"),
        ("scale 'a 3", "A quote is not closed in `'a 3`"),
        ('requeue --queue "analysis_queue', "A quote is not closed"),
        ("requeue --queue “analysis_queue", "A quote is not closed"),
        ("scale a\\", "lone backslash"),
        ("requeue --older-than &lt;!here&gt;", "got `&lt;!here&gt;`"),
        ("&lt;!channel&gt;", "Unknown command `&lt;!channel&gt;`"),
        ("scale a`b 3", "`a\\x60b` is not a valid deployment name"),
        ("status &lt;@U1&gt;", "got `&lt;@U1&gt;`"),
    ],
)
def test_malformed_commands_say_what_is_wrong(text, message):
    with pytest.raises(cmd.CommandError) as caught:
        cmd.parse(text)
    assert message in str(caught.value)


def test_usage_lists_every_subcommand():
    for verb in ("status", "diagnose", "scale", "requeue", "restart", "tune", "drain"):
        assert f"`{verb}" in cmd.USAGE


# --- people type on phones ----------------------------------------------------------------------

FIFTEEN_MINUTES = cmd.Requeue(older_than=timedelta(minutes=15))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the inputs: autocorrected dashes and quotes, a tab after the sub-command
        ("requeue —older-than 15m", FIFTEEN_MINUTES),
        ("requeue –older-than 15m", FIFTEEN_MINUTES),
        ("requeue --queue “analysis_queue”", cmd.Requeue(queue="analysis_queue")),
        ("note\tworkers restarted", cmd.Note("workers restarted")),
        # more of the same kinds
        ("requeue —older-than=15m", FIFTEEN_MINUTES),
        ("requeue −−older-than 15m", FIFTEEN_MINUTES),
        ("requeue ‐‐older-than 15m", FIFTEEN_MINUTES),
        ("requeue －－older-than １５m", FIFTEEN_MINUTES),
        ("requeue -older-than 15m", FIFTEEN_MINUTES),
        ("requeue --queue „analysis_queue“", cmd.Requeue(queue="analysis_queue")),
        ("requeue --queue «analysis_queue»", cmd.Requeue(queue="analysis_queue")),
        ("requeue --queue ‘analysis_queue’", cmd.Requeue(queue="analysis_queue")),
        ("requeue --queue ＂analysis_queue＂", cmd.Requeue(queue="analysis_queue")),
        ("requeue\u00a0--older-than\u202f15m", FIFTEEN_MINUTES),
        ("requeue\n--older-than\u300015m", FIFTEEN_MINUTES),
        ("Requeue  --older-than 15m  ", FIFTEEN_MINUTES),
        ("ｒｅｑｕｅｕｅ --older-than 15m", FIFTEEN_MINUTES),
        ("\u200brequeue\u200b --older-than 15m", FIFTEEN_MINUTES),
        ("scale phishnet‑worker‑email 6", cmd.Scale("phishnet-worker-email", 6)),
        (
            "tune phishnet-worker-email WORKER_CONCURRENCY=“8”",
            cmd.Tune("phishnet-worker-email", (("WORKER_CONCURRENCY", "8"),)),
        ),
        ("status\u00a0", cmd.Status()),
        ("note\u00a0db pool saturated", cmd.Note("db pool saturated")),
        ("rootcause\nVirusTotal quota", cmd.RootCause("VirusTotal quota")),
    ],
)
def test_reads_what_people_meant(text, expected):
    assert cmd.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "note"),
    [
        # A note keeps the person's own characters: dashes, quotes, tabs inside.
        ("note restarted — all good", "restarted — all good"),
        ("note “quoted” and ‘single’ and -- and 15m", "“quoted” and ‘single’ and -- and 15m"),
        ("note\tline one\nline two", "line one\nline two"),
        ("note ｆｕｌｌ width stays", "ｆｕｌｌ width stays"),
        ("note it's O’Brien's queue", "it's O’Brien's queue"),
        ("note unbalanced “quote", "unbalanced “quote"),
        # Slack sends typed & < > as entities: the note holds what was typed, decoded once.
        ("note a &lt;!channel&gt; &amp; b", "a <!channel> & b"),
        ("note typed &amp;lt; literally", "typed &lt; literally"),
    ],
)
def test_note_text_is_kept_as_typed(text, note):
    assert cmd.parse(text) == cmd.Note(note)


SPACES = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2002", "\u2003", "\u2009", "\u202f", "\u3000"]
)
DOUBLE_DASHES = st.sampled_from(
    ["--", "—", "–", "−−", "‐‐", "‑‑", "－－", "―", "‒", "-", "---", "﹣﹣", "⁃⁃"]
)
QUOTE_PAIRS = st.sampled_from(
    [
        ('"', '"'),
        ("'", "'"),
        ("“", "”"),
        ("”", "”"),
        ("„", "“"),
        ("«", "»"),
        ("»", "«"),
        ("″", "″"),
        ("＂", "＂"),
        ("‘", "’"),
        ("‚", "‘"),
        ("′", "′"),
        ("", ""),
    ]
)
FULL_WIDTH = {chr(c): chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F)}

CANONICAL = [
    ("requeue --older-than 15m", FIFTEEN_MINUTES),
    (
        'requeue --older-than 90s --queue "analysis_queue"',
        cmd.Requeue(older_than=timedelta(seconds=90), queue="analysis_queue"),
    ),
    ('requeue --queue "notification_queue"', cmd.Requeue(queue="notification_queue")),
    ("scale phishnet-worker-email 6", cmd.Scale("phishnet-worker-email", 6)),
    (
        'tune phishnet-worker-email WORKER_CONCURRENCY="8"',
        cmd.Tune("phishnet-worker-email", (("WORKER_CONCURRENCY", "8"),)),
    ),
    ("restart phishnet-worker-email", cmd.Restart("phishnet-worker-email")),
    ("escalate 2", cmd.Escalate(2)),
    ("status", cmd.Status()),
]


@st.composite
def typed_on_a_phone(draw: st.DrawFn) -> tuple[str, cmd.Command]:
    """A canonical command as a keyboard may have rewritten it."""
    text, expected = draw(st.sampled_from(CANONICAL))
    verb, *arguments = text.split(" ")
    if draw(st.booleans()):
        verb = verb.capitalize()  # autocapitalisation
    if draw(st.booleans()):
        verb = "".join(FULL_WIDTH.get(c, c) for c in verb)
    parts = [draw(st.sampled_from(["", " ", "\u200b"])) + verb]
    for argument in arguments:
        if argument.startswith("--"):
            argument = draw(DOUBLE_DASHES) + argument[2:]
        if argument.count('"') == 2:
            opening, closing = draw(QUOTE_PAIRS)
            before, inner, _ = argument.split('"')
            argument = f"{before}{opening}{inner}{closing}"
        parts.append(argument)
    separators = [draw(SPACES) for _ in parts]
    return "".join(s + p for s, p in zip(separators, parts, strict=True)) + draw(SPACES), expected


@given(typed_on_a_phone())
def test_any_autocorrected_form_reads_as_the_plain_command(case):
    text, expected = case
    assert cmd.parse(text) == expected


@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_in_words(text):
    try:
        cmd.parse(text)
    except cmd.CommandError as refused:
        said = str(refused)
        assert said and said[-1] in ".)" and "<" not in said and ">" not in said


NOTE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="&"),
    min_size=1,
    max_size=300,
).filter(lambda t: t == t.strip() and t.strip("\u200b\u200c\u200d\u2060\ufeff") == t)


@given(NOTE_TEXT, SPACES)
def test_a_note_keeps_every_character_typed(text, space):
    assert cmd.parse(f"note{space}{text}") == cmd.Note(text)
