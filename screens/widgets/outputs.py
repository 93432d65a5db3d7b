"""What the model wrote, on the run screen: the Outputs pane and the evaluation progress bar.

OutputsPane (key `o` shows it in place of the transcript): the latest `completions` event
(an evaluation, a `sample`, or a GRPO logging step's few completions), one block per item:
its score or every reward function's value, the prompt (short, on one line), the completion
(whole, wrapped; a text cut for the record ends with "…[+N chars not recorded]", a
completion that hit the token limit is marked "✂ length limit"), and the expected answer.
A person sees a broken format, truncation or reward hacking at a glance. The lines are laid
out when a new event arrives or the width changes; only the visible rows are drawn.

EvalBar: one line in the side column while an evaluation runs (`eval_progress` events):
name, a bar, done/total. Hidden otherwise.

Both are fed from RunSummary (`last_completions`, `eval_progress`), the same in live and replay.
"""

from __future__ import annotations

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from screens.widgets.palette import Palette, one_line

__all__ = ["OutputsPane", "EvalBar", "layout_outputs", "progress_running", "bar"]

LABEL = 9  # "expected " column


def progress_running(ev: dict | None) -> bool:
    """An `eval_progress` event of an evaluation still running."""
    if not isinstance(ev, dict) or ev.get("ended"):
        return False
    done, total = ev.get("done"), ev.get("total")
    return isinstance(done, int) and isinstance(total, int) and 0 <= done < total


def bar(done: int, total: int, width: int) -> str:
    width = max(4, width)
    full = round(width * max(0, min(done, total)) / max(total, 1))
    return "█" * full + "░" * (width - full)


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _value_style(value: object, pal: Palette) -> Style:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return pal["muted"]
    return pal["ok"] if value >= 1.0 else pal["risk-high"] if value <= 0.0 else pal["risk-medium"]


def _header(n: int, item: dict, pal: Palette) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"#{n} ", pal.bold("tool"))
    if "score" in item:
        out.append("score ", pal["muted"])
        out.append(_num(item["score"]), _value_style(item["score"], pal))
    rewards = item.get("rewards") if isinstance(item.get("rewards"), dict) else {}
    for k, (fn, value) in enumerate(rewards.items()):
        out.append(" · " if k or "score" in item else "", pal["muted"])
        out.append(f"{fn} ", pal["muted"])
        out.append(_num(value), _value_style(value, pal))
    if item.get("clipped"):
        out.append("  ✂ length limit", pal.bold("risk-medium"))
    return out


def _field(label: str, body: Text, pal: Palette, width: int, console: Console) -> list[Text]:
    """`label` then `body` wrapped to `width`, continuation lines indented under the text."""
    lines = body.wrap(console, max(8, width - LABEL), tab_size=4) if body.plain else [Text("")]
    out = []
    for k, line in enumerate(lines):
        row = Text(no_wrap=True)
        row.append(f"{label:<{LABEL}}" if k == 0 else " " * LABEL, pal["muted"])
        row.append_text(line)
        out.append(row)
    return out


def layout_outputs(ev: dict | None, pal: Palette, width: int, console: Console) -> list[Text]:
    """The pane's lines for a `completions` event at `width` columns."""
    if not isinstance(ev, dict) or not isinstance(ev.get("items"), list) or not ev["items"]:
        return [Text("no completions yet: an evaluation, a sample or a GRPO step shows them here", pal["muted"])]
    lines: list[Text] = []
    for n, item in enumerate(ev["items"], 1):
        if not isinstance(item, dict):
            continue
        cut = item.get("cut") if isinstance(item.get("cut"), dict) else {}
        lines.append(_header(n, item, pal))
        prompt = one_line(item.get("prompt") or "", max(8, width - LABEL))
        lines.append(Text.assemble((f"{'prompt':<{LABEL}}", pal["muted"]), (prompt, pal["agent"]), no_wrap=True))
        completion = str(item.get("completion") or "")
        body = Text(completion) if completion else Text("(empty)", pal["risk-high"])
        if cut.get("completion"):
            body.append(f" …[+{cut['completion']} chars not recorded]", pal["risk-medium"])
        lines.extend(_field("output", body, pal, width, console))
        if item.get("expected") is not None:
            lines.extend(_field("expected", Text(str(item["expected"]), pal["ok"]), pal, width, console))
        lines.append(Text(""))
    return lines


class OutputsPane(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputsPane {
        width: 1fr;
        border: round $primary 40%;
        border-title-color: $text-muted;
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        display: none;
    }
    OutputsPane:focus { border: round $primary; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.event: dict | None = None
        self.progress: dict | None = None
        self.border_title = "outputs"
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._width = 0

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.relayout())

    def show(self, completions: dict | None, progress: dict | None = None) -> None:
        """The latest completions event and eval_progress event (same objects: nothing to do)."""
        if completions is self.event and progress is self.progress:
            return
        self.event, self.progress = completions, progress
        if self.display:
            self.relayout()

    def on_show(self) -> None:
        self.relayout()

    def on_resize(self) -> None:
        if self.scrollable_content_region.width != self._width:
            self.relayout()

    def _title(self) -> str:
        ev = self.event
        if not isinstance(ev, dict):
            return "outputs"
        who = ev.get("job") or ev.get("eval") or ""
        step = f" step {ev['step']}" if ev.get("step") is not None else ""
        of = f", {len(ev.get('items') or [])} of {ev['of']}" if ev.get("of") else ""
        return f"outputs · {ev.get('source', '?')} {who}{step}{of}"

    def relayout(self) -> None:
        width = self.scrollable_content_region.width or 80
        self._width = width
        pal = Palette.from_app(self.app)
        lines = []
        if progress_running(self.progress):
            p = self.progress
            lines.append(
                Text.assemble(
                    (f"{p.get('what', 'evaluate')} {p.get('id', '')} ", pal["muted"]),
                    (bar(p["done"], p["total"], min(30, width // 3)), pal["tool"]),
                    f" {p['done']}/{p['total']}",
                    no_wrap=True,
                )
            )
        lines += layout_outputs(self.event, pal, width, self.app.console)
        self._lines, self._strips = lines, {}
        self.border_title = self._title()
        self.virtual_size = Size(width, len(lines))
        self.refresh()

    def plain_lines(self) -> list[str]:
        return [line.plain for line in self._lines]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = round(self.scroll_offset.y) + y
        style = self.rich_style
        if row >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(row)
        if strip is None:
            line = self._lines[row]
            strip = Strip(list(line.render(self.app.console)), line.cell_len).crop_extend(0, width, style)
            self._strips[row] = strip = strip.apply_style(style)
        return strip


class EvalBar(Static):
    """One line while an evaluation runs: what, name, a bar, done/total."""

    DEFAULT_CSS = """
    EvalBar { height: 1; padding: 0 1; display: none; }
    EvalBar.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.progress: dict | None = None

    def show(self, progress: dict | None) -> None:
        if progress is self.progress:
            return
        self.progress = progress
        running = progress_running(progress)
        self.set_class(running, "shown")
        if not running:
            return
        pal = Palette.from_app(self.app)
        done, total = progress["done"], progress["total"]
        self.update(
            Text.assemble(
                (f"{progress.get('what', 'evaluate')} ", pal.bold("tool")),
                (bar(done, total, 16), pal["tool"]),
                f" {done}/{total}",
                (f" {progress.get('id', '')}", pal["muted"]),
                no_wrap=True,
                overflow="ellipsis",
            )
        )
