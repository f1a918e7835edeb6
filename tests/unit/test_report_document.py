"""The report built from plain values: summary figures from the samples, the root cause
once, people named and nobody pinged, actions, pages, lessons, drafts, the JSON form."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from bot.domain.chart import MarkKind
from bot.domain.models import (
    ActionRequest,
    ActionState,
    Approval,
    EventKind,
    IncidentState,
    TimelineEntry,
)
from bot.domain.playbook import ActionKind
from bot.domain.report import (
    ActionVerdict,
    ChannelMessage,
    ReportState,
    format_elapsed,
    render_markdown,
    report_data,
)
from bot.domain.report.chart import report_chart
from bot.domain.report.compose import compose_report
from tests.unit.report_support import (
    EMAIL,
    MIN,
    T0,
    incident,
    sources,
    ts,
)

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
