"""A read-only, scrollable view of a long text (a tool call's code, diff or file content) with
styled character ranges: the approval prompt shows the WHOLE call here and highlights the parts
the policy flagged.

The text is a `CallDoc`: display lines (already numbered and escaped by whoever builds it), per
line styles, and the flagged ranges. The view is a read-only `TextArea` without a cursor, so
only the visible lines are rendered (a megabyte of code opens at once), up/down/pgup/pgdn/
home/end scroll it, and printable keys are left to the screen's bindings (the decision keys).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.widgets import TextArea

__all__ = ["CallDoc", "CallView", "Flag"]


@dataclass(frozen=True)
class Flag:
    """One flagged span as shown: the display line it starts on, its columns there, its label,
    and the line (1-based) of the text it came from."""

    line: int
    start: int
    end: int
    label: str
    source_line: int


@dataclass
class CallDoc:
    lines: list[str] = field(default_factory=list)
    styles: dict[int, list[tuple[int, int, Style]]] = field(default_factory=dict)
    # (first display line, end line exclusive, width, style): a gutter of `width` columns
    gutters: list[tuple[int, int, int, Style]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    def add(self, text: str, style: Style | None = None) -> int:
        """Append a display line (no newline in it); style all of it; return its index."""
        self.lines.append(text)
        if style is not None and text:
            self.style(len(self.lines) - 1, 0, len(text), style)
        return len(self.lines) - 1

    def style(self, line: int, start: int, end: int, style: Style) -> None:
        if end > start:
            self.styles.setdefault(line, []).append((start, end, style))

    def line_styles(self, index: int) -> list[tuple[int, int, Style]]:
        out = []
        i = bisect_right(self.gutters, (index, float("inf"))) - 1
        if i >= 0:
            first, end, width, style = self.gutters[i]
            if first <= index < end:
                out.append((0, width, style))
        out.extend(self.styles.get(index, ()))
        return out

    def text(self) -> Text:
        """All of it as one rich Text (for short documents shown in a Static)."""
        out = Text()
        for i, line in enumerate(self.lines):
            if i:
                out.append("\n")
            piece = Text(line)
            for start, end, style in self.line_styles(i):
                piece.stylize(style, start, end)
            out.append_text(piece)
        return out

    @property
    def plain(self) -> str:
        return "\n".join(self.lines)


class CallView(TextArea):
    """A CallDoc, read-only, soft-wrapped, scrollable by keyboard and mouse."""

    DEFAULT_CSS = """
    CallView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, doc: CallDoc, *, id: str | None = None) -> None:
        self._wrapped_for: tuple | None = None  # (document, width, indent) the wrap was made for (TextArea
        # wraps from its own __init__ on, hence set first)
        # the text is loaded once mounted: TextArea sets its document up again when mounted
        # (the language watcher), and each time wraps all of it
        super().__init__(
            "", read_only=True, show_cursor=False, soft_wrap=True, show_line_numbers=False, tab_behavior="focus", id=id
        )
        self.doc = doc
        self._next_flag = 0

    def on_mount(self) -> None:
        self.load_text(self.doc.plain)
        if self.doc.flags:  # open on the first flagged span, wherever it sits in the text
            self.call_after_refresh(self.show_flag, 0)

    def _rewrap_and_refresh_virtual_size(self) -> None:
        # TextArea wraps the whole document again on every resize (height changes too, while the
        # layout settles): a megabyte of text costs ~0.5 s each time. The text never changes
        # here (read-only), so wrap again only when the wrap width does.
        last = self._wrapped_for
        if last is not None and last[0] is self.wrapped_document and last[1:] == (self.wrap_width, self.indent_width):
            self._refresh_size()
            return
        self._wrapped_for = (self.wrapped_document, self.wrap_width, self.indent_width)
        super()._rewrap_and_refresh_virtual_size()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        for start, end, style in self.doc.line_styles(line_index):
            line.stylize(style, start, end)
        return line

    def line_y(self, line: int) -> int:
        """The visual (wrapped) row of a display line."""
        return self.wrapped_document.location_to_offset((line, 0)).y

    def show_line(self, line: int, above: int = 2) -> None:
        """Scroll so that `line` is near the top (`above` lines of context over it)."""
        self.scroll_to(y=max(0, self.line_y(line) - above), animate=False)

    def show_flag(self, index: int | None = None) -> Flag | None:
        """Scroll to flagged span `index` (default: the next one, cycling); return it."""
        if not self.doc.flags:
            return None
        if index is None:
            index = self._next_flag
        index %= len(self.doc.flags)
        flag = self.doc.flags[index]
        self._next_flag = index + 1
        self.show_line(flag.line)
        return flag

    def is_line_visible(self, line: int) -> bool:
        y = self.line_y(line)
        return self.scroll_y <= y < self.scroll_y + self.scrollable_content_region.height
