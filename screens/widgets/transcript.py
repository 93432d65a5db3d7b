"""The transcript: what the agent said and did, and what the person did, one entry per event.

A Line-API `ScrollView` that draws only what is visible (Toolong style): it keeps the events
(the last `max_entries`) and the wrapped height of each, and renders an entry's lines only
when they scroll into view (a small LRU of rendered strips). Feeding is batched: one
`add_events` call per batch, and the size/scroll/redraw is done at most every
`refresh_every` seconds (at once when the last one is older). Storing rendered strips for
every line (as RichLog does) costs ~7 cache objects per line and showed 100-200 ms GC pauses
at a few thousand entries/s; this keeps the heap small.

What an entry looks like (its text, wrapping and height) is screens/widgets/transcript_entries.py.
Measuring an entry (formatting + wrapping) costs ~50-150 us, too much at 10k entries/s. A
small batch is measured at once; in a large one heights are first estimated from the text
length and made exact lazily: the entries in view before they are drawn, the rest newest
first in the background (a few ms every 50 ms). Entries can also be event numbers of a
replay log (`load(refs, loader)`), read back only when drawn or measured.

It follows the tail until the person scrolls up, then counts new entries in the border
("End" follows again). Entries wrap under their time/tag prefix (a hanging indent).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import OrderedDict, deque
from typing import Iterable

from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from screens.widgets.palette import Palette
from screens.widgets.transcript_entries import (
    HIDDEN_TYPES,
    PREFIX,
    SHOWN_TYPES,
    EntryLoader,
    entry_height,
    estimate_from_size,
    estimate_height,
    format_event,
    layout_event,
)

__all__ = ["Transcript", "SHOWN_TYPES", "HIDDEN_TYPES", "format_event", "layout_event", "entry_height"]


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

    EXACT_BATCH = 64  # batches (and loads) up to this many entries are measured at once,
    EXACT_RATE = 0.02  # ...while measuring at once has used less than this many seconds
    EXACT_BURST = 0.05  # a second (token bucket); beyond that, heights are estimated
    BUSY_ENTRIES = 500  # more entries than this since the last redraw: redraw half as often
    QUIET_S = 0.5  # background measuring waits for this long without new entries
    EXACT_RERENDER = 500  # a re-measure (resize, theme) of up to this many is done at once

    def __init__(
        self,
        *,
        max_entries: int = 5000,
        cache_entries: int = 400,
        refresh_every: float = 0.1,
        measure_budget: float = 0.004,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.max_entries = max_entries
        self.cache_entries = cache_entries
        self.refresh_every = refresh_every
        self.measure_budget = measure_budget
        self.entries: list[dict | int] = []  # events, or event numbers of `_loader`
        self._starts: list[int] = []  # first row of each entry
        self._heights: list[int] = []  # wrapped rows of each entry (maybe estimated)
        self._exact = bytearray()  # 1 where the height is measured, not estimated
        self._pending: deque[int] = deque()  # absolute numbers of estimated entries, in order
        self._rows = 0
        self._first_id = 0  # absolute number of entries[0] (for the cache)
        self._cache: OrderedDict[int, list[Strip]] = OrderedDict()
        self._cache_format: tuple[int, Style] | None = None
        self._frame: tuple[int, int, Style] | None = None  # (width, top row, style) in render
        self._width: int | None = None  # width the heights were computed for
        self._loader: EntryLoader | None = None
        self._flush_timer = None
        self._last_flush = 0.0
        self._tokens = self.EXACT_BURST  # seconds of exact measuring allowed right now
        self._tokens_at = time.monotonic()
        self._measured: dict[int, int] = {}  # background results, applied at the next flush
        self._added = 0  # entries added since the last flush
        self._added_at = 0.0  # when entries were last added
        self.t0: float | None = None
        self.follow = True
        self.unseen = 0
        self.border_title = "transcript"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.rerender())
        self.set_interval(0.05, self._measure_some, name="transcript-measure")

    # -- data in --------------------------------------------------------------------------
    def add_events(self, events: Iterable[dict]) -> int:
        """Append the shown events of a batch. Returns entries added."""
        try:
            new = [ev for ev in events if ev.get("type") not in HIDDEN_TYPES]
        except TypeError:  # an unhashable "type" (a broken event): shown as it is
            new = [ev for ev in events if not (isinstance(ev.get("type"), str) and ev["type"] in HIDDEN_TYPES)]
        if not new:
            return 0
        if len(new) > self.max_entries:
            self._first_id += len(new) - self.max_entries
            new = new[-self.max_entries :]
        self._append(new)
        self._added += len(new)
        self._added_at = time.monotonic()
        if not self.follow:
            self.unseen += len(new)
            self.border_subtitle = f"↓ {self.unseen} new · End to follow"
        self._schedule_flush()
        return len(new)

    def load(self, refs: list[int], loader: EntryLoader) -> None:
        """Replace the entries by event numbers of `loader` (a replay jumping to a position);
        events are read back only to be measured or drawn."""
        self._reset_data()
        self._loader = loader
        if len(refs) > self.max_entries:
            refs = refs[-self.max_entries :]
        self._append(list(refs))
        self._update_size()

    def _append(self, new: list) -> None:
        base = self._first_id + len(self.entries)
        self.entries.extend(new)
        width = self._width
        if width is None:  # measured by the first resize
            self._exact.extend(bytes(len(new)))
        else:
            if len(new) <= self.EXACT_BATCH and self._take_tokens():
                t = time.perf_counter()
                heights = [self._measure(base + j - self._first_id) for j in range(len(new))]
                exact = b"\x01" * len(new)
                self._tokens -= time.perf_counter() - t
            else:
                heights = self._estimates(new, width)
                exact = bytes(len(new))
                self._pending.extend(range(base, base + len(new)))
            row = self._rows
            starts = self._starts
            for h in heights:
                starts.append(row)
                row += h
            self._rows = row
            self._heights.extend(heights)
            self._exact.extend(exact)
        if len(self.entries) > self.max_entries * 5 // 4:
            self._trim()

    def _take_tokens(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.EXACT_BURST, self._tokens + (now - self._tokens_at) * self.EXACT_RATE)
        self._tokens_at = now
        return self._tokens > 0

    def _entry(self, index: int) -> dict:
        entry = self.entries[index]
        if isinstance(entry, int):
            entry = self.entries[index] = self._loader.event(entry)  # type: ignore[union-attr]
        return entry

    def _estimate(self, entry: dict | int, width: int) -> int:
        if isinstance(entry, int):
            size = self._loader.size(entry) if self._loader is not None else None
            if size is not None:
                return estimate_from_size(size, width)
            entry = self._entry_by_ref(entry)
        return estimate_height(entry, width)

    def _estimates(self, entries: list, width: int) -> list[int]:
        sizes = (
            self._loader.sizes(entries)
            if self._loader is not None
            and entries
            and isinstance(entries[0], int)
            and all(isinstance(e, int) for e in entries)
            else None
        )
        if sizes is None:
            return [self._estimate(e, width) for e in entries]
        return [estimate_from_size(size, width) for size in sizes]

    def _entry_by_ref(self, ref: int) -> dict:
        return self._loader.event(ref)  # type: ignore[union-attr]

    def _measure(self, index: int) -> int:
        return (
            entry_height(self._entry(index), Palette.from_app(self.app), self.t0, self._width or 80, self.app.console)
            or 1
        )

    def _trim(self) -> None:
        drop = len(self.entries) - self.max_entries
        self.entries = self.entries[drop:]
        self._exact = self._exact[drop:]
        self._first_id += drop
        while self._pending and self._pending[0] < self._first_id:
            self._pending.popleft()
        if self._width is not None:
            self._heights = self._heights[drop:]
            self._recount_starts()
        self._cache.clear()

    def _recount_starts(self, first: int = 0) -> None:
        starts, heights = self._starts, self._heights
        if first == 0 or first > len(starts):
            starts, row, first = [], 0, 0
        else:
            del starts[first:]
            row = starts[first - 1] + heights[first - 1]
        for h in heights[first:]:
            starts.append(row)
            row += h
        self._starts, self._rows = starts, row

    def _reset_data(self) -> None:
        self.entries, self._starts, self._heights, self._rows = [], [], [], 0
        self._exact = bytearray()
        self._pending.clear()
        self._measured.clear()
        self._loader = None
        self._cache.clear()

    def reset(self) -> None:
        self._reset_data()
        self.unseen = 0
        self.follow = True
        self.border_subtitle = ""
        self._update_size()

    def rerender(self) -> None:
        """Re-measure every entry (width, theme or start time changed) and redraw."""
        self._cache.clear()
        if self._width is not None:
            n = len(self.entries)
            self._pending.clear()
            self._measured.clear()
            if n <= self.EXACT_RERENDER:
                self._heights = [self._measure(i) for i in range(n)]
                self._exact = bytearray(b"\x01" * n)
            else:
                self._heights = self._estimates(self.entries, self._width)
                self._exact = bytearray(n)
                self._pending.extend(range(self._first_id, self._first_id + n))
            self._recount_starts()
        self._update_size()

    def _schedule_flush(self) -> None:
        """Resize/scroll/redraw now, or at most every `refresh_every` seconds."""
        if self._flush_timer is None:
            self._flush_due()

    def _flush_due(self) -> None:
        self._flush_timer = None
        every = self.refresh_every * (2 if self._added > self.BUSY_ENTRIES else 1)
        wait = self._last_flush + every - time.monotonic()
        if wait <= 0.002:
            self._update_size()
        else:
            self._flush_timer = self.set_timer(wait, self._flush_due, name="transcript-flush")

    def _update_size(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        self._last_flush = time.monotonic()
        self._added = 0
        shift = self._apply_measured()
        if self.follow and self._width is not None and self._pending:
            self._measure_tail()
        self._set_virtual_size(Size(self._width or 0, self._rows))
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif shift:  # keep what is in view in place
            self.scroll_to(y=self.scroll_offset.y + shift, animate=False, immediate=True)
        self.refresh()

    # -- lazy measuring -------------------------------------------------------------------
    def _set_height(self, index: int, height: int) -> bool:
        self._exact[index] = 1
        if self._heights[index] == height:
            return False
        self._heights[index] = height
        return True

    def _measure_tail(self) -> None:
        """Make the entries that fill the view from the bottom exact (following)."""
        self._line_format()
        need = max(self.scrollable_content_region.height, 1) + 2
        covered, first = 0, None
        j = len(self.entries) - 1
        while j >= 0 and covered < need:
            if not self._exact[j] and self._set_height(j, len(self._strips(j)) or 1):
                first = j
            covered += self._heights[j]
            j -= 1
        if first is not None:
            self._recount_starts(first)

    def _measure_visible(self) -> None:
        """Make the entries in view exact before they are drawn (scrolled back)."""
        if not self.entries:
            return
        top = round(self.scroll_offset.y)
        bottom = top + max(self.scrollable_content_region.height, 1)
        j = max(bisect_right(self._starts, top) - 1, 0)
        row, first = self._starts[j], None
        while j < len(self.entries) and row < bottom:
            if not self._exact[j] and self._set_height(j, len(self._strips(j)) or 1):
                first = j if first is None else first
            row += self._heights[j]
            j += 1
        if first is not None:
            self._recount_starts(first)
            self.call_later(self._sync_size)

    def _set_virtual_size(self, size: Size) -> None:
        """Set virtual_size. It is a layout reactive: assigning it reflows and repaints the
        whole screen, 10 times a second while streaming. With the vertical scrollbar always
        shown (overflow-y: scroll) the layout cannot change, so only the scrollbars are
        updated (what the reflow would do for a ScrollView: `_scroll_update`)."""
        if size == self.virtual_size:
            return
        if self.is_mounted and self._width is not None and self.styles.overflow_y == "scroll":
            self.set_reactive(Transcript.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        else:
            self.virtual_size = size

    def _sync_size(self) -> None:
        self._set_virtual_size(Size(self._width or 0, self._rows))

    def _measure_some(self) -> None:
        """Background: measure estimated entries, newest first, for a few ms. The heights
        are applied at the next flush, with the size, scroll and redraw it does anyway."""
        if not self._pending or self._width is None:
            return
        if self.follow and time.monotonic() - self._added_at < self.QUIET_S:
            return  # streaming and following: only the tail is seen, and it is measured
        deadline = time.perf_counter() + self.measure_budget
        pending, exact, measured = self._pending, self._exact, self._measured
        while pending and time.perf_counter() < deadline:
            aid = pending.pop()
            j = aid - self._first_id
            if j < 0 or j >= len(self.entries) or exact[j] or aid in measured:
                continue
            measured[aid] = self._measure(j)
        if measured:
            self._schedule_flush()

    def _apply_measured(self) -> int:
        """Apply background heights; returns the rows they add above the view's top."""
        if not self._measured:
            return 0
        measured, self._measured = self._measured, {}
        if self._width is None:
            return 0
        top_index = bisect_right(self._starts, round(self.scroll_offset.y)) - 1 if not self.follow else -1
        first, shift = None, 0
        for aid, h in measured.items():
            j = aid - self._first_id
            if j < 0 or j >= len(self.entries) or self._exact[j]:
                continue
            old = self._heights[j]
            if self._set_height(j, h):
                first = j if first is None else min(first, j)
                if j < top_index:
                    shift += h - old
        if first is not None:
            self._recount_starts(first)
        return shift

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
    def _line_format(self) -> tuple[int, Style]:
        """(width, style) the cached strips are cut and styled for; a change of style
        (theme, background) empties the cache (a change of width re-measures anyway)."""
        fmt = (self.scrollable_content_region.width, self.rich_style)
        if fmt != self._cache_format:
            self._cache.clear()
            self._cache_format = fmt
        return fmt

    def _strips(self, index: int) -> list[Strip]:
        """The entry's finished lines (cut to the width, styled), cached for a while."""
        key = self._first_id + index
        strips = self._cache.get(key)
        if strips is not None:
            self._cache.move_to_end(key)
            return strips
        width, style = self._cache_format or self._line_format()
        console = self.app.console
        lines = layout_event(self._entry(index), Palette.from_app(self.app), self.t0, self._width or 80, console)
        strips = [
            Strip(list(line.render(console)), line.cell_len).crop_extend(0, width, style).apply_style(style)
            for line in lines
        ]
        self._cache[key] = strips
        if len(self._cache) > self.cache_entries:
            self._cache.popitem(last=False)
        return strips

    def render_lines(self, crop: Region) -> list[Strip]:
        width, style = self._line_format()
        if self._pending and self._width is not None and not self.follow:
            self._measure_visible()  # following, the flush has measured the tail
        self._frame = (width, round(self.scroll_offset.y), style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        if self._frame is not None:
            width, top, style = self._frame
        else:
            width, style = self._line_format()
            top = round(self.scroll_offset.y)
        row = top + y
        if row >= self._rows or not self.entries:
            return Strip.blank(width, style)
        index = bisect_right(self._starts, row) - 1
        strips = self._strips(index)
        offset = row - self._starts[index]
        if offset >= len(strips):
            return Strip.blank(width, style)
        return strips[offset]

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
        return [
            line.plain
            for i in range(len(self.entries))
            for line in layout_event(self._entry(i), pal, self.t0, width, console)
        ]
