"""A plot of load and instances over time as a PNG, with the standard library alone (zlib,
struct): no plotting package to pin. The picture has no text; its key is fixed and documented in
docs/autoscale.md: grey bars are requests per minute (scaled to the tallest minute), red bars
mark minutes with 429 or 408 answers, the blue line is the instance count autoscale set, the
green line the oracle's; faint lines mark every hour and every instance."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WHITE = (255, 255, 255)
GRID = (232, 232, 232)
LOAD = (190, 190, 190)
LOST = (214, 39, 40)
INSTANCES = (31, 119, 180)
ORACLE = (44, 160, 44)


class Canvas:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def set(self, x: int, y: int, color: tuple[int, int, int]) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset : offset + 3] = bytes(color)

    def vline(self, x: int, y0: int, y1: int, color: tuple[int, int, int]) -> None:
        for y in range(min(y0, y1), max(y0, y1) + 1):
            self.set(x, y, color)

    def hline(self, x0: int, x1: int, y: int, color: tuple[int, int, int]) -> None:
        for x in range(min(x0, x1), max(x0, x1) + 1):
            self.set(x, y, color)

    def encode(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def plot(
    load: Sequence[float],
    lost: Sequence[int],
    instances: Sequence[int],
    oracle: Sequence[int],
    max_instances: int,
    height: int = 360,
) -> bytes:
    """One pixel column per minute (at most 1,440; longer runs are averaged per column)."""
    minutes = len(load)
    per_column = max(1, -(-minutes // 1440))
    columns = -(-minutes // per_column)
    canvas = Canvas(columns + 2, height + 2)
    top = max(1.0, max(load, default=1.0))
    scale_instances = max(1, max_instances, max(instances, default=1), max(oracle, default=1))

    def y_of_instances(count: float) -> int:
        return height - round(count / scale_instances * (height - 10))

    for count in range(1, scale_instances + 1):
        canvas.hline(1, columns, y_of_instances(count), GRID)
    for column in range(0, columns, max(1, 60 // per_column)):
        canvas.vline(column + 1, 0, height, GRID)
    previous: dict[str, int] = {}
    for column in range(columns):
        window = slice(column * per_column, (column + 1) * per_column)
        value = sum(load[window]) / len(load[window])
        bar = round(value / top * (height - 10))
        canvas.vline(column + 1, height, height - bar, LOAD)
        if sum(lost[window]):
            canvas.vline(column + 1, height, height - 6, LOST)
        for name, series, color in (("oracle", oracle, ORACLE), ("set", instances, INSTANCES)):
            chunk = series[window]
            y = y_of_instances(sum(chunk) / len(chunk))
            canvas.vline(column + 1, previous.get(name, y), y, color)
            previous[name] = y
    return canvas.encode()
