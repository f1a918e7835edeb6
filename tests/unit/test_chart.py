"""The queue-depth chart: what it draws (read back from the Figure) and the PNG it makes."""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from bot.adapters.chart import depth_figure, render_depth_chart
from bot.domain.chart import (
    ChartData,
    ChartMark,
    MarkKind,
    alert_chart,
    depth_thresholds,
    incident_window,
)
from bot.domain.models import Incident, IncidentState, QueueSample
from bot.domain.playbook import Severity
from bot.domain.rules import RuleState
from bot.domain.views import AlertView

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET, UTC+1)
EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"


def climbing(minutes: int = 150, every: timedelta = timedelta(seconds=15)) -> list[QueueSample]:
    count = int(timedelta(minutes=minutes) / every)
    return [
        QueueSample(at=T0 + i * every, depths={EMAIL: 100 + 8 * i, ANALYSIS: 50 + (i % 40) * 10})
        for i in range(count)
    ]


def incident_chart(**overrides) -> ChartData:
    options = {
        "samples": climbing(),
        "window": (T0, T0 + timedelta(minutes=150)),
        "title": "Incident #7: Large email queue backlog detected",
        "thresholds": {EMAIL: 1000, ANALYSIS: 500},
        "marks": [
            ChartMark(T0 + timedelta(minutes=70), "scale email workers → 6"),
            ChartMark(T0 + timedelta(minutes=85), "effect: draining", MarkKind.VERDICT),
            ChartMark(T0 + timedelta(minutes=75), "ack alice", MarkKind.EVENT),
            ChartMark(T0 + timedelta(minutes=400), "after the window"),
        ],
        "tz": ZoneInfo("Europe/Berlin"),
        "incident_start": T0 + timedelta(minutes=60),
        "resolved_at": T0 + timedelta(minutes=140),
    }
    options.update(overrides)
    return ChartData(**options)


def queue_lines(figure: Figure) -> dict[str, Line2D]:
    [ax] = figure.axes
    return {
        line.get_label(): line
        for line in ax.get_lines()
        if line.get_linestyle() == "-" and not line.get_label().startswith("_")  # not a mark
    }


def dashed(figure: Figure) -> dict[str, Line2D]:
    [ax] = figure.axes
    return {line.get_label(): line for line in ax.get_lines() if line.get_linestyle() == "--"}


def texts(figure: Figure) -> list[str]:
    [ax] = figure.axes
    return [t.get_text() for t in ax.texts]


def test_png_is_a_sane_size_and_shape():
    png = render_depth_chart(incident_chart())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < len(png) < 400_000
    assert Image.open(io.BytesIO(png)).size == (1100, 500)


def test_each_queue_is_a_line_with_its_threshold_dashed_in_the_same_colour():
    figure = depth_figure(incident_chart())
    lines, thresholds = queue_lines(figure), dashed(figure)
    assert {EMAIL, ANALYSIS} <= set(lines)
    email_threshold = thresholds[f"{EMAIL} threshold (1,000)"]
    assert list(email_threshold.get_ydata()) == [1000, 1000]
    assert email_threshold.get_color() == lines[EMAIL].get_color()
    assert thresholds[f"{ANALYSIS} threshold (500)"].get_color() == lines[ANALYSIS].get_color()
    assert lines[EMAIL].get_color() != lines[ANALYSIS].get_color()
    [ax] = figure.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert EMAIL in legend and f"{EMAIL} threshold (1,000)" in legend and "incident" in legend
    assert ax.get_title() == "Incident #7: Large email queue backlog detected"


def test_marks_and_the_incident_are_labelled_at_their_times():
    figure = depth_figure(incident_chart())
    [ax] = figure.axes
    labels = {t.get_text(): t.xy[0] for t in ax.texts}
    at = mdates.date2num
    assert labels["scale email workers → 6"] == at(T0 + timedelta(minutes=70))
    assert labels["effect: draining"] == at(T0 + timedelta(minutes=85))
    assert labels["ack alice"] == at(T0 + timedelta(minutes=75))
    assert labels["incident opened"] == at(T0 + timedelta(minutes=60))
    assert labels["resolved"] == at(T0 + timedelta(minutes=140))
    assert "after the window" not in labels
    [shade] = [p for p in ax.patches if p.get_label() == "incident"]
    x0, x1 = shade.get_x(), shade.get_x() + shade.get_width()
    assert (x0, x1) == (at(T0 + timedelta(minutes=60)), at(T0 + timedelta(minutes=140)))


def test_axes_read_as_local_clock_times_and_grouped_counts():
    figure = depth_figure(incident_chart())
    [ax] = figure.axes
    assert ax.get_xlabel() == "time (Europe/Berlin)"
    assert ax.xaxis.get_major_formatter()(mdates.date2num(T0)) == "09:00"
    assert ax.yaxis.get_major_formatter()(1_234_567) == "1,234,567"
    figure.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert "09:00" in shown and "10:00" in shown


