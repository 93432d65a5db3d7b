"""Rich styles from the active theme's domain variables, plus small text formatters.

Widgets that render Rich `Text` (the transcript, the host pane, the status line) cannot use
CSS variables directly; they look the colours up here at render time and re-render when the
theme changes (`App.theme_changed_signal`).
"""

from __future__ import annotations

import json

from rich.style import Style
from textual.color import Color

from themes import DOMAIN_DEFAULTS, DOMAIN_VARIABLES

__all__ = ["Palette", "fmt_duration", "fmt_bytes_gib", "one_line"]


class Palette:
    """`palette["loss"]` -> rich Style with that theme variable as foreground colour."""

    _cache: dict[tuple, "Palette"] = {}

    def __init__(self, variables: dict[str, str] | None = None) -> None:
        merged = {**DOMAIN_DEFAULTS, **(variables or {})}
        self._styles: dict[str, Style] = {}
        for name in DOMAIN_VARIABLES:
            try:
                self._styles[name] = Style(color=Color.parse(merged[name]).rich_color)
            except Exception:  # not a plain colour (e.g. "auto 80%"): no style
                self._styles[name] = Style()
        self._bold = {name: style + Style(bold=True) for name, style in self._styles.items()}

    @classmethod
    def from_app(cls, app) -> "Palette":
        """The palette of the app's current theme (cached per set of domain colours)."""
        try:
            variables = app.theme_variables
        except Exception:
            variables = {}
        key = tuple(variables.get(name) for name in DOMAIN_VARIABLES)
        palette = cls._cache.get(key)
        if palette is None:
            if len(cls._cache) > 32:
                cls._cache.clear()
            palette = cls._cache[key] = cls({k: v for k, v in variables.items() if k in DOMAIN_VARIABLES})
        return palette

    def __getitem__(self, name: str) -> Style:
        return self._styles.get(name, Style())

    def bold(self, name: str) -> Style:
        return self._bold.get(name) or Style(bold=True)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_bytes_gib(value: float | None) -> str:
    """GPU/host memory figures arrive in unknown units: >=1e7 is bytes, >=256 is MiB
    (nvidia-smi's unit), anything smaller is already GiB."""
    if value is None:
        return "?"
    v = float(value)
    if v >= 1e7:
        v /= 1024**3
    elif v >= 256:
        v /= 1024
    return f"{v:.1f}"


def one_line(value: object, limit: int = 160) -> str:
    """A compact one-line rendering of tool args etc., cut to `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
