"""Text side of the contamination check (agent_core.oversight.contamination): dataset rows -> text, and the
normalisation both sides go through before they are compared.

Pure Python, standard library only.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from typing import Any

QUESTION_KEYS = ("prompt", "question", "problem", "query", "instruction", "input", "context")
ANSWER_KEYS = ("completion", "answer", "solution", "response", "output", "target", "canonical_solution", "chosen")
TEXT_KEYS = ("text", "content", "document", "body")
ROLE_KEYS = frozenset(("role", "from", "type"))  # chat metadata: "user", "gpt", "text" ...

# Invisible characters, removed before anything else: control characters other than tab, newline
# and carriage return; every format character (Unicode category Cf: soft hyphen, zero-width space /
# joiners, word joiner, BOM, bidi controls, tags ...); and the other default-ignorable code points
# (combining grapheme joiner, Hangul fillers, variation selectors). A test checks the Cf part
# against the running Python's unicodedata.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    "\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_SENTENCE_PUNCT = ".,!?;:\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026\u00bf\u00a1\u3002\uff0c"
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58"
_SYMBOLS = (
    "".join(c for c in string.punctuation if c not in _SENTENCE_PUNCT and c not in "_-")
    + "\u00d7\u00f7\u00b1\u2264\u2265\u2260\u2192\u2190\u221a\u03c0"
)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HYPHEN_RE = re.compile(f"(?<=[^\\W\\d_])[{_DASHES}](?=[^\\W\\d_])")
_NUMBER_RE = re.compile(r"\d[\d.,]*")  # digits with their separators; _number sorts them out
_ASCII_NUMBER_RE = re.compile(r"[0-9][0-9.,]*")  # the same on ASCII text, faster
_WELL_FORMED_RE = re.compile(r"\d+(?:[.,]\d+)*")
_WS_RE = re.compile(r"\s+")


class _Table(dict):
    """str.translate table. ASCII punctuation from the lists above; any other character is
    classified the first time it is seen: symbols (S*) become tokens of their own, punctuation
    (P* but connectors such as "_") is dropped, the rest is kept."""

    def __missing__(self, cp: int) -> int | str:
        cat = unicodedata.category(chr(cp))
        value: int | str = cp
        if cat[0] == "S":
            value = f" {chr(cp)} "
        elif cat[0] == "P" and cat != "Pc":
            value = " "
        self[cp] = value
        return value


# \x00 (removed from the input first) stands for a decimal point while the table drops "."
_ASCII_TABLE = {
    **{ord(c): " " for c in _SENTENCE_PUNCT},
    **{ord(c): f" {c} " for c in _SYMBOLS},
    **{ord(c): " - " for c in _DASHES},
    0: ".",
}
_TABLE = _Table(_ASCII_TABLE)


def _number(m: re.Match) -> str:
    """Numbers as tokens of their own: thousands separators dropped ("1,000" -> "1000"; a comma
    before anything but three digits separates), decimal points kept ("3.5"), any other "." or ","
    (a full stop, "1..2") left to the punctuation table."""
    s = m.group()
    if s.isdigit():
        return " " + s + " "
    out = []
    for num in _WELL_FORMED_RE.findall(s):
        if "," in num:
            parts = num.split(",")
            num = parts[0] + "".join(p if len(p.split(".", 1)[0]) == 3 else " " + p for p in parts[1:])
        out.append(num.replace(".", "\x00"))
    return " " + " ".join(out) + " "


# ---------------------------------------------------------------------------- normalisation
def tokens(text: str) -> list[str]:
    """Normalised tokens: words, numbers and meaningful symbols.

    Invisible characters removed (see _INVISIBLE_RE); Unicode NFKC; case folded (str.casefold);
    thousands separators dropped; a dash between letters splits the word, other dashes are a
    minus; sentence punctuation dropped; maths and code symbols kept as tokens; numbers (with
    their decimal point: "3.5") are whole tokens, cut off from letters around them ("Q12" ->
    "q", "12"); whitespace collapsed."""
    if text.isascii():
        if not text.isprintable():
            text = _CONTROL_RE.sub("", text)
        text = _ASCII_NUMBER_RE.sub(_number, text.lower())
        if "-" in text:
            text = _HYPHEN_RE.sub(" ", text)
        return text.translate(_ASCII_TABLE).split()
    text = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text)).casefold()
    text = _HYPHEN_RE.sub(" ", _NUMBER_RE.sub(_number, text))
    return text.translate(_TABLE).split()


def normalize(text: str) -> str:
    return " ".join(tokens(text))


def collapse(text: str) -> str:
    """Whitespace collapsed (what "verbatim" compares)."""
    return _WS_RE.sub(" ", text).strip()


# ---------------------------------------------------------------------------- rows -> text
def _message_text(messages: Any) -> tuple[str, str]:
    """(all contents, first user content) of a chat: OpenAI messages or ShareGPT turns."""
    parts: list[str] = []
    question = ""
    if not isinstance(messages, list):
        return "", ""
    for m in messages:
        if isinstance(m, dict):
            content = m.get("content", m.get("value", m.get("text", "")))
            role = str(m.get("role", m.get("from", ""))).lower()
        else:
            content, role = m, ""
        if isinstance(content, list):  # content parts [{"type": "text", "text": ...}]
            content = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
        content = "" if content is None else str(content)
        if content:
            parts.append(content)
            if not question and role in ("user", "human"):
                question = content
    return "\n".join(parts), question


def row_parts(row: Any) -> tuple[str, str]:
    """(full text, question) of an evaluation row, read by layout: prompt/completion, question/
    answer, chat messages (OpenAI or ShareGPT), text. The question is the prompt-like field
    (empty when the row has none distinct from its full text). Training rows are read whole
    instead: row_strings."""
    if row is None:
        return "", ""
    if isinstance(row, str):
        return row, ""
    if not isinstance(row, dict):
        return str(row), ""
    for key in ("messages", "conversations", "conversation", "chat"):
        if isinstance(row.get(key), list):
            text, q = _message_text(row[key])
            extra = [str(row[k]) for k in ANSWER_KEYS if isinstance(row.get(k), str)]
            return "\n".join([text, *extra]).strip(), q
    question_parts = [_as_text(row[k]) for k in QUESTION_KEYS if row.get(k) not in (None, "")]
    answer_parts = [_as_text(row[k]) for k in ANSWER_KEYS if row.get(k) not in (None, "")]
    text_parts = [_as_text(row[k]) for k in TEXT_KEYS if row.get(k) not in (None, "")]
    if question_parts or answer_parts:
        question = "\n".join(question_parts)
        full = "\n".join(question_parts + answer_parts + text_parts)
        return full, question if answer_parts or text_parts else ""
    if text_parts:
        return "\n".join(text_parts), ""
    # unknown layout: every string value
    return "\n".join(str(v) for v in row.values() if isinstance(v, str)), ""


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if v and all(isinstance(m, dict) for m in v):
            return _message_text(v)[0]
        return "\n".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def rows_text(row: Any) -> str:
    """An evaluation row as one text (row_parts' full text)."""
    return row_parts(row)[0]


def row_strings(row: Any) -> list[str]:
    """Every string of a training row, in document order, at any depth: the values of all its
    fields (nested chat messages, content parts, lists, numbers), and keys that are not plain
    identifiers (text can hide in a key). Left out: booleans, nulls, and one-word role markers
    ("role": "user", "from": "gpt", "type": "text"), which would split a chat's turns apart.
    Iterative, so a deeply nested row cannot exhaust the stack."""
    out: list[str] = []
    stack = [row]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v:
                out.append(v)
        elif isinstance(v, dict):
            items: list[Any] = []
            for k, x in v.items():
                if not isinstance(k, str) or not k.isidentifier():
                    items.append(str(k))
                if k in ROLE_KEYS and isinstance(x, str) and x.isidentifier():
                    continue
                items.append(x)
            stack.extend(reversed(items))
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(str(v))
    return out


def train_text(row: Any) -> str:
    """A training row as one text: all of row_strings, one per line. Each string alone is a
    contiguous part of it, so whatever matches one field matches this text."""
    return "\n".join(row_strings(row))