def test_no_samples_says_so():
    data = incident_chart(samples=[], marks=[])
    figure = depth_figure(data)
    assert "No queue samples in this period" in texts(figure)
    assert queue_lines(figure) == {}
    png = render_depth_chart(data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (1100, 500)


def test_one_sample_is_a_visible_point():
    sample = QueueSample(T0 + timedelta(minutes=30), {EMAIL: 1500})
    figure = depth_figure(incident_chart(samples=[sample], marks=[]))
    line = queue_lines(figure)[EMAIL]
    assert list(line.get_ydata()) == [1500] and line.get_marker() == "o"
    [ax] = figure.axes
    assert ax.get_ylim()[1] > 1500


def test_a_window_of_one_instant_still_draws():
    sample = QueueSample(T0, {EMAIL: 5})
    data = incident_chart(samples=[sample], window=(T0, T0), marks=[], incident_start=T0)
    assert list(queue_lines(depth_figure(data))[EMAIL].get_ydata()) == [5]
    assert render_depth_chart(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pause_in_sampling_is_a_gap_not_a_straight_line():
    samples = [
        s for s in climbing() if not T0 + timedelta(minutes=30) < s.at < T0 + timedelta(minutes=45)
    ]
    line = queue_lines(depth_figure(incident_chart(samples=samples)))[EMAIL]
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert np.count_nonzero(np.isnan(ys)) == 1
    assert np.count_nonzero(~np.isnan(ys)) == len(samples)


def test_a_queue_sampled_only_sometimes_is_still_a_line_and_has_no_threshold():
    samples = [
        QueueSample(
            T0 + i * timedelta(seconds=15), {EMAIL: 900, **({"notify": 30} if i % 2 else {})}
        )
        for i in range(400)
    ]
    figure = depth_figure(incident_chart(samples=samples))
    line = queue_lines(figure)["notify"]
    assert not np.isnan(np.asarray(line.get_ydata(), dtype=float)).any()
    assert not any(label.startswith("notify") for label in dashed(figure))


def test_ten_thousand_samples_are_thinned_but_every_peak_survives():
    every = timedelta(seconds=1)
    samples = [QueueSample(T0 + i * every, {EMAIL: 1000 + i % 7}) for i in range(10_000)]
    samples[6543] = QueueSample(samples[6543].at, {EMAIL: 987_654})  # one-sample spike
    samples[2100] = QueueSample(samples[2100].at, {EMAIL: 3})  # one-sample dip
    data = incident_chart(samples=samples, window=(T0, T0 + 10_000 * every), marks=[])
    line = queue_lines(depth_figure(data))[EMAIL]
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert len(ys) <= 2 * 1100
    assert np.nanmax(ys) == 987_654 and np.nanmin(ys) == 3
    png = render_depth_chart(data)
    assert 20_000 < len(png) < 400_000


def test_huge_depths_keep_plain_grouped_numbers():
    sample = QueueSample(T0 + timedelta(minutes=20), {EMAIL: 10**15})
    figure = depth_figure(incident_chart(samples=[sample], thresholds={EMAIL: 5 * 10**14}))
    [ax] = figure.axes
    figure.canvas.draw()
    assert ax.get_ylim()[1] >= 10**15
    assert "1,000,000,000,000,000" in [t.get_text() for t in ax.get_yticklabels()]
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e15" above the axis


def test_user_text_is_shown_as_typed_without_math_mode_or_font_warnings():
    # A "$" would start matplotlib's math mode; an emoji is not in the bundled font
    # (both would warn, and warnings are errors in this suite).
    mark = ChartMark(T0 + timedelta(minutes=90), "cost $5 📌 ok")
    figure = depth_figure(incident_chart(marks=[mark], title="spend $$$"))
    assert r"cost \$5 ? ok" in texts(figure)
    render_depth_chart(incident_chart(marks=[mark], title="spend $$$"))


def test_long_labels_are_cut():
    mark = ChartMark(
        T0 + timedelta(minutes=90), "restart phishnet-worker-email and phishnet-worker-analysis"
    )
    [label] = [
        t for t in texts(depth_figure(incident_chart(marks=[mark]))) if t.startswith("restart")
    ]
    assert len(label) == 28 and label.endswith("…")


def test_renders_in_parallel_threads_do_not_mix():
    datas = [incident_chart(title=f"chart {n}", thresholds={EMAIL: 1000 * n}) for n in range(1, 5)]
    alone = [render_depth_chart(d) for d in datas]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(render_depth_chart, datas * 2))
    assert together == alone * 2
    assert len(set(alone)) == 4


def test_incident_window_starts_an_hour_early_and_ends_at_resolution_or_now():
    began = T0 + timedelta(hours=2)
    assert incident_window(began, None, began + timedelta(minutes=5)) == (
        T0 + timedelta(hours=1),
        began + timedelta(minutes=5),
    )
    resolved = began + timedelta(minutes=40)
    assert incident_window(began, resolved, began + timedelta(hours=9))[1] == resolved


def test_alert_chart_covers_the_hour_before_with_every_depth_threshold(playbook):
    assert depth_thresholds(playbook) == {EMAIL: 1000, ANALYSIS: 500}
    incident = Incident(
        id=3,
        playbook=playbook.name,
        title="Large email queue backlog detected",
        severity=Severity.WARNING,
        state=IncidentState.OPEN,
        rule="EmailQueueBacklog",
        queue=EMAIL,
        detected_at=T0 + timedelta(minutes=70),
        peak_depth=1200,
        peak_queue=EMAIL,
    )
    history = climbing(minutes=80)
    view = AlertView(
        incident=incident,
        rule_state=RuleState(rule=playbook.rules[0]),
        sample=history[-1],
        history=history,
        playbook=playbook,
    )
    data = alert_chart(view)
    assert data.window == (T0 + timedelta(minutes=10), history[-1].at)
    assert data.incident_start == incident.detected_at and data.resolved_at is None
    assert data.title == "Incident #3: Large email queue backlog detected"
    assert list(data.queue_order()) == list(playbook.queue_names)
    assert not math.isnan(queue_lines(depth_figure(data))[EMAIL].get_ydata()[0])
