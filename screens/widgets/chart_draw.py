"""Text drawing of the loss chart, no widget: downsampling a series to the width, block-character
columns (one series) and braille lines (several series overlaid)."""

from __future__ import annotations

BLOCKS = " ▁▂▃▄▅▆▇█"


def downsample(values: list[float], width: int) -> list[float]:
    """Exactly `width` columns: bucket means when there are more points, else each point
    repeated over its share of the width (so a short series still fills the chart)."""
    n = len(values)
    if width <= 0 or n == 0:
        return []
    if n <= width:
        return [values[i * n // width] for i in range(width)]
    out = []
    for i in range(width):
        lo, hi = i * n // width, (i + 1) * n // width
        chunk = values[lo : max(hi, lo + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def bars(values: list[float], height: int) -> list[str]:
    """Rows (top first) of a block-column chart of `values` scaled to min..max."""
    if not values or height <= 0:
        return [""] * max(height, 0)
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        levels = [height * 4] * len(values)
    else:
        levels = [1 + round((v - lo) / span * (height * 8 - 1)) for v in values]
    rows = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        rows.append("".join(BLOCKS[max(0, min(8, lv - base))] for lv in levels))
    return rows


_LEFT = (0x40, 0x04, 0x02, 0x01)  # braille dots of the left column, bottom to top
_RIGHT = (0x80, 0x20, 0x10, 0x08)


def overlay(series: list[list[float]], width: int, rows: int, lo: float, hi: float) -> list[list[tuple[int, int]]]:
    """A rows x width grid of (braille dot bits, series number) drawing each series (later
    ones on top) at 2 points per cell across and 4 dots per cell up, scaled to lo..hi."""
    grid = [[(0, 0) for _ in range(width)] for _ in range(rows)]
    span = hi - lo
    levels = rows * 4
    for k, values in enumerate(series):
        pts = downsample(values, width * 2)
        for x, v in enumerate(pts):
            level = levels // 2 if span == 0 else min(levels - 1, int((v - lo) / span * levels))
            row = rows - 1 - level // 4
            col = x // 2
            dot = (_LEFT if x % 2 == 0 else _RIGHT)[level % 4]
            bits, owner = grid[row][col]
            grid[row][col] = ((bits if owner == k else 0) | dot, k)
    return grid
