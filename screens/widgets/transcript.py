"""The transcript: what the agent said and did, and what the person did, one entry per event.

A Line-API `ScrollView` that draws only what is visible (Toolong style): it keeps the events
(the last `max_entries`) and the wrapped height of each, and renders an entry's lines only
when they scroll into view (a small LRU of rendered strips). Feeding is batched: one
`add_events` call per `EventsArrived` batch, one refresh. Storing rendered strips for every
line (as RichLog does) costs ~7 cache objects per line and showed 100-200 ms GC pauses at
a few thousand entries/s; this keeps the heap small.

It follows the tail until the person scrolls up, then counts new entries in the border
("End" follows again). Entries wrap under their time/tag prefix (a hanging indent).
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections import OrderedDict
from typing import Iterable

from rich.console import Console
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from screens.feeds import parse_ts
from screens.widgets.palette import Palette, fmt_duration, one_line

__all__ = ["Transcript", "SHOWN_TYPES", "HIDDEN_TYPES", "format_event", "layout_event"]

SHOWN_TYPES = frozenset({
    "run_state", "agent_message", "tool_call", "tool_result", "human_nudge",
    "approval_request", "approval_decision", "alert", "score", "job_state",
    "checkpoint", "submitted", "note", "brief",
})  # any other type is shown as a dim one-liner; HIDDEN_TYPES go to the chart/host pane
HIDDEN_TYPES = frozenset({"metric", "host_sample"})
MAX_MESSAGE_LINES = 30
PREFIX = 15  # cells of the time + tag prefix of every entry
SEVERITY_STYLE = {"critical": "risk-high", "error": "risk-high", "high": "risk-high",
                  "warning": "risk-medium", "warn": "risk-medium", "medium": "risk-medium"}


def _args_line(args: object, limit: int = 200) -> str:
    if isinstance(args, dict):
        parts = []
        for k, v in args.items():
            val = v if isinstance(v, (int, float, bool)) or v is None else one_line(v, 80)
            if isinstance(v, str):
                val = json.dumps(one_line(v, 80), ensure_ascii=False)
            parts.append(f"{k}={val}")
        return one_line(", ".join(parts), limit)
    return one_line(args, limit)


def format_event(ev: dict, pal: Palette, t0: float | None) -> Text | None:
    """One transcript entry (possibly several lines) for an event, or None if not shown."""
    kind = ev.get("type")
    if kind in HIDDEN_TYPES:
        return None
    t = parse_ts(ev.get("ts"))
    stamp = fmt_duration(t - t0) if (t is not None and t0 is not None) else "--:--"
    line = Text(no_wrap=False, overflow="fold")
    line.append(f"{stamp:>7} ", pal["muted"])

    def tag(label: str, style: str) -> None:
        line.append(f"{label:<6}", pal.bold(style))
        line.append(" ")

    if kind == "agent_message":
        tag("agent", "agent")
        text = str(ev.get("text", "")).rstrip()
        lines = text.splitlines() or [""]
        if len(lines) > MAX_MESSAGE_LINES:
            extra = len(lines) - MAX_MESSAGE_LINES
            lines = lines[:MAX_MESSAGE_LINES] + [f"… ({extra} more lines)"]
        line.append(lines[0], pal["agent"])
        for more in lines[1:]:
            line.append("\n" + more, pal["agent"])
    elif kind == "tool_call":
        tag("call", "tool")
        line.append(str(ev.get("tool", "?")), pal.bold("tool"))
        line.append(f"({_args_line(ev.get('args'))})")
        if ev.get("id"):
            line.append(f"  #{ev['id']}", pal["muted"])
    elif kind == "tool_result":
        ok = bool(ev.get("ok"))
        tag("ok" if ok else "FAIL", "ok" if ok else "risk-high")
        line.append(one_line(ev.get("summary", ""), 300), pal["ok"] if ok else pal["risk-high"])
        if ev.get("id"):
            line.append(f"  #{ev['id']}", pal["muted"])
    elif kind == "human_nudge":
        tag("YOU", "person")
        line.append(str(ev.get("text", "")), pal.bold("person"))
        line.append("  (nudge from the person)", pal["muted"])
    elif kind == "approval_request":
        tag("ASK", "risk-medium")
        line.append(f"approval needed [{ev.get('rule', '?')}] ", pal.bold("risk-medium"))
        line.append(one_line(ev.get("summary", ""), 300))
        line.append(f"  #{ev.get('id', '?')}", pal["muted"])
    elif kind == "approval_decision":
        approved = ev.get("decision") == "approve"
        tag("YES" if approved else "VETO", "ok" if approved else "risk-high")
        if approved:
            scope = "for the session" if ev.get("scope") == "session" else "once"
            line.append(f"approved {scope}", pal.bold("ok"))
        else:
            line.append("vetoed", pal.bold("risk-high"))
            if ev.get("reason"):
                line.append(f": {one_line(ev['reason'], 300)}")
        if ev.get("by"):
            line.append(f" by {ev['by']}", pal["person"])
        line.append(f"  #{ev.get('id', '?')}", pal["muted"])
    elif kind == "alert":
        sev = str(ev.get("severity", "warning")).lower()
        style = SEVERITY_STYLE.get(sev, "risk-low")
        tag("ALERT", style)
        line.append(f"[{sev}] {ev.get('rule', '')}: ", pal.bold(style))
        line.append(one_line(ev.get("message", ""), 300))
    elif kind == "score":
        tag("score", "reward")
        value = ev.get("value")
        shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
        line.append(f"{ev.get('split', '?')} = {shown}", pal.bold("reward"))
        if ev.get("checkpoint"):
            line.append(f"  ({ev['checkpoint']})", pal["muted"])
    elif kind == "job_state":
        tag("job", "tool")
        line.append(f"{ev.get('job', '?')} → {ev.get('state', '?')}", pal["tool"])
        if ev.get("detail"):
            line.append(f"  {one_line(ev['detail'], 200)}", pal["muted"])
    elif kind == "checkpoint":
        tag("ckpt", "tool")
        line.append(f"{ev.get('job', '?')} saved {ev.get('path', '?')}", pal["tool"])
        if ev.get("step") is not None:
            line.append(f" @ step {ev['step']}", pal["muted"])
    elif kind == "submitted":
        tag("SUBMIT", "reward")
        line.append(f"submitted {ev.get('checkpoint', '?')} for scoring", pal.bold("reward"))
    elif kind == "note":
        tag("note", "agent")
        line.append(one_line(ev.get("text", ""), 400), pal["muted"])
    elif kind == "brief":
        tag("brief", "muted")
        desc = ev.get("description") or ""
        line.append(f"{ev.get('task', '?')}", pal.bold("agent"))
        if desc:
            line.append(f": {one_line(desc, 160)}", pal["muted"])
    elif kind == "run_state":
        state = str(ev.get("state", "?"))
        style = ("risk-high" if state in ("failed", "crashed") else
                 "risk-medium" if state in ("paused", "waiting_approval", "stopping") else "ok")
        tag("state", style)
        line.append(state, pal.bold(style))
    else:
        tag(str(kind)[:6], "muted")
        rest = {k: v for k, v in ev.items() if k not in ("seq", "ts", "type")}
        line.append(one_line(rest, 120), pal["muted"])
    return line


def layout_event(ev: dict, pal: Palette, t0: float | None, width: int,
                 console: Console) -> list[Text]:
    """An entry's lines wrapped to `width`, continuation lines under the prefix."""
    text = format_event(ev, pal, t0)
    if text is None:
        return []
    if text.cell_len <= width and "\n" not in text.plain:
        return [text]
    head, body = text[:PREFIX], text[PREFIX:]
    pad = Text(" " * PREFIX)
    lines = []
    for i, piece in enumerate(body.wrap(console, max(width - PREFIX, 10), overflow="fold")):
        piece.rstrip()
        line = (head if i == 0 else pad).copy()
        line.append_text(piece)
        lines.append(line)
    return lines or [head]


