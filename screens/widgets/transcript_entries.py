"""What one transcript entry looks like: the text of an event (`format_event`), its lines
wrapped under the time/tag prefix (`layout_event`), its height counted (`entry_height`) or
guessed cheaply (`estimate_height`, `estimate_from_size`), and where entries given as event
numbers are read back from (`EntryLoader`, a replay's log index). No widgets here."""

from __future__ import annotations

import json
from typing import Protocol

from rich.console import Console
from rich.text import Text

from agent_core.record.events import parse_ts
from screens.widgets.palette import Palette, fmt_duration, one_line
from screens.widgets.state_styles import SEVERITY_STYLE, STATE_ENTRY_STYLE

try:  # the line breaker Text.wrap uses: counts wrapped rows without building the lines
    from rich._wrap import divide_line
except ImportError:  # pragma: no cover - a future Rich may move it
    divide_line = None

__all__ = [
    "SHOWN_TYPES",
    "HIDDEN_TYPES",
    "MAX_MESSAGE_LINES",
    "PREFIX",
    "EntryLoader",
    "format_event",
    "layout_event",
    "entry_height",
    "estimate_height",
    "estimate_from_size",
]

SHOWN_TYPES = frozenset(
    {
        "run_state",
        "agent_message",
        "tool_call",
        "tool_result",
        "human_nudge",
        "approval_request",
        "approval_decision",
        "alert",
        "score",
        "job_state",
        "checkpoint",
        "submitted",
        "note",
        "brief",
    }
)  # any other type is shown as a dim one-liner; HIDDEN_TYPES go to the chart/host pane
HIDDEN_TYPES = frozenset({"metric", "host_sample", "budget", "completions", "eval_progress"})  # + Outputs pane
MAX_MESSAGE_LINES = 30
PREFIX = 15  # cells of the time + tag prefix of every entry


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
    if isinstance(kind, str) and kind in HIDDEN_TYPES:
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
        style = STATE_ENTRY_STYLE.get(state, "ok")
        tag("state", style)
        line.append(state, pal.bold(style))
    else:
        tag(str(kind)[:6], "muted")
        rest = {k: v for k, v in ev.items() if k not in ("seq", "ts", "type")}
        line.append(one_line(rest, 120), pal["muted"])
    return line


def layout_event(ev: dict, pal: Palette, t0: float | None, width: int, console: Console) -> list[Text]:
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


def entry_height(ev: dict, pal: Palette, t0: float | None, width: int, console: Console) -> int:
    """len(layout_event(...)), about twice as fast (the rows are counted, not built)."""
    text = format_event(ev, pal, t0)
    if text is None:
        return 0
    plain = text.plain
    if text.cell_len <= width and "\n" not in plain:
        return 1
    body = plain[PREFIX:]
    if divide_line is None or not body or "\t" in body:
        return len(layout_event(ev, pal, t0, width, console))
    w = max(width - PREFIX, 10)
    return sum(len(divide_line(line, w, fold=True)) + 1 for line in body.split("\n"))


class EntryLoader(Protocol):
    """Where `load`ed entries (event numbers) are read from: a replay's log index."""

    def event(self, i: int) -> dict: ...

    def size(self, i: int) -> int | None: ...

    def sizes(self, refs: list[int]) -> list[int] | None: ...


def estimate_height(entry: dict, width: int) -> int:
    """An entry's wrapped rows guessed from its text's length (no formatting)."""
    w = max(width - PREFIX, 10)
    text = entry.get("text") or entry.get("summary") or entry.get("message") or ""
    if not isinstance(text, str):
        return 1
    if len(text) + PREFIX + 20 <= width and "\n" not in text:
        return 1
    return 1 + min(text.count("\n"), MAX_MESSAGE_LINES) + len(text) // w


def estimate_from_size(size: int, width: int) -> int:
    """An entry's wrapped rows guessed from the length of its event's JSON line."""
    return 1 + (size - 110) // max(width - PREFIX, 10) if size > 110 else 1
