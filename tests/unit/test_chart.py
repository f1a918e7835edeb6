from __future__ import annotations

import struct
import zlib

from bot.adapters.slack.chart import depth_chart_png


def decode(png: bytes) -> tuple[int, int, list[bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    return width, height, rows


def pixel(rows, x, y):
    return tuple(rows[y][3 * x : 3 * x + 3])


def test_rising_series_is_drawn_low_left_to_high_right_with_the_threshold():
    width, height, rows = decode(depth_chart_png([0, 500, 1000, 1500, 2000], 1000))
    assert (width, height) == (480, 160)
    blue = (29, 105, 191)
    red = (214, 39, 40)
    columns_with_line = {
        x: [y for y in range(height) if pixel(rows, x, y) == blue] for x in (6, 473)
    }
    assert min(columns_with_line[6]) > max(columns_with_line[473])  # it goes up
    threshold_rows = [y for y in range(height) if pixel(rows, 200, y) == red]
    assert threshold_rows and 60 < threshold_rows[0] < 100  # halfway up a 0..2000 range
