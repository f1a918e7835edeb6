"""The queue-depth chart as a PNG, drawn by matplotlib on its headless Agg canvas.

Only :class:`~matplotlib.figure.Figure` and
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` are used, never
``pyplot``: pyplot keeps the "current figure" in global state, so two charts
rendered at once (two incidents, or a render in a worker thread while another
runs) could draw into each other. A Figure of our own needs no backend switch and
no ``close()``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.domain.chart import ChartData, ChartMark, MarkKind
from bot.domain.models import QueueSample

#: 1100 x 500 pixels: readable in Slack's preview and in a Markdown report.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 11.0, 5.0, 100
#: A pause between two samples longer than this many typical intervals is a gap.
GAP_FACTOR = 3.0
#: Labels on marks are cut to this many characters.
LABEL_CHARS = 28
#: matplotlib's default "tab10" colours, one per queue, in order.
QUEUE_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#d62728",
)
_MARK_STYLE = {
    MarkKind.ACTION: ("#222222", "-"),
    MarkKind.VERDICT: ("#2e7d32", "-."),
    MarkKind.EVENT: ("#777777", ":"),
}
_INCIDENT_COLOUR = "#d62728"

Floats = npt.NDArray[np.float64]
Series = tuple[Floats, Floats]  # (matplotlib date numbers, depths with NaN gaps)


def render_depth_chart(data: ChartData) -> bytes:
    """The chart as PNG bytes (1100 x 500 px). Safe to call from several threads at
    once; takes a few hundred milliseconds, so async callers should run it with
    ``asyncio.to_thread``. With no samples in the window the image says so."""
    figure = depth_figure(data)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def depth_figure(data: ChartData) -> Figure:
    """The chart as a matplotlib Figure (attached to an Agg canvas), not yet saved.

    One line per queue (more samples than pixel columns are reduced to each
    column's minimum and maximum, so no peak is lost), its threshold as a dashed
    line in the same colour, the incident shaded, each mark a vertical line with
    its label, times as HH:MM in ``data.tz`` and counts with thousands separators.
    """
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    start, end = data.window
    end = max(end, start + timedelta(minutes=1))  # an empty window still has an axis
    ax.set_title(_plain(data.title))
    ax.set_xlim(_num(start), _num(end))
    _time_axis(ax, data.tz, end)
    ax.set_ylabel("jobs in queue")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=2))
    ax.grid(True, color="#e6e6eb", linewidth=0.8)
    ax.set_axisbelow(True)

    in_window = [s for s in data.samples if start <= s.at <= end]
    top = 1.0
    columns = int(WIDTH_INCHES * DPI)
    for index, queue in enumerate(data.queue_order()):
        times, depths = _series(in_window, queue)
        if not len(times):
            continue
        colour = QUEUE_COLOURS[index % len(QUEUE_COLOURS)]
        times, depths = _downsample(times, depths, _num(start), _num(end), columns)
        few = np.count_nonzero(~np.isnan(depths)) <= 60
        ax.plot(
            times,
            depths,
            color=colour,
            linewidth=1.8,
            marker="o" if few else None,
            markersize=3,
            label=_plain(queue),
        )
        top = max(top, float(np.nanmax(depths)) if np.any(~np.isnan(depths)) else 0.0)
        threshold = data.thresholds.get(queue)
        if threshold is not None:
            ax.axhline(
                threshold,
                color=colour,
                linestyle="--",
                linewidth=1.2,
                label=_plain(f"{queue} threshold ({threshold:,})"),
            )
            top = max(top, float(threshold))
        for level in (lv for lv in data.levels if lv.queue == queue):
            ax.axhline(
                level.depth, color=colour, linestyle=":", linewidth=1.6, label=_plain(level.label)
            )
            top = max(top, float(level.depth))
    if not in_window:
        ax.text(
            0.5,
            0.5,
            "No queue samples in this period",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=14,
            color="#555555",
        )
    ax.set_ylim(0, top * 1.12)
    _incident(ax, data)
    _marks(ax, data.marks, start, end)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def _time_axis(ax: Axes, tz: tzinfo, at: datetime) -> None:
    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    ax.set_xlabel(f"time ({tz_name(tz, at)})")


def tz_name(tz: tzinfo, at: datetime) -> str:
    """``Europe/Berlin`` for a zoneinfo zone, else the zone's own name (``UTC``)."""
    key = getattr(tz, "key", None)
    return str(key) if key else (tz.tzname(at) or "UTC")


def _num(at: datetime) -> float:
    return float(mdates.date2num(at))


def _series(samples: Sequence[QueueSample], queue: str) -> Series:
    """The queue's depths in time order, with a NaN wherever its sampling paused
    (a gap in the line rather than a straight line over it). Samples that lack the
    queue are skipped, so a queue sampled every other time is still a line."""
    points = sorted(((s.at, s.depths[queue]) for s in samples if queue in s.depths), key=_at)
    # One date2num call for the whole series: per sample it costs ~0.1 ms (a 10,000-
    # sample chart spent seconds there).
    stamps = [at for at, _ in points]
    times = np.asarray(mdates.date2num(stamps) if stamps else [], dtype=float)
    depths = np.array([float(depth) for _, depth in points], dtype=float)
    if len(times) < 3:
        return times, depths
    steps = np.diff(times)
    typical = float(np.median(steps))
    breaks = np.nonzero(steps > GAP_FACTOR * typical)[0] if typical > 0 else np.empty(0, int)
    if len(breaks):
        middles = (times[breaks] + times[breaks + 1]) / 2
        times = np.insert(times, breaks + 1, middles)
        depths = np.insert(depths, breaks + 1, math.nan)
    return times, depths


def _at(point: tuple[datetime, int]) -> datetime:
    return point[0]


def _downsample(times: Floats, depths: Floats, start: float, end: float, columns: int) -> Series:
    """At most two points per pixel column: the column's lowest and highest depth,
    in the order they happened, so a one-sample spike still reaches its height.
    A column holding a gap keeps it."""
    if len(times) <= 2 * columns or end <= start:
        return times, depths
    column = np.clip(((times - start) / (end - start) * columns).astype(int), 0, columns - 1)
    out_t: list[float] = []
    out_d: list[float] = []
    edges = np.flatnonzero(np.diff(column)) + 1
    for t, d in zip(np.split(times, edges), np.split(depths, edges), strict=True):
        finite = ~np.isnan(d)
        if not finite.all():
            out_t.append(float(t[0]))
            out_d.append(math.nan)
        if not finite.any():
            continue
        idx = np.flatnonzero(finite)
        lo, hi = idx[np.argmin(d[idx])], idx[np.argmax(d[idx])]
        for i in sorted({int(lo), int(hi)}):
            out_t.append(float(t[i]))
            out_d.append(float(d[i]))
    return np.array(out_t), np.array(out_d)


def _incident(ax: Axes, data: ChartData) -> None:
    if data.incident_start is None:
        return
    start, end = data.window
    began = max(data.incident_start, start)
    until = min(data.resolved_at or end, end)
    if began <= end and until >= began:
        ax.axvspan(_num(began), _num(until), color=_INCIDENT_COLOUR, alpha=0.07, label="incident")
    if start <= data.incident_start <= end:
        ax.axvline(_num(data.incident_start), color=_INCIDENT_COLOUR, linewidth=1.2)
        _label(ax, _num(data.incident_start), "incident opened", _INCIDENT_COLOUR)
    if data.resolved_at is not None and start <= data.resolved_at <= end:
        ax.axvline(_num(data.resolved_at), color=_INCIDENT_COLOUR, linewidth=1.2)
        _label(ax, _num(data.resolved_at), "resolved", _INCIDENT_COLOUR)


def _marks(ax: Axes, marks: Sequence[ChartMark], start: datetime, end: datetime) -> None:
    for mark in sorted(marks, key=lambda m: m.at):
        if not start <= mark.at <= end:
            continue
        colour, style = _MARK_STYLE.get(mark.kind, _MARK_STYLE[MarkKind.EVENT])
        ax.axvline(_num(mark.at), color=colour, linestyle=style, linewidth=1.0, alpha=0.8)
        _label(ax, _num(mark.at), _short(mark.label), colour)


def _label(ax: Axes, x: float, text: str, colour: str) -> None:
    ax.annotate(
        _plain(text),
        xy=(x, 0.98),
        xycoords=("data", "axes fraction"),
        xytext=(-3, 0),
        textcoords="offset points",
        rotation=90,
        ha="right",
        va="top",
        fontsize=8,
        color=colour,
    )


def _short(label: str) -> str:
    label = " ".join(label.split())
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _plain(text: str) -> str:
    """Text shown as typed: ``$`` would start matplotlib's math mode, and a character
    the font lacks would only print a warning and a box, so it becomes ``?``."""
    glyphs = _font_characters()
    shown = "".join(ch if ord(ch) in glyphs or ch in "\n\t" else "?" for ch in text)
    return shown.replace("$", r"\$")


@lru_cache(maxsize=1)
def _font_characters() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(FT2Font(path).get_charmap())