class Transcript(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    Transcript {
        border: round $primary 40%;
        border-title-color: $text-muted;
        border-subtitle-color: $warning;
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
        overflow-x: hidden;
        overflow-y: scroll;
    }
    Transcript:focus { border: round $primary; }
    """

    def __init__(self, *, max_entries: int = 5000, cache_entries: int = 400,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_entries = max_entries
        self.cache_entries = cache_entries
        self.entries: list[dict] = []
        self._starts: list[int] = []       # first row of each entry
        self._heights: list[int] = []      # wrapped rows of each entry
        self._rows = 0
        self._first_id = 0                 # absolute number of entries[0] (for the cache)
        self._cache: OrderedDict[int, list[Strip]] = OrderedDict()
        self._width: int | None = None     # width the heights were computed for
        self.t0: float | None = None
        self.follow = True
        self.unseen = 0
        self.border_title = "transcript"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.rerender())

    # -- data in --------------------------------------------------------------------------
    def add_events(self, events: Iterable[dict]) -> int:
        """Append the shown events of a batch (one refresh). Returns entries added."""
        new = [ev for ev in events if ev.get("type") not in HIDDEN_TYPES]
        if not new:
            return 0
        if len(new) > self.max_entries:
            self._first_id += len(new) - self.max_entries
            new = new[-self.max_entries:]
        width = self._width
        if width is not None:
            pal, console = Palette.from_app(self.app), self.app.console
            for ev in new:
                h = len(layout_event(ev, pal, self.t0, width, console)) or 1
                self._starts.append(self._rows)
                self._heights.append(h)
                self._rows += h
        self.entries.extend(new)
        if len(self.entries) > self.max_entries * 5 // 4:
            self._trim()
        if not self.follow:
            self.unseen += len(new)
            self.border_subtitle = f"↓ {self.unseen} new · End to follow"
        self._update_size()
        return len(new)

    def _trim(self) -> None:
        drop = len(self.entries) - self.max_entries
        self.entries = self.entries[drop:]
        self._first_id += drop
        if self._width is not None:
            self._heights = self._heights[drop:]
            self._recount_starts()
        self._cache.clear()

    def _recount_starts(self) -> None:
        starts, row = [], 0
        for h in self._heights:
            starts.append(row)
            row += h
        self._starts, self._rows = starts, row

    def reset(self) -> None:
        self.entries, self._starts, self._heights, self._rows = [], [], [], 0
        self._cache.clear()
        self.unseen = 0
        self.follow = True
        self.border_subtitle = ""
        self._update_size()

    def rerender(self) -> None:
        """Re-measure every entry (width, theme or start time changed) and redraw."""
        self._cache.clear()
        if self._width is not None:
            pal, console = Palette.from_app(self.app), self.app.console
            self._heights = [len(layout_event(ev, pal, self.t0, self._width, console)) or 1
                             for ev in self.entries]
            self._recount_starts()
        self._update_size()

    def _update_size(self) -> None:
        self.virtual_size = Size(self._width or 0, self._rows)
        if self.follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    # -- geometry -------------------------------------------------------------------------
    def _content_width(self) -> int:
        return max(self.scrollable_content_region.width, PREFIX + 10)

    def on_resize(self) -> None:
        if self.size.width == 0:
            return
        width = self._content_width()
        if width != self._width:
            self._width = width
            self.rerender()

    # -- drawing (only visible rows) ------------------------------------------------------
    def _strips(self, index: int) -> list[Strip]:
        key = self._first_id + index
        strips = self._cache.get(key)
        if strips is not None:
            self._cache.move_to_end(key)
            return strips
        console = self.app.console
        lines = layout_event(self.entries[index], Palette.from_app(self.app), self.t0,
                             self._width or 80, console)
        strips = [Strip(list(line.render(console)), line.cell_len) for line in lines]
        self._cache[key] = strips
        if len(self._cache) > self.cache_entries:
            self._cache.popitem(last=False)
        return strips

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = round(self.scroll_offset.y) + y
        style = self.rich_style
        if row >= self._rows or not self.entries:
            return Strip.blank(width, style)
        index = bisect_right(self._starts, row) - 1
        strips = self._strips(index)
        offset = row - self._starts[index]
        if offset >= len(strips):
            return Strip.blank(width, style)
        return strips[offset].crop_extend(0, width, style).apply_style(style)

    # -- tail following -------------------------------------------------------------------
    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            if not self.follow or self.unseen:
                self.follow = True
                self.unseen = 0
                self.border_subtitle = ""
        elif new_value < old_value:
            self.follow = False

    def plain_lines(self) -> list[str]:
        """Every entry's lines as plain text (for tests and copy)."""
        pal, console = Palette.from_app(self.app), self.app.console
        width = self._width or 80
        return [line.plain for ev in self.entries
                for line in layout_event(ev, pal, self.t0, width, console)]
