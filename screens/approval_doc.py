"""What the approval prompt shows: a request's details as one document (screens/widgets/
call_view.py's CallDoc). Short fields on top as `key: value`; long ones (run_python's code, a
diff, a file's content, big JSON) as numbered blocks, whole; the policy's flagged spans
highlighted and listed; characters a terminal would hide shown escaped. Nothing is cut
silently: a field over MAX_SHOWN characters says how many are not shown."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from typing import Any

from rich.style import Style
from rich.text import Text

from screens.widgets.call_view import CallDoc, Flag
from screens.widgets.palette import Palette


MAX_SHOWN = 1 << 20  # characters of one field shown; beyond it the prompt says what it left out
LONG_STRING = 300  # a string field longer than this, or with a line break, is shown as a block
LONG_JSON = (24, 3000)  # a non-string field rendered as JSON longer than this (lines, chars): a block

_NEWLINE = re.compile(r"\r\n|\r|\n")  # line breaks as Python reads source code
# characters a terminal would not show faithfully (controls, bidi overrides, zero-width, line and
# page separators): shown escaped (\x0c, \u202e) so the text on screen is the text that runs (and
# a display line never breaks: a block's lines are split before, at _NEWLINE)
_INVISIBLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _escaped(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def visible(text: str) -> tuple[str, list[tuple[int, int]], list[int] | None]:
    """(`text` with invisible characters escaped, the escapes' column ranges, the display column
    of each character of `text` plus its end, or None when nothing was escaped)."""
    if not _INVISIBLE.search(text):
        return text, [], None
    out: list[str] = []
    marks: list[tuple[int, int]] = []
    cols: list[int] = []
    pos = 0
    for ch in text:
        cols.append(pos)
        if _INVISIBLE.match(ch):
            esc = _escaped(ch)
            marks.append((pos, pos + len(esc)))
            out.append(esc)
            pos += len(esc)
        else:
            out.append(ch)
            pos += 1
    cols.append(pos)
    return "".join(out), marks, cols


def render_value(value: Any, indent: int | None = 2) -> str:
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _is_long(key: str, value: str) -> bool:
    return key == "code" or "\n" in value or "\r" in value or len(value) > LONG_STRING


def _add_line(doc: CallDoc, text: str, pal: Palette, *, key_end: int = 0, style: Style | None = None) -> None:
    shown, marks, _ = visible(text)
    if key_end and marks:  # the key is plain text (a dict key of the request): keep its length
        key_end = min(key_end, marks[0][0])
    line = doc.add(shown, style)
    if key_end:
        doc.style(line, 0, key_end, pal.bold("tool"))
    for start, end in marks:
        doc.style(line, start, end, pal.bold("risk-medium") + Style(reverse=True))


def _add_block(doc: CallDoc, title: str, value: str, pal: Palette, spans: list) -> list[tuple[str, int]]:
    """A long text, whole (up to MAX_SHOWN characters, then a visible note), one numbered display
    line per line of the text, the flagged spans highlighted. Returns the flagged spans that lie
    past the part shown: [(label, line), ...]."""
    shown = value[:MAX_SHOWN]
    pieces = _NEWLINE.split(shown)
    starts = [0] + [m.end() for m in _NEWLINE.finditer(shown)]
    if len(pieces) > 1 and not pieces[-1]:  # the text ends with a line break: no empty last line
        pieces.pop()
        starts.pop()
    head = doc.add(f"{visible(title)[0]}  ", pal.bold("tool"))
    if len(value) > MAX_SHOWN:
        total = len(_NEWLINE.findall(value)) + (0 if _NEWLINE.match(value, len(value) - 1) else 1)
        doc.lines[head] += f"({len(pieces):,} of {total:,} lines shown, {len(shown):,} of {len(value):,} characters)"
    else:
        doc.lines[head] += f"({len(pieces):,} line{'s' if len(pieces) != 1 else ''}, {len(value):,} characters)"
    doc.style(head, len(visible(title)[0]) + 2, len(doc.lines[head]), pal["muted"])
    width = len(str(len(pieces)))
    gutter = width + 4
    first = len(doc.lines)
    cols: list[list[int] | None] = []
    for i, piece in enumerate(pieces):
        text, marks, colmap = visible(piece)
        line = doc.add(f" {i + 1:>{width}} │ {text}")
        for start, end in marks:
            doc.style(line, gutter + start, gutter + end, pal.bold("risk-medium") + Style(reverse=True))
        cols.append(colmap)
    doc.gutters.append((first, first + len(pieces), gutter, pal["muted"]))
    if len(value) > MAX_SHOWN:
        doc.add(
            f"[... {len(value) - MAX_SHOWN:,} more characters not shown: the prompt shows at most "
            f"{MAX_SHOWN:,} characters of one field ...]",
            pal.bold("risk-high"),
        )
    flag = pal.bold("risk-high") + Style(reverse=True)
    past: list[tuple[str, int]] = []
    marked: list[tuple[int, int, str]] = []
    for span in spans:
        try:
            a, b = int(span[0]), int(span[1])
            label = str(span[2]) if len(span) > 2 else "flagged"
        except (TypeError, ValueError, IndexError):
            continue
        a, b = max(0, a), min(len(value), b)
        if b <= a:
            continue
        if a >= len(shown):
            past.append((label, len(_NEWLINE.findall(value, 0, a)) + 1))
            continue
        marked.append((a, min(b, len(shown)), label))
    for a, b, label in sorted(marked):
        i = bisect_right(starts, a) - 1
        flag_at = None
        while i < len(pieces) and starts[i] < b:
            lo, hi = max(a, starts[i]) - starts[i], min(b, starts[i] + len(pieces[i])) - starts[i]
            if hi > lo:
                colmap = cols[i]
                c0, c1 = (colmap[lo], colmap[hi]) if colmap else (lo, hi)
                doc.style(first + i, gutter + c0, gutter + c1, flag)
                if flag_at is None:
                    flag_at = (first + i, gutter + c0, gutter + c1, i + 1)
            i += 1
        if flag_at is None:  # a span over line breaks only: mark where it starts
            i = bisect_right(starts, a) - 1
            flag_at = (first + i, gutter, gutter, i + 1)
        doc.style(flag_at[0], 0, gutter - 2, flag)  # its line number too
        doc.flags.append(Flag(flag_at[0], flag_at[1], flag_at[2], label, flag_at[3]))
    return sorted(past, key=lambda p: p[1])


def build_doc(details: Any, pal: Palette) -> tuple[CallDoc, bool, list[tuple[str, int]]]:
    """(every field of a request's details as display lines, whether any field is long (shown
    as a numbered block: the prompt then uses a scrollable CallView), the flagged spans past
    the part shown, as (label, line)).

    Short fields come first (`key: value`); long text fields (code, diffs, file content, big
    JSON) follow as blocks, whole. A text argument repeated as a top-level field (run_python's
    args.code and the verdict's code) is shown once, as the top-level block, where the code's
    flagged spans (details["spans"]: [[start, end, label], ...]) are highlighted."""
    doc = CallDoc()
    if details in (None, {}, [], ""):
        doc.add("(no details)", pal["muted"])
        return doc, False, []
    if not isinstance(details, dict):
        details = {"details": details}
    spans = details.get("spans") if isinstance(details.get("spans"), list) else []
    blocks: list[tuple[str, str, list]] = []

    def short_or_block(key: str, value: Any, indent: str, where: str) -> None:
        if isinstance(value, str):
            if _is_long(key, value):
                same = indent and isinstance(details.get(key), str) and details[key] == value
                _add_line(
                    doc, f"{indent}{key}: ↓ below, as {key if same else where}", pal, key_end=len(indent) + len(key) + 2
                )
                if not same:
                    blocks.append((where, value, []))
            else:
                _add_line(doc, f"{indent}{key}: {value}", pal, key_end=len(indent) + len(key) + 2)
            return
        text = render_value(value)
        compact = render_value(value, indent=None)
        if len(compact) <= 100 and "\n" not in compact:  # a short list or dict: on its line
            text = compact
        if text.count("\n") + 1 > LONG_JSON[0] or len(text) > LONG_JSON[1]:
            _add_line(doc, f"{indent}{key}: ↓ below, as {where}", pal, key_end=len(indent) + len(key) + 2)
            blocks.append((where, text, []))
        elif "\n" in text:
            _add_line(doc, f"{indent}{key}:", pal, key_end=len(indent) + len(key) + 1)
            for line in text.splitlines():
                _add_line(doc, f"{indent}  {line}", pal)
        else:
            _add_line(doc, f"{indent}{key}: {text}", pal, key_end=len(indent) + len(key) + 2)

    for key, value in details.items():
        key = str(key)
        if key == "spans":
            continue
        if isinstance(value, str) and _is_long(key, value):
            blocks.append((key, value, spans if key == "code" else []))
        elif key == "args" and isinstance(value, dict) and value:
            _add_line(doc, "args:", pal, key_end=5)
            for k, v in value.items():
                short_or_block(str(k), v, "  ", f"args.{k}")
        else:
            short_or_block(key, value, "", key)
    past: list[tuple[str, int]] = []
    for title, value, block_spans in blocks:
        if doc.lines:
            doc.add("")
        past += _add_block(doc, title, value, pal, block_spans)
    return doc, bool(blocks), past


def render_details(details: Any, pal: Palette) -> Text:
    """Every field of a request's details, whole, as one rich Text (flagged spans highlighted)."""
    return build_doc(details, pal)[0].text()


def flag_note(doc: CallDoc, past: list[tuple[str, int]], pal: Palette) -> Text | None:
    """'2 flagged spans (highlighted): network: socket at line 1001, ...   n next · ↑↓ pgup pgdn
    scroll' or None."""
    count = len(doc.flags) + len(past)
    if not count:
        return None
    out = Text()
    out.append(f"{count} flagged span{'s' if count != 1 else ''}", pal.bold("risk-high"))
    if doc.flags:
        out.append(" (highlighted): ", pal.bold("risk-high"))
        out.append(
            ", ".join(f"{f.label} at line {f.source_line}" for f in doc.flags[:4])
            + (" ..." if len(doc.flags) > 4 else "")
        )
    if past:
        out.append(f"{';' if doc.flags else ':'} {len(past)} past the part shown (NOT SHOWN): ", pal.bold("risk-high"))
        out.append(", ".join(f"{label} at line {line}" for label, line in past[:4]) + (" ..." if len(past) > 4 else ""))
    out.append("   n next · ↑↓ pgup pgdn scroll" if doc.flags else "   ↑↓ pgup pgdn scroll", pal["muted"])
    return out
