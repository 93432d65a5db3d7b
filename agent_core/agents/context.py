"""What the LLM agent shows its model: compact tool output and a conversation held under a token budget.

Logs are what confuse models (thousands of repeated lines, noisy warnings), and a history that
grows with every tool call makes each request dearer and, past the model's window, impossible.
So, pure Python, no tokenizer:

- `compact_text(text, max_chars)`: collapses runs of identical lines (`line  [x812]`), condenses
  long runs of lines that differ only in their numbers (progress and metric lines) to a few
  evenly spaced ones, reports the most repeated lines once with their counts, and cuts the
  middle of what is still too long, keeping the head, the tail and the warning/error lines.
  It extracts; it never interprets. Short text without repeats comes back unchanged.
- `metrics_table(rows)`: metric dicts (or columns) as a small fixed-width table, downsampled to
  evenly spaced rows (first and last kept, and the first non-finite one), with first/min/max/last
  per metric under it.
- `render_result(summary, data, max_chars)`: one tool outcome as the text the model reads: the
  summary, then the data as JSON when it fits, else compacted (metric rows as tables, long
  strings as compacted text, long lists cut with a count).
- `ContextManager`: the agent's running log of key findings (the person's messages, notes,
  experiments with their settings, outcome and scores, watchdog alerts, decisions) and `fit()`,
  which keeps every request under `budget_tokens` (default 8,000; 4 characters a token, counted
  on the JSON the APIs receive, so it over-counts a little). Over budget, the oldest whole turns
  (an assistant message with its tool calls, their results and the user lines after them) give
  way to one summary message: the findings, which are never dropped, then one line per older
  turn. The first user message (the brief) stays; the last K turns stay verbatim. Whole turns
  go, so every tool result still follows the call it answers (Anthropic's tool_use/tool_result
  rule, OpenAI's assistant tool_calls/tool rule). It compacts down to `refill` of the budget, so
  the prefix (and the provider's prompt cache) then stays the same for several turns.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from agent_core.agents.providers import AssistantTurn, Message, ToolResult, ToolResults, UserText

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET_TOKENS = 8000
DIGEST_MARK = "[tinker-tui context]"
ALERT_MARK = " | WATCHDOG ALERTS: "  # how the daemon appends alerts to a tool summary
SUPERVISOR_MARK = "[Message from the human supervisor]"
CLOCK_MARK = "[tinker-tui clock]"
AUTO_MARK = "[Automatic message from tinker-tui]"
TERMINAL_STATES = ("finished", "stopped", "failed")

_IMPORTANT = re.compile(
    r"(?i)(error|exception|traceback|warn|fail|fatal|\bnan\b|\binf\b|alert|killed|"
    r"out of memory|\boom\b|denied|assert|abort|diverg)"
)
_NUMBER = re.compile(r"[-+]?\d[\d_,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_METRIC_ORDER = (
    "step",
    "epoch",
    "loss",
    "train_loss",
    "eval_loss",
    "reward",
    "accuracy",
    "score",
    "learning_rate",
    "lr",
    "grad_norm",
    "tokens_per_s",
)
_INDEX_COLS = ("step", "epoch", "i", "index", "global_step")


def estimate_tokens(text_or_chars: str | int) -> int:
    """Tokens by the 4-characters rule (no tokenizer is installed; this over-counts prose a
    little and under-counts dense numbers a little)."""
    n = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return -(-n // CHARS_PER_TOKEN)


# -- text --------------------------------------------------------------------------------------
@dataclass
class _Line:
    text: str
    count: int = 1  # identical consecutive lines folded into this one
    marker: bool = False  # a line we wrote (not from the input)

    def render(self) -> str:
        return self.text if self.count < 2 else f"{self.text}  [x{self.count}]"


def _shape(line: str) -> str:
    return _NUMBER.sub("#", line.strip())


def _cut_line(line: str, cap: int) -> str:
    if len(line) <= cap:
        return line
    keep = max(cap - 40, 20)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return f"{line[:head]} [... {len(line) - head - tail} chars cut ...] {line[-tail:] if tail else ''}"


def _evenly(n: int, k: int) -> list[int]:
    """k indices spread over range(n), first and last included."""
    if n <= k:
        return list(range(n))
    if k <= 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _collapse_runs(lines: list[str], min_run: int = 3) -> tuple[list[_Line], bool]:
    """Runs of identical lines -> one line with a count (blank runs -> one blank line)."""
    changed = False
    items: list[_Line] = []
    i, n = 0, len(lines)
    while i < n:
        j = i
        while j + 1 < n and lines[j + 1] == lines[i]:
            j += 1
        run = j - i + 1
        if run >= min_run or (run >= 2 and not lines[i].strip()):
            items.append(_Line(lines[i], run if lines[i].strip() else 1))
            changed = True
        else:
            items.extend(_Line(lines[k]) for k in range(i, j + 1))
        i = j + 1
    return items, changed


def _shapes(items: list[_Line]) -> dict[str, list[int]]:
    """Line positions by shape, for lines that hold numbers."""
    shapes: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if it.marker or not any(ch.isdigit() for ch in it.text):
            continue
        shapes.setdefault(_shape(it.text), []).append(i)
    return shapes


def _condense_similar(
    items: list[_Line], keep: int, shapes: dict[str, list[int]] | None = None, min_run: int = 8
) -> tuple[list[_Line], bool]:
    """Lines that differ only in their numbers (progress bars, metric lines), when one shape has
    at least `min_run` lines, even interleaved with others: `keep` evenly spaced ones stay, with a
    marker where the first was; lines of other shapes stay where they are."""
    shapes = _shapes(items) if shapes is None else shapes
    drop: set[int] = set()
    markers: dict[int, _Line] = {}
    for idx in shapes.values():
        if len(idx) < min_run or len(idx) <= keep:
            continue
        picks = {idx[k] for k in _evenly(len(idx), keep)}
        drop.update(i for i in idx if i not in picks)
        total = sum(items[i].count for i in idx)
        markers[idx[0]] = _Line(
            f"[... {total:,} lines like these; {len(picks)} of them shown, evenly spaced ...]", marker=True
        )
    if not drop:
        return items, False
    out: list[_Line] = []
    for i, it in enumerate(items):
        if i not in drop:
            out.append(it)
        if i in markers:
            out.append(markers[i])
    return out, True


def _hard_cap(text: str, max_chars: int) -> str:
    """Cut the middle so that len(result) <= max_chars."""
    if len(text) <= max_chars:
        return text
    if max_chars < 60:
        return text[:max_chars]
    marker = f"\n[... {len(text) - max_chars:,} chars cut ...]\n"
    room = max_chars - len(marker) - 8  # the count in the marker may grow by a digit or two
    head = room * 2 // 5
    tail = room - head
    return text[:head] + f"\n[... {len(text) - head - tail:,} chars cut ...]\n" + text[len(text) - tail :]


def compact_text(text: Any, max_chars: int = 4000, *, top: int = 5, similar_keep: int = 5, header: bool = True) -> str:
    """A log or any tool text made short and readable; see the module docstring. The result is at
    most max_chars long; text that is short and has no repeated lines is returned as it is."""
    text = "" if text is None else str(text)
    if max_chars <= 0:
        return ""
    src = text.replace("\r\n", "\n")
    lines = [ln.rsplit("\r", 1)[-1].rstrip() for ln in src.split("\n")]  # a \r redraw keeps its last state
    items, changed = _collapse_runs(lines)
    # The most repeated lines overall (not only in runs): reported once with their count; later
    # occurrences are dropped from the body.
    totals: Counter = Counter()
    seen_in: Counter = Counter()
    for it in items:
        if len(it.text.strip()) >= 4:
            totals[it.text] += it.count
            seen_in[it.text] += 1
    repeated = [(line, c) for line, c in totals.most_common() if c >= 3][:top]
    spread = {line for line, _ in repeated if seen_in[line] >= 2}
    if spread:
        kept: list[_Line] = []
        first: set[str] = set()
        for it in items:
            if it.text in spread:
                if it.text in first:
                    continue
                first.add(it.text)
                kept.append(_Line(it.text + f"  [first of {totals[it.text]}]"))
            else:
                kept.append(it)
        items, changed = kept, True
    if not changed and len(text) <= max_chars:
        return text
    head_lines: list[str] = []
    if header and (len(text) > 1000 or len(text) > max_chars):
        head_lines.append(
            f"[output compacted from {len(lines):,} lines, {len(text):,} chars"
            + ("; repeated lines are shown once with their count]" if changed else "]")
        )
        if repeated:  # kept only if the middle of the body is cut
            head_lines.append("Most repeated lines:")
            head_lines += [f"  {c:>6}x  {_cut_line(line.strip(), 160)}" for line, c in repeated]
    head_txt = "\n".join(head_lines)
    room = max_chars - len(head_txt) - (1 if head_txt else 0)
    if room < 80:  # the header does not leave room for the body: drop it
        head_txt, room = "", max_chars
    line_cap = max(120, room // min(3, max(1, len(items))))

    def body_of(its: list[_Line]) -> list[str]:
        return [_cut_line(it.render(), line_cap) for it in its]

    def size(b: list[str]) -> int:
        return sum(len(x) + 1 for x in b) - 1

    body = body_of(items)
    if size(body) > room:  # lines that differ only in numbers: a few evenly spaced ones
        shapes = _shapes(items)
        for keep in sorted({max(similar_keep * 3, 12), similar_keep, 3}, reverse=True):
            condensed, did = _condense_similar(items, keep, shapes)
            if not did:
                break
            body = body_of(condensed)
            if size(body) <= room:
                break
    if size(body) > room:
        body = _cut_middle(body, room)
    elif head_txt and repeated:  # nothing cut: the body already shows each repeated line with its count
        head_txt = head_lines[0]
    out = "\n".join(body)
    if head_txt:
        out = head_txt + "\n" + out
    return _hard_cap(out, max_chars)


def _cut_middle(body: list[str], room: int) -> list[str]:
    """Keep the head (30%) and the tail (45%) of the lines, and from the middle the warning and
    error lines (one of each shape) that fit in what is left."""
    marker_room = 120
    avail = max(room - marker_room, 40)
    head_b, tail_b = int(avail * 0.30), int(avail * 0.45)
    h, used = 0, 0
    while h < len(body) and used + len(body[h]) + 1 <= head_b:
        used += len(body[h]) + 1
        h += 1
    t, used_t = len(body), 0
    while t > h and used_t + len(body[t - 1]) + 1 <= tail_b:
        t -= 1
        used_t += len(body[t]) + 1
    imp_b = avail - used - used_t
    picked: list[str] = []
    shapes: set[str] = set()
    for line in body[h:t]:
        if _IMPORTANT.search(line) and _shape(line) not in shapes and len(line) + 1 <= imp_b:
            shapes.add(_shape(line))
            picked.append(line)
            imp_b -= len(line) + 1
    cut = t - h
    if cut <= 0:
        return body
    note = f"[... {cut - len(picked):,} lines cut from the middle"
    note += f"; {len(picked)} warning/error lines from them kept below ...]" if picked else " ...]"
    after = ["[... end of the kept lines; the tail follows ...]"] if picked else []
    return body[:h] + [note] + picked + after + body[t:]


# -- metrics -------------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _is_num(v) and math.isfinite(v)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.4g}"
    return _cut_line(str(v), 16)


def _as_rows(rows: Any) -> list[dict]:
    if isinstance(rows, dict):  # columns: {"loss": [...], "step": [...]}
        cols = {k: v for k, v in rows.items() if isinstance(v, (list, tuple))}
        n = max((len(v) for v in cols.values()), default=0)
        return [{k: (v[i] if i < len(v) else None) for k, v in cols.items()} for i in range(n)]
    return [r for r in (rows or []) if isinstance(r, dict)]


def _pick_columns(rows: list[dict], max_cols: int) -> list[str]:
    probe = rows[:50] + rows[-50:]
    keys: dict[str, int] = {}
    for r in probe:
        for k, v in r.items():
            if _is_num(v):
                keys[k] = keys.get(k, 0) + 1
    numeric = [k for k, c in keys.items() if c * 2 >= len(probe)]
    ordered = [k for k in _METRIC_ORDER if k in numeric] + [k for k in numeric if k not in _METRIC_ORDER]
    return ordered[:max_cols]


def is_metric_rows(value: Any) -> bool:
    """A list of at least 3 dicts that share a numeric field (metric points, not examples)."""
    if not isinstance(value, list) or len(value) < 3 or not all(isinstance(r, dict) for r in value[:20]):
        return False
    return bool(_pick_columns(_as_rows(value), 8))


def metrics_table(
    rows: Any, *, max_rows: int = 12, columns: list[str] | None = None, max_cols: int = 7, stats: bool = True
) -> str:
    """Metric rows (list of dicts, or a dict of columns) as a fixed-width table of at most
    max_rows evenly spaced rows (+ the first row with a non-finite value), then one line per
    metric: first, min and max (with their step), last, and where non-finite values start."""
    rows = _as_rows(rows)
    if not rows:
        return "(no metric rows)"
    cols = list(columns) if columns else _pick_columns(rows, max_cols)
    if not cols:
        return f"({len(rows)} rows without numeric fields)"
    n = len(rows)
    idx = _evenly(n, max(2, max_rows))
    bad = next((i for i, r in enumerate(rows) if any(_is_num(r.get(c)) and not _finite(r.get(c)) for c in cols)), None)
    if bad is not None and bad not in idx:
        idx = sorted(set(idx) | {bad})
    cells = [[_fmt(rows[i].get(c)) for c in cols] for i in idx]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    if n > len(idx):
        lines.append(f"({n:,} rows, {len(idx)} shown, evenly spaced)")
    if stats:
        index_col = next((c for c in _INDEX_COLS if c in cols), None)

        def at(i: int) -> str:
            return f" @{index_col} {_fmt(rows[i].get(index_col))}" if index_col else f" @row {i}"

        for c in [c for c in cols if c not in _INDEX_COLS][:4]:
            vals = [(i, r.get(c)) for i, r in enumerate(rows) if _is_num(r.get(c))]
            if not vals:
                continue
            fin = [(i, v) for i, v in vals if math.isfinite(v)]
            if len({v for _, v in vals}) == 1:
                lines.append(f"{c}: {_fmt(vals[0][1])} throughout")
                continue
            line = f"{c}: first {_fmt(vals[0][1])}"
            if fin:
                lo = min(fin, key=lambda p: p[1])
                hi = max(fin, key=lambda p: p[1])
                line += f", min {_fmt(lo[1])}{at(lo[0])}, max {_fmt(hi[1])}{at(hi[0])}"
            line += f", last {_fmt(vals[-1][1])}"
            nonfin = [i for i, v in vals if not math.isfinite(v)]
            if nonfin:
                line += f"; {len(nonfin)} non-finite, first{at(nonfin[0])}"
            lines.append(line)
    return "\n".join(lines)


# -- one tool result ------------------------------------------------------------------------------
def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def compact_data(data: Any, max_chars: int = 2000, *, _key: str = "data") -> str:
    """A tool's structured data, compacted: scalars as one JSON object, metric rows as a table,
    long strings through compact_text, long lists as their first items and a count."""
    if not isinstance(data, dict):
        data = {"value": data}
    small: dict[str, Any] = {}
    bulky: list[tuple[str, Any]] = []
    for k, v in data.items():
        if len(_dumps(v)) > 160:
            bulky.append((k, v))
        else:
            small[k] = v
    parts: list[str] = []
    if small:
        parts.append(f"{_key}: " + _hard_cap(_dumps(small), max(200, max_chars // 3)))
    room = max_chars - sum(len(p) + 1 for p in parts)
    for pos, (k, v) in enumerate(bulky):
        share = max(120, room // (len(bulky) - pos))
        name = f"{_key}.{k}"
        if is_metric_rows(v) or (isinstance(v, list) and len(v) >= 3 and all(_is_num(x) for x in v[:50])):
            rows = v if isinstance(v[0], dict) else [{"i": i, k: x} for i, x in enumerate(v)]
            block = ""
            for max_rows in (12, 8, 5, 3):
                block = f"{name} ({len(rows):,} rows):\n" + metrics_table(rows, max_rows=max_rows)
                if len(block) <= share:
                    break
        elif isinstance(v, str):
            block = f"{name} ({len(v):,} chars):\n" + compact_text(v, max(60, share - len(name) - 20))
        elif isinstance(v, dict):
            block = compact_data(v, share, _key=name)
        elif isinstance(v, list):
            shown: list[str] = []
            used = len(name) + 40
            for item in v[:8]:
                s = _cut_line(_dumps(item), 200)
                if used + len(s) + 2 > share and shown:
                    break
                shown.append(s)
                used += len(s) + 2
            first = f", first {len(shown)}" if len(shown) < len(v) else ""
            block = f"{name}: {len(v):,} items{first}: [" + ", ".join(shown) + "]"
            flags = _bool_counts(v)
            if flags:
                block += f" ({flags})"
        else:
            block = f"{name}: " + _dumps(v)
        block = _hard_cap(block, share)
        parts.append(block)
        room -= len(block) + 1
    return "\n".join(parts)


def _bool_counts(items: list) -> str:
    """For a list of dicts with a boolean field (e.g. correct): how many are true."""
    dicts = [x for x in items if isinstance(x, dict)]
    if not dicts:
        return ""
    out = []
    for k, v in dicts[0].items():
        if isinstance(v, bool):
            yes = sum(1 for d in dicts if d.get(k) is True)
            out.append(f"{k}: {yes} of {len(dicts)}")
    return ", ".join(out[:2])


def render_result(summary: str, data: dict | None = None, *, prefix: str = "", max_chars: int = 3000) -> str:
    """The text the model reads for one tool outcome: `prefix + summary`, then `data: {json}`
    when it all fits in max_chars (the same text as an uncompacted result), else compacted."""
    head = prefix + (summary or "")
    blob = _dumps(data) if data else ""
    raw = head + ("\ndata: " + blob if blob else "")
    head_c = compact_text(head, max_chars if not blob else max(200, max_chars // 2))
    if not blob:
        return head_c
    if len(head_c) + 7 + len(blob) <= max_chars:
        return head_c + "\ndata: " + blob if head_c != head or len(raw) > max_chars else raw
    return _hard_cap(head_c + "\n" + compact_data(data, max(120, max_chars - len(head_c) - 1)), max_chars)


# -- sizes ---------------------------------------------------------------------------------------
def message_chars(m: Message) -> int:
    """Characters a message takes in a request (its JSON, with room for the wire's keys)."""
    if isinstance(m, UserText):
        return len(json.dumps(m.text)) + 40
    if isinstance(m, AssistantTurn):
        n = len(json.dumps(m.text)) + 40
        for c in m.tool_calls:
            args = c.args if c.runnable else "{}"
            n += len(json.dumps(args, default=str)) + len(c.name) + len(c.id) + 90
        return n
    if isinstance(m, ToolResults):
        return sum(len(json.dumps(r.content or "(empty)")) + len(r.call_id) + 90 for r in m.results) + 20
    return len(json.dumps(str(m)))


def fixed_chars(system: str, tools: list[dict]) -> int:
    """The system prompt and the tool specs, as sent with every request."""
    return len(json.dumps(system)) + sum(len(json.dumps(t)) + 60 for t in tools) + 200


# -- the conversation --------------------------------------------------------------------------
def _first_sentence(text: str, cap: int = 110) -> str:
    text = " ".join((text or "").split())
    m = re.search(r"(?<=[.!?])\s", text)
    if m and m.start() < cap:
        text = text[: m.start()]
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _args_short(args: Any, cap: int = 80) -> str:
    if not isinstance(args, dict):
        return "(bad arguments)"
    parts = []
    for k, v in args.items():
        s = v if isinstance(v, str) else _dumps(v)
        parts.append(f"{k}={s if len(s) <= 40 else s[:37] + '...'}")
    out = ", ".join(parts)
    return out if len(out) <= cap else out[: cap - 3] + "..."


def _groups(msgs: list[Message]) -> list[list[Message]]:
    """Split at each assistant message: a group is one model turn with its results and the user
    lines after them (a group before the first assistant message holds user lines only)."""
    groups: list[list[Message]] = []
    for m in msgs:
        if isinstance(m, AssistantTurn) or not groups:
            groups.append([m])
        else:
            groups[-1].append(m)
    return groups


@dataclass
class _Job:
    turn: int
    setup: str
    short: str
    end: str = ""
    scores: dict[str, str] = field(default_factory=dict)


@dataclass
class _Alert:
    severity: str
    message: str
    count: int
    first: int
    last: int


class ContextManager:
    """The running log of key findings, and the budget every request is held to (see the module
    docstring). The LLM agent records into it as tool results and messages arrive, and calls
    fit() before each request."""

    def __init__(
        self,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        *,
        keep_turns: int = 6,
        full_turns: int = 2,
        older_chars: int = 700,
        digest_share: float = 0.30,
        refill: float = 0.65,
        note_chars: int = 400,
        nudge_chars: int = 800,
    ):
        self.budget_tokens = int(budget_tokens)
        self.keep_turns = max(1, int(keep_turns))
        self.full_turns = max(1, int(full_turns))
        self.older_chars = older_chars
        self.digest_share = digest_share
        self.refill = refill
        self.note_chars = note_chars
        self.nudge_chars = nudge_chars
        self.nudges: list[tuple[int, str]] = []
        self.notes: list[tuple[int, str]] = []
        self.decisions: list[tuple[int, str]] = []
        self.other: list[tuple[int, str]] = []  # add_finding() of any other kind
        self.jobs: dict[str, _Job] = {}
        self.scores: dict[str, dict[str, str]] = {}  # checkpoints that are not this run's jobs (base)
        self.alerts: dict[str, _Alert] = {}
        self.turn_lines: list[tuple[int, str, list[str]]] = []  # (turn, line, tool names), compacted turns
        self.compacted_turns = 0
        self.compactions = 0
        self.raw_chars = 0  # the whole history as it would be with nothing compacted
        self.added_chars = 0  # the whole history with tool output compacted but no turn dropped
        self.last_tokens = 0
        self.max_tokens = 0
        self.over_budget = 0  # requests that could not be brought under the budget
        self._digest: UserText | None = None

    # -- findings ------------------------------------------------------------------------------
    def record_nudge(self, text: str, turn: int = 0) -> None:
        self.nudges.append((turn, str(text)))

    def add_finding(self, kind: str, text: str, turn: int = 0) -> None:
        """Any other finding to keep for the whole run (kind: note, decision, or a free label)."""
        {"note": self.notes, "decision": self.decisions, "nudge": self.nudges}.get(kind, self.other).append(
            (turn, str(text) if kind in ("note", "decision", "nudge") else f"{kind}: {text}")
        )

    def record_result(
        self,
        tool: str,
        args: Any,
        ok: bool,
        summary: str,
        data: dict | None = None,
        *,
        denied: bool = False,
        turn: int = 0,
    ) -> None:
        """Pull the key findings out of one tool outcome (before it is compacted)."""
        summary = summary or ""
        data = data if isinstance(data, dict) else {}
        args = args if isinstance(args, dict) else {}
        main, _, alerts = summary.partition(ALERT_MARK)
        for piece in alerts.split(" ; ") if alerts else []:
            self._alert(piece.strip(), turn)
        if denied:
            self.decisions.append((turn, f"DENIED {tool}({_args_short(args)}): {main.strip()}"))
            return
        if not ok:
            return
        if tool == "note" and args.get("text"):
            self.notes.append((turn, str(args["text"]).strip()))
        elif tool == "evaluate" and _is_num(data.get("score")):
            ckpt = str(args.get("checkpoint", "?"))
            split = str(args.get("split") or "dev")
            n = data.get("n")
            correct = main.split("(")[1].split(")")[0] if "(" in main and "/" in main else (f"n={n}" if n else "")
            text = f"{data['score']:.1%}" + (f" ({correct})" if correct else "")
            if ckpt in self.jobs:
                self.jobs[ckpt].scores[split] = text
            else:
                self.scores.setdefault(ckpt, {})[split] = text
        elif tool == "start_training" and data.get("job"):
            job = str(data["job"])
            setup = main.split(":", 1)[1] if main.startswith(job) and ":" in main else main
            setup = setup.split("; call wait")[0].strip()
            short = ", ".join(
                f"{k}={args[k]}"
                for k in ("dataset", "base", "learning_rate", "epochs", "lr_scheduler_type", "lora")
                if k in args
            )
            self.jobs[job] = _Job(turn, setup, short or setup[:60])
        elif tool in ("wait", "job_status", "stop_training") and data.get("job") in self.jobs:
            if data.get("state") in TERMINAL_STATES:
                self.jobs[str(data["job"])].end = _job_end(data)
            if tool == "stop_training":
                self.decisions.append((turn, f"stopped {data['job']}"))
        elif tool == "submit":
            self.decisions.append((turn, f"submitted {args.get('checkpoint')}: {main.strip()[:120]}"))

    def _alert(self, piece: str, turn: int) -> None:
        if not piece:
            return
        m = re.match(r"([\w.-]+) \((\w+)\): (.*)", piece, re.S)
        rule, sev, msg = (m.group(1), m.group(2), m.group(3)) if m else (piece[:40], "?", piece)
        a = self.alerts.get(rule)
        if a is None:
            self.alerts[rule] = _Alert(sev, msg.strip(), 1, turn, turn)
        else:
            a.count, a.last, a.message, a.severity = a.count + 1, turn, msg.strip(), sev

    # -- sizes ---------------------------------------------------------------------------------
    def observe(self, msg: Message, raw: Message | None = None) -> None:
        """Count a message added to the history; `raw` is what it was before its tool output
        was compacted (the uncompacted baseline)."""
        size = message_chars(msg)
        self.added_chars += size
        self.raw_chars += size if raw is None else message_chars(raw)

    def estimate(self, system: str, tools: list[dict], history: list[Message]) -> int:
        return estimate_tokens(fixed_chars(system, tools) + sum(message_chars(m) for m in history))

    def raw_tokens(self, system: str, tools: list[dict], *, outputs_compacted: bool = False) -> int:
        """The uncompacted baseline: the request if every message ever added were still there
        (with its raw tool output, or with outputs_compacted, as the model read it)."""
        return estimate_tokens(fixed_chars(system, tools) + (self.added_chars if outputs_compacted else self.raw_chars))

    # -- the budget ----------------------------------------------------------------------------
    def fit(self, system: str, tools: list[dict], history: list[Message]) -> list[Message]:
        """The history to send: unchanged while under the budget, else compacted (see the
        module docstring). Returns a new list; the messages in it are not changed in place."""
        budget = self.budget_tokens * CHARS_PER_TOKEN
        fixed = fixed_chars(system, tools)
        total = fixed + sum(message_chars(m) for m in history)
        if total <= budget or len(history) < 2:
            return self._done(history, total)
        pin = 2 if len(history) > 1 and history[1] is self._digest else 1  # the brief (and the summary)
        head = history[:1]
        groups = _groups(history[pin:])
        head_chars = sum(message_chars(m) for m in head)
        digest_cap = int(budget * self.digest_share)
        digest_est = max(digest_cap, len(self._render_digest(digest_cap, 0)) + 400)
        target = budget * self.refill - fixed - head_chars - digest_est
        # The latest `full_turns` turns stay as they are; older kept turns have long parts shortened.
        keep = [groups[-1]]
        used = sum(message_chars(m) for m in groups[-1])
        for g in reversed(groups[:-1]):
            if len(keep) >= self.keep_turns:
                break
            if len(keep) >= self.full_turns:
                g = [_shrink(m, self.older_chars) for m in g]
            size = sum(message_chars(m) for m in g)
            if used + size > target:
                break
            keep.insert(0, g)
            used += size
        dropped = groups[: len(groups) - len(keep)]

        def assemble(level: int = 0, cap: int = digest_cap) -> tuple[list[Message], int]:
            if self.compacted_turns or self._digest is not None or self._has_findings():
                self._digest = UserText(self._render_digest(cap, level))
            msgs = head + ([self._digest] if self._digest is not None else []) + [m for g in keep for m in g]
            return msgs, fixed + sum(message_chars(m) for m in msgs)

        if dropped:
            self.compactions += 1
            self._summarize(dropped)
        new, total = assemble()
        # Still over: fewer verbatim turns, then a shorter summary, then shorter kept messages.
        while total > budget and len(keep) > 1:
            self._summarize([keep.pop(0)])
            new, total = assemble()
        level = 0
        while total > budget and level < 3:
            level += 1
            new, total = assemble(level, digest_cap // (2 ** (level - 1)))
        n_head = len(new) - sum(len(g) for g in keep)
        for limit in (1500, 700, 300, 120):
            if total <= budget:
                break
            new = [_shrink(new[0], limit)] + new[1:n_head] + [_shrink(m, limit) for m in new[n_head:]]
            total = fixed + sum(message_chars(m) for m in new)
        return self._done(new, total)

    def _has_findings(self) -> bool:
        return bool(
            self.nudges or self.notes or self.decisions or self.other or self.jobs or self.scores or self.alerts
        )

    def _done(self, history: list[Message], total: int) -> list[Message]:
        self.last_tokens = estimate_tokens(total)
        self.max_tokens = max(self.max_tokens, self.last_tokens)
        if self.last_tokens > self.budget_tokens:
            self.over_budget += 1
        return list(history)

    def _summarize(self, groups: list[list[Message]]) -> None:
        for g in groups:
            if not isinstance(g[0], AssistantTurn):
                continue  # user lines only: nudges are findings, the rest is clock and prompts
            self.compacted_turns += 1
            self.turn_lines.append(_turn_line(self.compacted_turns, g))

    # -- the summary message ---------------------------------------------------------------------
    def findings_text(self, level: int = 0) -> str:
        """The key findings, most important first. Level 0 is complete; higher levels shorten
        older entries (the person's messages last) to fit a smaller share."""
        note_cap = (self.note_chars, 160, 70, 70)[level]
        nudge_old = (self.nudge_chars, self.nudge_chars, 200, 120)[level]
        keep_recent = 8
        out: list[str] = []
        if self.nudges:
            out.append("Messages from the human supervisor (they still apply unless the person said otherwise):")
            n = len(self.nudges)
            for i, (t, text) in enumerate(self.nudges):
                cap = self.nudge_chars if i >= n - 5 else nudge_old
                out.append(f"- t{t}: {_cut_line(' '.join(text.split()), cap)}")
        if self.jobs:
            out.append("Experiments (job: setup -> outcome -> scores):")
            n = len(self.jobs)
            for i, (job, j) in enumerate(self.jobs.items()):
                recent = i >= n - keep_recent
                setup = j.setup if (level == 0 or recent) else j.short
                end = j.end or "not finished when last seen"
                if level >= 2 and not recent:
                    end = end.split(",")[0]
                scores = ", ".join(f"{s} {v}" for s, v in j.scores.items()) or "not evaluated"
                out.append(f"- {job} (t{j.turn}): {setup} -> {end} -> {scores}")
        if self.scores:
            out.append(
                "Other scores: "
                + "; ".join(f"{ck}: " + ", ".join(f"{s} {v}" for s, v in sc.items()) for ck, sc in self.scores.items())
            )
        if self.alerts:
            out.append("Watchdog alerts (rule, severity, how many times, turns, latest message):")
            mcap = (200, 120, 80, 60)[level]
            for rule, a in self.alerts.items():
                span = f"t{a.first}" if a.first == a.last else f"t{a.first}-t{a.last}"
                out.append(f"- {rule} ({a.severity}) x{a.count}, {span}: {_cut_line(a.message, mcap)}")
        if self.decisions:
            out.append("Decisions (yours and the person's):")
            n = len(self.decisions)
            dcap = (300, 160, 90, 70)[level]
            for i, (t, text) in enumerate(self.decisions):
                out.append(f"- t{t}: {_cut_line(text, 300 if i >= n - 10 else dcap)}")
        if self.other:
            out.append("Other findings:")
            out += [f"- t{t}: {_cut_line(text, (300, 160, 90, 70)[level])}" for t, text in self.other]
        if self.notes:
            out.append("Your notes (all are also in NOTES.md):")
            n = len(self.notes)
            for i, (t, text) in enumerate(self.notes):
                cap = self.note_chars if i >= n - keep_recent else note_cap
                out.append(f"- t{t}: {_cut_line(' '.join(text.split()), cap)}")
        return "\n".join(out)

    def _render_digest(self, cap: int, level: int) -> str:
        what = f"turns 1-{self.compacted_turns}" if self.compacted_turns else "earlier messages"
        intro = (
            f"{DIGEST_MARK} To keep this conversation within its context budget, {what} were replaced "
            f"by this summary. The key findings below are kept for the whole run; the latest turns follow "
            f"verbatim."
        )
        findings = self.findings_text(level)
        if level >= 3:
            findings = _hard_cap(findings, max(200, cap - len(intro) - 300))
        room = cap - len(intro) - len(findings) - 60
        turns = self._turns_text(max(room, 200 if level < 3 else 120))
        parts = [intro]
        if findings:
            parts.append("Key findings:\n" + findings)
        if turns:
            parts.append(turns)
        return "\n\n".join(parts)

    def _turns_text(self, room: int) -> str:
        """One line per compacted turn, newest last; those that do not fit are counted by tool."""
        if not self.turn_lines:
            return ""
        title = "Earlier turns, one line each:"
        shown: list[str] = []
        used = len(title) + 120
        i = len(self.turn_lines)
        while i > 0 and len(shown) < 40:
            line = self.turn_lines[i - 1][1]
            if used + len(line) + 1 > room:
                break
            shown.append(line)
            used += len(line) + 1
            i -= 1
        shown.reverse()
        lines = [title]
        if i > 0:
            counts = Counter(name for _, _, names in self.turn_lines[:i] for name in names)
            calls = ", ".join(f"{name} x{c}" for name, c in counts.most_common(8)) or "no tool calls"
            lines.append(f"- t1-t{self.turn_lines[i - 1][0]}: {i} turns; calls: {calls}")
        if shown:
            body = compact_text("\n".join(shown), max(200, room - len(lines[-1]) - 40), header=False, similar_keep=3)
            lines.append(body)
        return "\n".join(lines)

    def stats(self, system: str = "", tools: list[dict] | None = None) -> dict:
        return {
            "budget_tokens": self.budget_tokens,
            "last_tokens": self.last_tokens,
            "max_tokens": self.max_tokens,
            "raw_tokens": self.raw_tokens(system, tools or []),
            "compactions": self.compactions,
            "compacted_turns": self.compacted_turns,
            "over_budget": self.over_budget,
            "findings": {
                "nudges": len(self.nudges),
                "notes": len(self.notes),
                "jobs": len(self.jobs),
                "alerts": sum(a.count for a in self.alerts.values()),
                "decisions": len(self.decisions),
            },
        }


def _job_end(d: dict) -> str:
    parts = [str(d.get("state"))]
    if d.get("step") is not None:
        parts.append(f"step {d['step']}" + (f"/{d['total']}" if d.get("total") else ""))
    if _is_num(d.get("loss")):
        parts.append(f"loss {_fmt(d['loss'])}")
    if d.get("checkpoint"):
        parts.append(f"checkpoint {d['checkpoint']}")
    err = d.get("error")
    if isinstance(err, dict):
        parts.append(f"error {err.get('kind')}: {_cut_line(str(err.get('message')), 100)}")
    return ", ".join(parts)


def _turn_line(n: int, group: list[Message]) -> tuple[int, str, list[str]]:
    a = group[0]
    assert isinstance(a, AssistantTurn)
    results = {r.call_id: r for m in group if isinstance(m, ToolResults) for r in m.results}
    bits: list[str] = []
    if a.text.strip():
        bits.append(_first_sentence(a.text))
    for c in a.tool_calls:
        r = results.get(c.id)
        out = "no result"
        if r is not None:
            first = " ".join(r.content.split("\n", 1)[0].split())
            first = first.split(ALERT_MARK.strip())[0].strip(" |")
            out = _cut_line(first, 90) if len(first) <= 90 else first[:87] + "..."
        bits.append(f"{c.name}({_args_short(c.args, 60)}) -> {out}")
    for m in group[1:]:
        if isinstance(m, UserText):
            if m.text.startswith(SUPERVISOR_MARK):
                bits.append("(the supervisor sent a message: see above)")
            elif m.text.startswith(AUTO_MARK):
                bits.append("(no tool called)")
    line = f"- t{n}: " + " | ".join(bits or ["(empty turn)"])
    return n, (line if len(line) <= 240 else line[:237] + "..."), [c.name for c in a.tool_calls]


def _shrink(m: Message, limit: int) -> Message:
    """A copy of a message with its long parts compacted to about `limit` characters each."""
    if isinstance(m, UserText):
        return m if len(m.text) <= limit else UserText(compact_text(m.text, limit))
    if isinstance(m, AssistantTurn):
        text = m.text if len(m.text) <= limit else compact_text(m.text, limit)
        calls = [replace(c, args=_shrink_args(c.args, max(60, limit // 4))) if c.runnable else c for c in m.tool_calls]
        return AssistantTurn(text, calls)
    if isinstance(m, ToolResults):
        return ToolResults(
            [
                r
                if len(r.content) <= limit
                else ToolResult(r.call_id, r.name, compact_text(r.content, limit), r.is_error)
                for r in m.results
            ]
        )
    return m


def _shrink_args(args: Any, cap: int) -> Any:
    if isinstance(args, dict):
        return {k: _shrink_args(v, cap) for k, v in args.items()}
    if isinstance(args, str) and len(args) > cap:
        return args[: cap - 30] + f" [... {len(args) - cap + 30} chars cut]"
    if isinstance(args, list) and len(_dumps(args)) > cap:
        return [_shrink_args(x, cap) for x in args[:5]]
    return args


__all__ = [
    "ContextManager",
    "DEFAULT_BUDGET_TOKENS",
    "compact_data",
    "compact_text",
    "estimate_tokens",
    "fixed_chars",
    "is_metric_rows",
    "message_chars",
    "metrics_table",
    "render_result",
]
