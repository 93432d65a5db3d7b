"""The replay timeline: one line, the whole log scaled to the width, the played part in the
primary colour, the position as a cursor, and markers (approvals, alerts, checkpoints,
nudges, scores) where they happened. A click posts `Timeline.Seek(fraction)`.

It reads the replay log's marker index (`ReplayLog.markers`) and caches the marker
columns per (indexed count, width), so redraws at a few Hz cost nothing while playing.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from screens.widgets.palette import Palette

__all__ = ["Timeline", "MARKER_GLYPHS", "marker_columns"]

# type -> (glyph, domain colour, priority: the highest wins a shared column)
MARKER_GLYPHS = {
    "approval_request": ("◆", "risk-medium", 5),
    "approval_decision": ("◇", "ok", 4),
    "alert": ("!", "risk-high", 6),
    "checkpoint": ("▪", "tool", 2),
    "human_nudge": ("»", "person", 3),
    "score": ("★", "reward", 4),
}


def marker_columns(markers, type_of, total: int, width: int) -> dict[int, str]:
    """column -> marker type (the most important one in that column)."""
    cols: dict[int, str] = {}
    if total <= 0 or width <= 0:
        return cols
    for i in markers:
        col = min(width - 1, i * width // total)
        kind = type_of(i)
        have = cols.get(col)
        if have is None or MARKER_GLYPHS.get(kind, ("", "", 0))[2] > MARKER_GLYPHS.get(have, ("", "", 0))[2]:
            cols[col] = kind
    return cols


class Timeline(Widget):
    DEFAULT_CSS = """
    Timeline { height: 1; background: $panel; padding: 0 1; }
    """

    class Seek(Message):
        """The person clicked the timeline at `fraction` (0..1) of the log."""

        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def __init__(self, feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self._cache_key: tuple = ()
        self._cols: dict[int, str] = {}
        self._shown: tuple = ()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def update_position(self) -> None:
        st = self.feed.status()
        key = (st["position"], st["total"], st["loading"], st["playing"], st["speed"], self.size.width)
        if key != self._shown:
            self._shown = key
            self.refresh()

    def _columns(self, width: int) -> dict[int, str]:
        log = self.feed.log
        key = (log.count, width)
        if key != self._cache_key:
            with log.lock:
                markers = list(log.markers)
            self._cols = marker_columns(markers, log.type_of, log.count, width)
            self._cache_key = key
        return self._cols

    def _head(self, st: dict) -> str:
        icon = "▶" if st["playing"] else "⏸"
        more = "+" if st["loading"] else ""
        return f"{icon} {st['speed']:g}x {st['position']}/{st['total']}{more} "

    def render(self) -> Text:
        pal = Palette.from_app(self.app)
        st = self.feed.status()
        head = self._head(st)
        out = Text(no_wrap=True, overflow="crop")
        out.append(head, pal.bold("person"))
        width = max(self.content_size.width - len(head), 1)
        total, pos = st["total"], st["position"]
        cols = self._columns(width)
        cursor = min(width - 1, pos * width // total) if total else 0
        played = pal["loss"]
        rest = pal["muted"]
        for col in range(width):
            kind = cols.get(col)
            if col == cursor:
                out.append("┃", pal.bold("person"))
            elif kind is not None:
                glyph, style, _ = MARKER_GLYPHS.get(kind, ("·", "muted", 0))
                out.append(glyph, pal.bold(style) if col < cursor else pal[style])
            else:
                out.append("━" if col < cursor else "─", played if col < cursor else rest)
        return out

    def on_click(self, event: events.Click) -> None:
        head = len(self._head(self.feed.status()))
        width = max(self.content_size.width - head, 1)
        x = event.x - self.styles.padding.left - head
        if 0 <= x < width:
            event.stop()
            self.post_message(self.Seek(x / max(width - 1, 1)))
