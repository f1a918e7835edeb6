"""The report built from plain values: figures from samples, the channel's messages,
the root cause once, times in the playbook's zone with UTC, nobody pinged."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

from PIL import Image

from bot.adapters.chart import render_depth_chart
from bot.domain.chart import MarkKind
from bot.domain.models import (
    ActionRequest,
    ActionState,
    Approval,
    EventKind,
    Incident,
    IncidentState,
    QueueSample,
    TimelineEntry,
)
from bot.domain.playbook import ActionKind, Severity
from bot.domain.report import (
    ActionVerdict,
    ChannelMessage,
    HistoryRead,
    ReportSources,
    ReportState,
    classify_note,
    elapsed,
    format_duration,
    format_elapsed,
    format_instant,
    merge_channel,
    render_markdown,
    report_data,
)
from bot.domain.report.chart import report_chart
from bot.domain.report.compose import compose_report
from bot.domain.report.figures import backlog_span, net_rate, queue_figures

T0 = datetime(2026, 11, 28, 9, 40, 26, tzinfo=UTC)
EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"
MIN = timedelta(minutes=1)


def ts(at: datetime) -> str:
    return f"{at.timestamp():.6f}"


def series(*depths: int, start: datetime = T0, every: timedelta = MIN) -> list[QueueSample]:
    return [
        QueueSample(start + i * every, {EMAIL: depth, ANALYSIS: 10})
        for i, depth in enumerate(depths)
    ]


def incident(**kw) -> Incident:
    base = dict(
        id=7,
        playbook="phishnet-queue-backlog",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.RESOLVED,
        rule="EmailQueueBacklog",
        queue=EMAIL,
        detected_at=T0 + 3 * MIN,
        peak_depth=4321,
        peak_queue=EMAIL,
        acknowledged_at=T0 + 4 * MIN,
        acknowledged_by="UALICE",
        mitigation_started_at=T0 + 5 * MIN,
        resolved_at=T0 + 9 * MIN + timedelta(microseconds=100),
        resolved_by="UALICE",
        channel="C0INC",
    )
    base.update(kw)
    return Incident(**base)


def sources(playbook, **kw) -> ReportSources:
    base = dict(
        incident=incident(),
        playbook=playbook,
        timeline=(),
        actions=(),
        # 900 (below), then above 1,000 from T0+1m, peak at T0+4m, under again at T0+7m
        samples=tuple(series(900, 1200, 1500, 1800, 2500, 2500, 1400, 700, 200, 0)),
        now=T0 + 20 * MIN,
        people={"UALICE": "alice", "UBOB": "bob"},
    )
    base.update(kw)
    return ReportSources(**base)


# ---- durations and times ------------------------------------------------------------------


def test_durations_are_exact_between_the_instants_shown():
    start = datetime(2026, 11, 28, 10, 40, 26, 900_000, tzinfo=UTC)
    end = datetime(2026, 11, 28, 10, 45, 26, 100_000, tzinfo=UTC)
    assert format_elapsed(elapsed(start, end)) == "5m"  # 10:40:26 → 10:45:26, not "4m"
    assert format_elapsed(timedelta(minutes=4, seconds=59)) == "4m 59s"
    assert format_elapsed(timedelta(hours=1, minutes=2, seconds=3)) == "1h 02m 03s"
    assert format_elapsed(timedelta(hours=1, minutes=2)) == "1h 02m"
    assert format_elapsed(timedelta(seconds=42)) == "42s"
    assert format_elapsed(timedelta(days=2, hours=3)) == "2d 03h 00m"
    assert format_duration(timedelta(minutes=61, seconds=30)) == "1h 01m"  # the coarse one


def test_instants_in_the_playbooks_zone_with_utc_alongside(playbook):
    berlin = playbook.model_copy(update={"time_zone": "Europe/Berlin"}).tz
    at = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert format_instant(at, berlin) == "2026-11-29 00:30:00 CET (2026-11-28 23:30:00 UTC)"
    assert format_instant(at, UTC) == "2026-11-28 23:30:00 UTC"
    summer = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert format_instant(summer, berlin) == "2026-07-01 10:00:00 CEST (08:00:00 UTC)"
    assert format_instant(None, UTC) == "_not recorded_"


# ---- figures from the samples ---------------------------------------------------------------


def test_the_backlog_begins_at_the_first_sample_of_the_run_that_led_to_the_alert():
    samples = series(1200, 800, 1100, 1300, 1600, 900, 1200, 300, 0)
    span = backlog_span(samples, EMAIL, 1000, T0 + 4 * MIN, T0 + 9 * MIN)
    assert span.began == T0 + 2 * MIN  # after the dip to 800, not the first 1,200
    assert span.recovered == T0 + 7 * MIN  # the last time it went under and stayed
    assert not span.began_early
    assert backlog_span(series(1200, 1300), EMAIL, 1000, T0 + MIN, T0 + MIN).began_early
    assert backlog_span(samples, EMAIL, None, T0, T0 + 9 * MIN).began is None


def test_peaks_and_time_above_the_threshold_per_queue():
    samples = series(900, 1200, 2500, 2500, 900, 0)
    [email, analysis] = queue_figures(
        samples, [EMAIL, ANALYSIS, "notification_queue"], {EMAIL: 1000}, T0, T0 + 5 * MIN
    )
    assert (email.peak, email.peak_at, email.above_for) == (2500, T0 + 2 * MIN, 3 * MIN)
    assert (analysis.peak, analysis.threshold, analysis.samples) == (10, None, 6)


def test_net_rate_is_the_least_squares_slope_per_minute():
    samples = series(1000, 1100, 1200, 1300)
    assert net_rate(samples, EMAIL, T0, T0 + 4 * MIN) == 100.0
    assert net_rate(samples, EMAIL, T0, T0 + 2 * MIN) is None  # two points: no trend


# ---- the report ------------------------------------------------------------------------------


def test_summary_figures_come_from_the_samples(playbook):
    doc = compose_report(sources(playbook))
    assert doc.began == T0 + MIN
    assert doc.recovered == T0 + 7 * MIN
    d = doc.durations
    assert format_elapsed(d.duration) == "8m"  # began T0+1m → resolved T0+9m (+100 µs)
    assert [format_elapsed(x) for x in (d.to_detect, d.to_acknowledge, d.to_mitigate)] == [
        "2m",
        "1m",
        "4m",
    ]
    assert format_elapsed(d.to_recover) == "6m"
    assert (doc.peak.queue, doc.peak.peak, doc.peak.peak_at) == (EMAIL, 2500, T0 + 4 * MIN)
    text = render_markdown(doc)
    assert "**Duration**: 8m (backlog began 09:41:26 UTC → resolved 09:49:26 UTC)" in text
    assert "**Peak Queue Size**: 2,500 (`email_processing_queue`, at 09:44:26 UTC)" in text
    assert "above its threshold of 1,000 for 6m (9 samples)" in text


def test_without_samples_the_incidents_own_peak_is_shown_and_why(playbook):
    doc = compose_report(sources(playbook, samples=()))
    text = render_markdown(doc)
    assert "**Peak Queue Size**: 4,321 (`email_processing_queue`" in text
    assert "time above it not known" in text
    assert "No depth samples of this incident are kept any more" in text
    assert "(detected (the start is not known)" in text


def test_the_root_cause_is_said_once_and_a_diagnosis_is_marked_as_such(playbook):
    diagnosed = TimelineEntry(
        7, T0 + 3 * MIN, EventKind.DIAGNOSED, "UBOB", "Diagnosis: x", {"top": "workers OOMKilled"}
    )
    doc = compose_report(sources(playbook, timeline=(diagnosed,)))
    text = render_markdown(doc)
    assert "**Root Cause**: workers OOMKilled — _the top finding of the last diagnosis" in text
    assert text.count("workers OOMKilled") == 1  # the Diagnosis line reads "x"
    assert "### Root Cause" not in text

    stated = TimelineEntry(7, T0 + 8 * MIN, EventKind.ROOT_CAUSE, "UBOB", "R&D <deploy>")
    doc = compose_report(
        sources(
            playbook, incident=incident(root_cause="R&D <deploy>"), timeline=(diagnosed, stated)
        )
    )
    text = render_markdown(doc)
    assert "**Root Cause**: R&amp;D &lt;deploy&gt; — recorded by @bob" in text
    assert "top finding" not in text

    no_summary = playbook.model_copy(
        update={"report": playbook.report.model_copy(update={"sections": ("root_cause",)})}
    )
    text = render_markdown(compose_report(sources(no_summary, timeline=(stated,))))
    assert text.count("R&amp;D") == 1 and "### Root Cause\nR&amp;D" in text


def test_people_are_named_typed_text_escaped_and_nobody_pinged(playbook):
    timeline = (
        TimelineEntry(7, T0, EventKind.NOTE, "UALICE", "see <!channel> & <@UBOB>"),
        TimelineEntry(
            7, T0, EventKind.ESCALATED, None, "Paged L1 X: requested by <@UALICE>", {"tier": 1}
        ),
        TimelineEntry(7, T0, EventKind.LESSON, "UCAROL", "a < b"),
    )
    text = render_markdown(compose_report(sources(playbook, timeline=timeline)))
    assert "Note: see &lt;!channel&gt; &amp; &lt;@UBOB&gt; (@alice)" in text
    assert "requested by @alice" in text
    assert "### Lessons Learned\n- a &lt; b (@UCAROL)" in text  # a name Slack did not give
    assert "<@" not in text and "<!" not in text


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


def test_actions_show_who_what_outcome_rates_and_the_effect_check(playbook):
    action = ActionRequest(
        id=uuid.uuid4(),
        incident_id=7,
        kind=ActionKind.SCALE,
        params={"namespace": "phishnet", "deployment": "phishnet-worker-email", "replicas": 6},
        summary="Scale `phishnet-worker-email` from 2 to 6 replicas",
        requested_by="UALICE",
        requested_at=T0 + 4 * MIN,
        expires_at=T0 + 34 * MIN,
        state=ActionState.SUCCEEDED,
        approvals=(Approval("UBOB", T0 + 5 * MIN),),
        executed_at=T0 + 5 * MIN,
        finished_at=T0 + 5 * MIN + timedelta(seconds=40),
    )
    verdict = ActionVerdict("the queue drains 300/min faster", T0 + 8 * MIN)
    src = sources(playbook, actions=(action,), verdicts={action.id: verdict})
    doc = compose_report(src)
    text = render_markdown(doc)
    assert "- **scale**: Scale `phishnet-worker-email` from 2 to 6 replicas" in text
    assert "requested by @alice at 09:44:26 UTC; approved by @bob at 09:45:26 UTC" in text
    assert "parameters: deployment=phishnet-worker-email; replicas=6" in text
    assert "outcome: succeeded at 09:46:06 UTC (ran 40s)" in text
    # 900..2,500 over the 5 minutes before (+380/min by least squares); 1,400, 700, 200,
    # 0 after it finished (-470/min)
    assert "net rate before: +380/min (growing) → after: -470/min (draining)" in text
    assert "effect check (09:48:26 UTC): the queue drains 300/min faster" in text
    marks = {(m.kind, m.label) for m in report_chart(src, doc).marks}
    assert (MarkKind.ACTION, "Scale phishnet-worker-email from 2") in marks
    assert (MarkKind.VERDICT, "the queue drains 300/min") in marks


def test_pages_say_who_was_paged_and_how_long_the_acknowledgement_took(playbook):
    timeline = (
        TimelineEntry(
            7,
            T0 + 3 * MIN + timedelta(seconds=30),
            EventKind.ESCALATED,
            None,
            "Paged L1 Senior DevOps Engineer: no acknowledgement after 30m",
            {"tier": 1, "paged": ["UBOB"]},
        ),
        TimelineEntry(
            7, T0 + 6 * MIN, EventKind.ESCALATED, None, "Paged L2 X: backlog above", {"tier": 2}
        ),
    )
    text = render_markdown(compose_report(sources(playbook, timeline=timeline)))
    assert (
        "- L1 Senior DevOps Engineer: paged 09:43:56 UTC (@bob) — no acknowledgement after "
        "30m; acknowledged by @alice at 09:44:26 UTC, 30s after this page" in text
    )
    assert "- L2 Engineering Team Lead + Product Owner: paged 09:46:26 UTC (nobody)" in text
    assert "paged after the incident was acknowledged" in text
    in_pagerduty = incident(acknowledged_by="pagerduty:PXYZ123")
    text = render_markdown(
        compose_report(sources(playbook, incident=in_pagerduty, timeline=timeline))
    )
    assert "acknowledged by PagerDuty user PXYZ123 at 09:44:26 UTC, 30s after this page" in text


def test_lessons_come_from_notes_and_the_prompts_thread_as_it_reads_now(playbook):
    prompt = ts(T0 + 10 * MIN)
    channel = (
        ChannelMessage(
            "C0INC", ts(T0 + 11 * MIN), "UBOB", "Prevention: HPA min 4", thread_ts=prompt
        ),
        ChannelMessage(
            "C0INC", ts(T0 + 12 * MIN), "UBOB", "lesson: gone", thread_ts=prompt, deleted=True
        ),
        ChannelMessage("C0INC", ts(T0 + 13 * MIN), "UBOB", "thanks", thread_ts=prompt),
    )
    timeline = (TimelineEntry(7, T0 + 9 * MIN, EventKind.LESSON, "UALICE", "canary deploys"),)
    doc = compose_report(sources(playbook, channel=channel, timeline=timeline, prompt_ts=prompt))
    assert [(c.text, c.source) for c in doc.lessons] == [("canary deploys", "note")]
    assert [(c.text, c.by, c.source) for c in doc.prevention] == [("HPA min 4", "UBOB", "thread")]


def test_an_open_incidents_draft_runs_to_now(playbook):
    open_incident = incident(state=IncidentState.OPEN, resolved_at=None, resolved_by=None)
    doc = compose_report(sources(playbook, incident=open_incident))
    text = render_markdown(doc)
    assert format_elapsed(doc.durations.duration) == "19m"
    assert "→ still open at 10:00:26 UTC)" in text and "- Resolution: _not recorded_" in text
    assert "(draft: lessons and prevention measures can still be added" in text
    final = render_markdown(
        compose_report(sources(playbook, state=ReportState.FINAL, finalised_by="UBOB"))
    )
    assert "**Report**: final, finalised by @bob" in final


def test_the_document_as_json(playbook):
    data = report_data(compose_report(sources(playbook)))
    assert json.loads(json.dumps(data)) == data
    assert data["peak"]["peak"] == 2500 and data["durations"]["duration"] == 480.0
    assert data["began"] == "2026-11-28T09:41:26+00:00" and data["state"] == "draft"


def test_the_chart_covers_the_incident_and_the_hour_before(playbook):
    src = sources(playbook, samples=tuple(series(*range(800, 2000, 10), start=T0 - 90 * MIN)))
    doc = compose_report(src)
    data = report_chart(src, doc)
    start = doc.began or doc.detected
    assert data.window == (start - timedelta(hours=1), doc.resolved)
    assert data.thresholds == {EMAIL: 1000, ANALYSIS: 500}
    assert data.marks == ()  # no action ran, nobody was paged
    assert data.incident_start == start and data.resolved_at == doc.resolved
    image = Image.open(io.BytesIO(render_depth_chart(data)))
    assert image.size == (1100, 500)


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
