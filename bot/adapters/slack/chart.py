"""A queue-depth chart as a PNG, drawn in pure Python (no plotting stack).

Small on purpose: a line of the depth over the recent samples, the alert
threshold as a red line, on a light grid — enough to see "still climbing" or
"turning" at a glance in the incident thread.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence

Pixel = tuple[int, int, int]

_BACKGROUND: Pixel = (255, 255, 255)
_GRID: Pixel = (230, 230, 235)
_LINE: Pixel = (29, 105, 191)
_THRESHOLD: Pixel = (214, 39, 40)


def depth_chart_png(
    values: Sequence[int], threshold: int | None = None, *, width: int = 480, height: int = 160
) -> bytes:
    """The series scaled to the image (0 at the bottom), threshold included in the range."""
    canvas = [[_BACKGROUND] * width for _ in range(height)]
    for y in range(0, height, height // 4 or 1):
        canvas[y] = [_GRID] * width
    top = max([*values, threshold or 0, 1])
    margin = 6

    def y_of(value: float) -> int:
        usable = height - 2 * margin
        return height - margin - 1 - round(value / top * usable)

    if threshold:
        canvas[y_of(threshold)] = [_THRESHOLD] * width
    points = _points(values, width, margin, y_of)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        _line(canvas, x0, y0, x1, y1, _LINE)
    return _encode(canvas)


def _points(
    values: Sequence[int], width: int, margin: int, y_of: Callable[[float], int]
) -> list[tuple[int, int]]:
    if len(values) == 1:
        return [(margin, y_of(values[0])), (width - margin - 1, y_of(values[0]))]
    step = (width - 2 * margin - 1) / max(len(values) - 1, 1)
    return [(margin + round(i * step), y_of(v)) for i, v in enumerate(values)]


def _line(canvas: list[list[Pixel]], x0: int, y0: int, x1: int, y1: int, color: Pixel) -> None:
    """Bresenham, two pixels thick so it survives Slack's thumbnail scaling."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        for ox, oy in ((0, 0), (0, 1), (1, 0)):
            y, x = y0 + oy, x0 + ox
            if 0 <= y < len(canvas) and 0 <= x < len(canvas[0]):
                canvas[y][x] = color
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def _encode(canvas: list[list[Pixel]]) -> bytes:
    height, width = len(canvas), len(canvas[0])
    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in canvas)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
