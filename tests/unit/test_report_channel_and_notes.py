"""The report and the incident channel: pinned and marked messages in the timeline,
the events record merged with a re-read, notes as lessons and prevention measures
(with a backtest link for a rule change)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import (
    EventKind,
    TimelineEntry,
)
from bot.domain.report import (
    ChannelMessage,
    HistoryRead,
    classify_note,
    merge_channel,
    render_markdown,
)
from bot.domain.report.compose import compose_report
from tests.unit.report_support import (
    MIN,
    T0,
    sources,
    ts,
)


def test_the_channels_pinned_and_marked_messages_join_the_timeline(playbook):
    def message(at: datetime, text: str, **kw) -> ChannelMessage:
        return ChannelMessage("C0INC", ts(at), kw.pop("user", "UALICE"), text, **kw)

    channel = (
        message(T0 + 2 * MIN, "pinned one", pinned=True, pinned_by="UBOB"),
        message(T0 + 3 * MIN, "marked one", reactions={"pushpin": ("UBOB",), "eyes": ("U1",)}),
        message(T0 + 4 * MIN, "just chatter", reactions={"eyes": ("UBOB",)}),
        message(T0 + 5 * MIN, None, deleted=True, deleted_at=T0 + 6 * MIN, pinned=True),
        message(T0 + 6 * MIN, "a bot's", pinned=True, from_bot=True, user="UBOT"),
        message(T0 + 7 * MIN, "in a thread", thread_ts=ts(T0), reactions={"pushpin": ("UBOB",)}),
    )
    text = render_markdown(compose_report(sources(playbook, channel=channel)))
    assert "- 09:42:26 UTC — @alice: “pinned one” (📌 pinned by @bob)" in text
    assert "- 09:43:26 UTC — @alice: “marked one” (📌 by @bob)" in text
    assert "chatter" not in text and "a bot's" not in text
    assert "@alice: _message deleted at 09:46:26 UTC_ (📌 pinned)" in text
    assert "“in a thread” (📌 by @bob; in a thread)" in text


def test_the_playbook_names_the_marking_reactions(playbook):
    custom = playbook.model_copy(
        update={"report": playbook.report.model_copy(update={"mark_reactions": ("star",)})}
    )
    channel = (
        ChannelMessage(
            "C0INC", ts(T0 + 2 * MIN), "UALICE", "starred", reactions={"star": ("UBOB",)}
        ),
    )
    assert "“starred” (⭐ by @bob)" in render_markdown(
        compose_report(sources(custom, channel=channel))
    )
    assert "starred" not in render_markdown(compose_report(sources(playbook, channel=channel)))


def test_merging_the_events_record_with_a_re_read():
    old = ChannelMessage("C1", ts(T0), "UALICE", "first text", pinned=True, pinned_by="UBOB")
    gone = ChannelMessage(
        "C1", ts(T0 + MIN), "UALICE", "will vanish", reactions={"pushpin": ("UBOB",)}
    )
    older_thread = ChannelMessage("C1", ts(T0 + 2 * MIN), "UBOB", "reply", thread_ts=ts(T0 - MIN))
    read = HistoryRead(
        "C1",
        T0 - MIN,
        T0 + 10 * MIN,
        (
            ChannelMessage(
                "C1", ts(T0), "UALICE", "edited text", edited_at=T0 + 5 * MIN, pinned=True
            ),
            ChannelMessage("C1", ts(T0 + 3 * MIN), "UBOB", "only in the read"),
        ),
    )
    merged = {m.ts: m for m in merge_channel([old, gone, older_thread], read)}
    assert merged[old.ts].text == "edited text" and merged[old.ts].pinned_by == "UBOB"
    assert merged[gone.ts].deleted and merged[gone.ts].deleted_at == T0 + 10 * MIN
    assert merged[gone.ts].reactions == {"pushpin": ("UBOB",)}  # why it mattered
    assert merged[older_thread.ts] == older_thread  # its thread was not read again
    assert merged[ts(T0 + 3 * MIN)].text == "only in the read"
    assert merge_channel([gone], None) == [gone]


def test_notes_with_lesson_and_prevention_prefixes():
    assert classify_note("Lesson: add alerts") == (EventKind.LESSON, "add alerts")
    assert classify_note("  prevention: HPA") == (EventKind.PREVENTION, "HPA")
    assert classify_note("db ok") == (EventKind.NOTE, "db ok")


def test_a_prevention_measure_that_changes_a_rule_links_its_backtest(playbook):
    timeline = (
        TimelineEntry(
            7,
            T0 + 9 * MIN,
            EventKind.PREVENTION,
            "UALICE",
            "alert earlier: EmailQueueBacklog.threshold=800 EmailQueueBacklog.for=5m",
        ),
        TimelineEntry(7, T0 + 9 * MIN, EventKind.PREVENTION, "UALICE", "HPA min 4"),
    )
    text = render_markdown(compose_report(sources(playbook, timeline=timeline)))
    prevention = text.split("### Prevention Measures")[1]
    assert (
        "  - Backtest this change: `/backlog backtest EmailQueueBacklog.threshold=800 "
        "EmailQueueBacklog.for=5m`"
    ) in prevention
    assert prevention.count("Backtest this change") == 1  # not for "HPA min 4"
