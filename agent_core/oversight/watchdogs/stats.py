"""Number helpers of the watchdogs: reading values, noise estimates, the flat-window statistics
and the number format of the alert messages."""

from __future__ import annotations

import math
from statistics import median
from typing import Any, Iterable


def num(v: Any) -> float | None:
    """A finite float, or None when v is not a number; NaN/inf come back as themselves."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def nonfinite(v: Any) -> bool:
    if v is None:
        return True  # the worker writes NaN / inf as null
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return not math.isfinite(v)
    if isinstance(v, str):
        return v.strip().lower() in ("nan", "-nan", "inf", "-inf", "+inf", "infinity", "-infinity")
    return False


def robust_sigma(values: Iterable[float]) -> float:
    """Noise level of a series from its first differences (insensitive to trends and jumps)."""
    vals = list(values)
    if len(vals) < 3:
        return 0.0
    diffs = [b - a for a, b in zip(vals, vals[1:])]
    m = median(diffs)
    mad = median(abs(d - m) for d in diffs)
    return 1.4826 * mad / math.sqrt(2.0)


def flat_sigma(win: list[float]) -> float:
    """Per-step noise of a window from the spread of its first differences (a trend or a slow
    curve does not inflate it). Chosen over MAD / residual estimates on the test catalog: no
    false flat in 360 healthy runs, no late detection in 80 seeded ones."""
    d = [b - a for a, b in zip(win, win[1:])]
    if len(d) < 2:
        return 0.0
    m = sum(d) / len(d)
    return math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / 2.0)


def first(values: dict, keys: tuple) -> tuple[str | None, Any]:
    """(key, value) of the first of `keys` in `values`, else (None, None)."""
    for k in keys:
        if k in values:
            return k, values[k]
    return None, None


def flat_window(vals: list[float], width: int) -> tuple[list[float], float, float, float] | None:
    """The last `width` values and their two halves: (window, mean of the first half, mean of the
    second half, standard error of the difference of the means); None with fewer values."""
    if len(vals) < width:
        return None
    win = vals[-width:]
    h = width // 2
    a, b = sum(win[:h]) / h, sum(win[-h:]) / h
    se = flat_sigma(win) * math.sqrt(1.0 / h + 1.0 / (width - h))
    return win, a, b, se


def fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"
