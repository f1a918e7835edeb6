"""Backtest on generated sample histories with known crossings (bot/domain/backtest.py,
backtest_chart.py, backtest_report.py): replayed through the monitor's own RuleBook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.chart import depth_figure, render_depth_chart
from bot.domain.backtest import (
    HourlyReading,
    Resolution,
    TooLittleHistory,
    build_history,
    compare,
    replay,
)
from bot.domain.backtest_chart import backtest_chart, choose_focus
from bot.domain.backtest_report import headline, render_backtest
from bot.domain.chart import ChartLevel, MarkKind
from bot.domain.errors import Refused
from bot.domain.models import Incident, IncidentState, QueueSample
from bot.domain.playbook import Playbook, Severity
from bot.domain.rule_changes import RuleChange, apply_changes
from bot.domain.rules import RuleBook
from bot.domain.weekly import HourlyDepth

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"
EVERY = timedelta(seconds=15)


def samples(minutes: int, depth: Callable[[timedelta], int], start: datetime = T0):
    """One sample every 15 s for ``minutes``: email at ``depth(elapsed)``, analysis 10."""
    count = int(timedelta(minutes=minutes) / EVERY)
    return [
        QueueSample(at=start + i * EVERY, depths={EMAIL: depth(i * EVERY), ANALYSIS: 10})
        for i in range(count)
    ]


def climb(elapsed: timedelta) -> int:
    """20 jobs a minute for 90 minutes (1,800), then drained: > 800 from 40m15s,
    > 1,000 from 50m15s."""
    if elapsed >= timedelta(minutes=90):
        return 0
    return int(20 * elapsed.total_seconds() / 60)


def incident(number: int, detected: datetime, resolved: datetime | None = None) -> Incident:
    return Incident(
        id=number,
        playbook="phishnet-queue-backlog",
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.RESOLVED if resolved else IncidentState.OPEN,
        rule="EmailQueueBacklog",
        queue=EMAIL,
        detected_at=detected,
        peak_depth=1800,
        peak_queue=EMAIL,
        resolved_at=resolved,
    )


def changed(playbook: Playbook, **fields: object) -> Playbook:
    return apply_changes(
        playbook,
        [
            RuleChange("EmailQueueBacklog", name.rstrip("_"), value)  # type: ignore[arg-type]
            for name, value in fields.items()
        ],
        None,
    )


def history_of(points, *, until: datetime | None = None, since: datetime = T0):
    return build_history(points, {}, since, until or points[-1].at)


def test_the_replay_fires_exactly_when_the_monitor_s_rulebook_does(playbook):
    points = samples(120, climb)
    book = RuleBook(playbook.rules)
    live = [t.state for p in points for t in book.observe(p) if t.firing]
    [alert] = replay(playbook.rules, history_of(points))
    assert [s.rule.name for s in live] == ["EmailQueueBacklog"]
    assert alert.fired_at == T0 + timedelta(minutes=60, seconds=15)  # 10m after 50m15s
    assert alert.cleared_at == T0 + timedelta(minutes=90)
    assert alert.peak == 1795


def test_a_lower_threshold_detects_the_known_incident_ten_minutes_earlier(playbook):
    points = samples(120, climb)
    real = incident(12, T0 + timedelta(minutes=60, seconds=15), T0 + timedelta(minutes=100))
    result = compare(
        playbook,
        changed(playbook, threshold=800),
        history_of(points),
        [real],
        timedelta(minutes=30),
    )
    [detection] = result.detections
    assert detection.current is not None and detection.current.fired_at == real.detected_at
    assert detection.shift == timedelta(minutes=-10)
    focus = choose_focus(result)
    text = render_backtest(result, focus, chart_file="bt.png")
    assert text.startswith("## Backtest: EmailQueueBacklog: threshold 1,000 → 800\n")
    rows = text.split("```")[3].strip().splitlines()
    assert rows == [
        "incident  detected (UTC)  current replay  candidate    change",
        "#12       11-20 09:00     11-20 09:00     11-20 08:50  detected 10m earlier",
    ]
    summary = text.split("```")[1].strip("\n").splitlines()
    assert summary == [
        "                         current  candidate",
        "alerts                   1        1",
        "  for real incidents     1 of 1   1 of 1",
        "  with no real incident  0        0",
        "real incidents missed    0        0",
        "time firing              29m      39m",
        "flaps (back < 30m)       0        0",
    ]
    assert "**Chart**: incident #12, the real incident whose detection changes most" in text
    assert "![Backtest, incident #12: Large email queue backlog detected](bt.png)" in text
    assert "raw samples (480), as the monitor saw them." in text
    assert headline(result, focus) == (
        "Backtest of EmailQueueBacklog: threshold 1,000 → 800 over 1h 59m of history: "
        "1 alert(s) instead of 1, 0 flap(s) instead of 0, #12 detected 10m earlier."
    )


def noisy(elapsed: timedelta) -> int:
    """1,100 jobs, with one sample at 900 every 7 minutes (at 0m, 7m, 14m…)."""
    return 900 if elapsed % timedelta(minutes=7) == timedelta(0) else 1100


def test_a_shorter_for_flaps_on_a_noisy_series(playbook):
    points = samples(70, noisy)
    result = compare(
        playbook,
        changed(playbook, for_=timedelta(minutes=5)),
        history_of(points),
        [],
        timedelta(minutes=30),
    )
    assert result.current.alerts == ()  # never 10 minutes above without a dip
    alerts = result.candidate.alerts
    # Above from every dip + 15 s; fires 5 minutes later; the next dip clears it.
    assert [a.fired_at - T0 for a in alerts] == [
        timedelta(minutes=7 * k, seconds=5 * 60 + 15) for k in range(10)
    ]
    assert all(a.cleared_at - a.fired_at == timedelta(minutes=1, seconds=45) for a in alerts[:-1])
    assert len(result.candidate.flaps) == 9  # each back 5m15s after the previous cleared
    text = render_backtest(result, choose_focus(result))
    assert "flaps (back < 30m)       0        9" in text
    assert "alerts                   0        10" in text
    assert "**Candidate flaps**: 9" in text
    assert "**Real incidents**: none was detected in this period." in text
    assert "**Chart**: the alert of 11-20 08:05 UTC, an alert only the candidate raises" in text
    # The same series with a 3-minute quiet period: re-opens 5m15s later are no flaps.
    calmer = compare(
        playbook, changed(playbook, for_=timedelta(minutes=5)), history_of(points), [], EVERY * 12
    )
    assert calmer.candidate.flaps == ()


def test_a_higher_threshold_misses_a_real_incident(playbook):
    # 1,200 jobs from 10m to 50m: the current rule fires at 20m; 1,500 never.
    points = samples(60, lambda e: 1200 if 10 <= e.total_seconds() / 60 < 50 else 0)
    real = incident(3, T0 + timedelta(minutes=20), T0 + timedelta(minutes=55))
    result = compare(playbook, changed(playbook, threshold=1500), history_of(points), [real], EVERY)
    [detection] = result.detections
    assert detection.current is not None and detection.candidate is None
    text = render_backtest(result, choose_focus(result))
    assert "#3        11-20 08:20     11-20 08:20     missed     missed" in text
    assert "real incidents missed    0        1" in text
    assert "  for real incidents     1 of 1   0 of 1" in text


def test_alerts_with_no_real_incident_are_listed(playbook):
    points = samples(120, climb)
    result = compare(playbook, changed(playbook, threshold=800), history_of(points), [], EVERY)
    text = render_backtest(result, choose_focus(result))
    assert "**Alerts only the candidate raises (no real incident then)**: 1" in text
    assert "- 11-20 08:50 UTC for 39m: EmailQueueBacklog, peak 1,795 (raw)" in text


def test_hourly_rollups_are_replayed_at_their_maximum_and_said_to_approximate(playbook):
    since = T0 - timedelta(days=3)
    hours = [
        HourlyDepth(hour=since + timedelta(hours=h), avg_depth=600.0, max_depth=1400)
        if h == 10
        else HourlyDepth(hour=since + timedelta(hours=h), avg_depth=50.0, max_depth=80)
        for h in range(24)
    ]
    raw = samples(30, lambda e: 100)
    history = build_history(raw, {EMAIL: hours}, since, raw[-1].at)
    assert [p.resolution for p in history.periods] == [Resolution.HOURLY, Resolution.RAW]
    result = compare(playbook, changed(playbook, threshold=1200), history, [], EVERY)
    [alert] = result.current.alerts
    # The hour peaked at 1,400: above from its start, firing 10 minutes in, for 50m.
    assert alert.fired_at == since + timedelta(hours=10, minutes=10)
    assert alert.resolution is Resolution.HOURLY
    text = render_backtest(result, choose_focus(result))
    assert (
        "- 2026-11-17 08:00 to 2026-11-18 08:00 UTC: hourly rollups (24 hours), each hour "
        "replayed as its maximum depth. This approximates: an hour that peaked above a "
        "threshold counts as above for the whole hour, detection times are good to about an "
        "hour and flapping within an hour cannot be seen."
    ) in text
    assert "- 2026-11-20 08:00 to 2026-11-20 08:29 UTC: raw samples (120)" in text
    assert "- Nothing is stored before" not in text
    # Read at the mean (600), the same hour never crosses 1,000.
    means = build_history(raw, {EMAIL: hours}, since, raw[-1].at, HourlyReading.AVG)
    assert compare(playbook, playbook, means, [], EVERY).current.alerts == ()


def test_a_period_before_the_first_sample_is_said(playbook):
    points = samples(120, climb)
    result = compare(
        playbook, playbook, history_of(points, since=T0 - timedelta(days=2)), [], EVERY
    )
    text = render_backtest(result, choose_focus(result))
    assert "- Nothing is stored before 2026-11-20 08:00 UTC, so the 48h 00m before it" in text
    assert text.startswith("## Backtest: no rule change\n")


def test_too_little_history_is_said_plainly(playbook):
    with pytest.raises(TooLittleHistory) as nothing:
        compare(playbook, playbook, build_history([], {}, T0, T0 + timedelta(days=1)), [], EVERY)
    assert str(nothing.value).startswith(
        "No queue samples are stored for playbook `phishnet-queue-backlog` from 2026-11-20 "
        "08:00 to 2026-11-21 08:00 UTC: there is nothing to replay."
    )
    few = samples(3, lambda e: 2000)
    with pytest.raises(TooLittleHistory) as short:
        compare(playbook, changed(playbook, for_=timedelta(minutes=2)), history_of(few), [], EVERY)
    assert "the 12 stored sample(s) of playbook `phishnet-queue-backlog`" in str(short.value)
    assert "cover only 2m, less than the longest `for:` of the rules (10m)" in str(short.value)


def test_an_incident_asked_for_must_be_in_the_period(playbook):
    points = samples(120, climb)
    result = compare(playbook, playbook, history_of(points), [], EVERY)
    with pytest.raises(Refused) as refused:
        choose_focus(result, 99)
    assert str(refused.value) == (
        "Incident #99 was not detected between 2026-11-20 08:00 and 2026-11-20 09:59 UTC, "
        "the period replayed; give a longer `--since`, or another incident."
    )


def test_an_incident_with_no_samples_around_it_is_not_replayable(playbook):
    points = samples(120, climb)
    early = incident(1, T0 - timedelta(hours=5), T0 - timedelta(hours=4))
    result = compare(
        playbook,
        changed(playbook, threshold=800),
        history_of(points, since=T0 - timedelta(hours=6)),
        [early],
        EVERY,
    )
    assert "#1        11-20 03:00     no samples      no samples  not replayable" in (
        render_backtest(result, choose_focus(result))
    )


def test_the_chart_draws_both_thresholds_and_where_each_playbook_fires(playbook):
    points = samples(120, climb)
    real = incident(12, T0 + timedelta(minutes=60, seconds=15), T0 + timedelta(minutes=100))
    result = compare(playbook, changed(playbook, threshold=800), history_of(points), [real], EVERY)
    chart = backtest_chart(result, choose_focus(result))
    assert chart.thresholds == {EMAIL: 1000}
    assert chart.levels == [ChartLevel(EMAIL, 800, f"{EMAIL} candidate threshold (800)")]
    assert [(m.at - T0, m.label, m.kind) for m in chart.marks] == [
        (timedelta(minutes=50, seconds=15), "candidate fires", MarkKind.ACTION),
        # The current playbook fires with the incident's own "opened" line: no mark.
        (timedelta(minutes=90), "both clear", MarkKind.EVENT),
    ]
    assert chart.incident_start == real.detected_at
    figure = depth_figure(chart)
    [ax] = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines[f"{EMAIL} threshold (1,000)"].get_linestyle() == "--"
    dotted = lines[f"{EMAIL} candidate threshold (800)"]
    assert dotted.get_linestyle() == ":" and list(dotted.get_ydata()) == [800, 800]
    assert render_depth_chart(chart).startswith(b"\x89PNG")


def test_with_no_alert_the_chart_shows_the_highest_depth(playbook):
    points = samples(60, lambda e: 300 + int(e.total_seconds() // 60) * 5)  # 300 → 595
    result = compare(playbook, changed(playbook, threshold=700), history_of(points), [], EVERY)
    focus = choose_focus(result)
    assert focus.why == "no alert in either replay: the highest depth replayed"
    assert focus.title == "Backtest: highest email_processing_queue depth, 11-20 08:59 UTC"
    chart = backtest_chart(result, focus)
    assert chart.thresholds == {EMAIL: 1000}
    assert chart.levels == [ChartLevel(EMAIL, 700, f"{EMAIL} candidate threshold (700)")]
    assert chart.marks == []


def test_when_nothing_moves_the_latest_real_incident_is_charted(playbook):
    points = samples(120, climb)
    first = incident(1, T0 + timedelta(minutes=60, seconds=15), T0 + timedelta(minutes=95))
    result = compare(playbook, playbook, history_of(points), [first], EVERY)
    assert choose_focus(result).why == "incident #1, the latest real incident"
    assert "#1        11-20 09:00     11-20 09:00     11-20 09:00  detected at the same time" in (
        render_backtest(result, choose_focus(result))
    )
