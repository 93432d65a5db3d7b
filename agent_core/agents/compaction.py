"""Tool output made short and readable for the LLM agent's model (pure Python, no tokenizer).

Logs are what confuse models (thousands of repeated lines, noisy warnings), so:

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

The conversation budget that holds the whole history (agent_core/agents/context.py) uses the
small helpers here too: cut_line, hard_cap, dumps, is_number, format_value.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

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


def cut_line(line: str, cap: int) -> str:
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


def hard_cap(text: str, max_chars: int) -> str:
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
            head_lines += [f"  {c:>6}x  {cut_line(line.strip(), 160)}" for line, c in repeated]
    head_txt = "\n".join(head_lines)
    room = max_chars - len(head_txt) - (1 if head_txt else 0)
    if room < 80:  # the header does not leave room for the body: drop it
        head_txt, room = "", max_chars
    line_cap = max(120, room // min(3, max(1, len(items))))

    def body_of(its: list[_Line]) -> list[str]:
        return [cut_line(it.render(), line_cap) for it in its]

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
    return hard_cap(out, max_chars)


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
def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return is_number(v) and math.isfinite(v)


def format_value(v: Any) -> str:
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
    return cut_line(str(v), 16)


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
            if is_number(v):
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
    bad = next(
        (i for i, r in enumerate(rows) if any(is_number(r.get(c)) and not _finite(r.get(c)) for c in cols)), None
    )
    if bad is not None and bad not in idx:
        idx = sorted(set(idx) | {bad})
    cells = [[format_value(rows[i].get(c)) for c in cols] for i in idx]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    if n > len(idx):
        lines.append(f"({n:,} rows, {len(idx)} shown, evenly spaced)")
    if stats:
        index_col = next((c for c in _INDEX_COLS if c in cols), None)

        def at(i: int) -> str:
            return f" @{index_col} {format_value(rows[i].get(index_col))}" if index_col else f" @row {i}"

        for c in [c for c in cols if c not in _INDEX_COLS][:4]:
            vals = [(i, r.get(c)) for i, r in enumerate(rows) if is_number(r.get(c))]
            if not vals:
                continue
            fin = [(i, v) for i, v in vals if math.isfinite(v)]
            if len({v for _, v in vals}) == 1:
                lines.append(f"{c}: {format_value(vals[0][1])} throughout")
                continue
            line = f"{c}: first {format_value(vals[0][1])}"
            if fin:
                lo = min(fin, key=lambda p: p[1])
                hi = max(fin, key=lambda p: p[1])
                line += f", min {format_value(lo[1])}{at(lo[0])}, max {format_value(hi[1])}{at(hi[0])}"
            line += f", last {format_value(vals[-1][1])}"
            nonfin = [i for i, v in vals if not math.isfinite(v)]
            if nonfin:
                line += f"; {len(nonfin)} non-finite, first{at(nonfin[0])}"
            lines.append(line)
    return "\n".join(lines)


# -- one tool result ------------------------------------------------------------------------------
def dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def compact_data(data: Any, max_chars: int = 2000, *, _key: str = "data") -> str:
    """A tool's structured data, compacted: scalars as one JSON object, metric rows as a table,
    long strings through compact_text, long lists as their first items and a count."""
    if not isinstance(data, dict):
        data = {"value": data}
    small: dict[str, Any] = {}
    bulky: list[tuple[str, Any]] = []
    for k, v in data.items():
        if len(dumps(v)) > 160:
            bulky.append((k, v))
        else:
            small[k] = v
    parts: list[str] = []
    if small:
        parts.append(f"{_key}: " + hard_cap(dumps(small), max(200, max_chars // 3)))
    room = max_chars - sum(len(p) + 1 for p in parts)
    for pos, (k, v) in enumerate(bulky):
        share = max(120, room // (len(bulky) - pos))
        name = f"{_key}.{k}"
        if is_metric_rows(v) or (isinstance(v, list) and len(v) >= 3 and all(is_number(x) for x in v[:50])):
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
                s = cut_line(dumps(item), 200)
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
            block = f"{name}: " + dumps(v)
        block = hard_cap(block, share)
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
    blob = dumps(data) if data else ""
    raw = head + ("\ndata: " + blob if blob else "")
    head_c = compact_text(head, max_chars if not blob else max(200, max_chars // 2))
    if not blob:
        return head_c
    if len(head_c) + 7 + len(blob) <= max_chars:
        return head_c + "\ndata: " + blob if head_c != head or len(raw) > max_chars else raw
    return hard_cap(head_c + "\n" + compact_data(data, max(120, max_chars - len(head_c) - 1)), max_chars)
