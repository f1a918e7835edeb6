"""The report's figures from plain values: exact durations, instants in the playbook's
zone with UTC alongside, backlog spans, peaks, time above the threshold, net rates,
and the chart's window."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from PIL import Image

from bot.adapters.chart import render_depth_chart
from bot.domain.report import (
    elapsed,
    format_duration,
    format_elapsed,
    format_instant,
)
from bot.domain.report.chart import report_chart
from bot.domain.report.compose import compose_report
from bot.domain.report.figures import backlog_span, net_rate, queue_figures
from tests.unit.report_support import (
    ANALYSIS,
    EMAIL,
    MIN,
    T0,
    series,
    sources,
)

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
