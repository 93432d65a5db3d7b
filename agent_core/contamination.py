"""Train/eval contamination: n-gram overlap between a training set and evaluation sets.

Pure Python (hash sets; no numpy, no torch). The eval side is indexed (it is the small side) and
the training rows are streamed past it once, so memory stays at the eval set's size; 100k train
rows x 10k eval rows takes seconds on one core.

Text normalisation (what makes "lightly reworded" items still match): Unicode NFKC, lower case,
sentence punctuation dropped (. , ! ? ; : quotes), thousands separators removed, hyphens between
letters split, whitespace ignored. Symbols that carry meaning in maths and code (+ - * / = < >
( ) ...) are kept as tokens, so "12 + 7 =" equals "12+7=" but differs from "12-7=".

Matching, per eval item (its full text, and its question / prompt alone when it has one):
    * items shorter than n tokens: the normalised text must equal a training row's normalised
      full text or question (short items are templates: "12+7=" vs "12+8=" are different items);
    * longer items: word n-grams. An item matches a training row when at least `threshold` of
      its n-grams occur in that one row, and the item's numbers occur in the row as the same
      run (same order, nothing between).
      Items under 6n tokens use n-grams of max(3, n // 2) words, so that a word or two changed
      in a short question still leaves most n-grams intact; longer ones use n.
    The number rule keeps templated items ("A shop sells 12 apples..." vs "...15 apples...")
    apart while rewording (synonyms, renamed functions, punctuation) still matches. n-grams
    shared by many eval items (more than 32 and 1% of them: an instruction preamble, a template)
    are boilerplate and are left out of both sides of the fraction; an item that is nothing but
    boilerplate is compared whole.

A match is "verbatim" when the eval text (whitespace collapsed) occurs as is inside the training
row, else "reworded".
"""
from __future__ import annotations

import json
import re
import string
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

DEFAULT_N = 8
DEFAULT_THRESHOLD = 0.5
LONG_FACTOR = 6          # items of at least LONG_FACTOR * n tokens use n-grams of n
MIN_EXACT_TOKENS = 2     # shorter texts are never matched (a lone "yes" is not contamination)
EXAMPLES = 5
MAX_POSTING = 32         # an n-gram in more eval items than this (and than 1% of them) is
BOILERPLATE_FRAC = 0.01  # boilerplate: ignored

QUESTION_KEYS = ("prompt", "question", "problem", "query", "instruction", "input", "context")
ANSWER_KEYS = ("completion", "answer", "solution", "response", "output", "target",
               "canonical_solution", "chosen")
TEXT_KEYS = ("text", "content", "document", "body")
_SENTENCE_PUNCT = ".,!?;:\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026\u00bf\u00a1\u2014\u2013\u3002\uff0c"
_SYMBOLS = "".join(c for c in string.punctuation if c not in _SENTENCE_PUNCT and c != "_") + \
    "\u00d7\u00f7\u00b1\u2264\u2265\u2260\u2192\u2190\u221a\u03c0"
_TABLE = {**{ord(c): " " for c in _SENTENCE_PUNCT}, **{ord(c): f" {c} " for c in _SYMBOLS},
          ord("\u2212"): " - "}
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
_HYPHEN_RE = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_WS_RE = re.compile(r"\s+")


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
    """(full text, question) of a dataset row. The question is the prompt-like field (empty
    when the row has none distinct from its full text)."""
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
    """A dataset row as one text: prompt/completion, question/answer, chat messages
    (OpenAI or ShareGPT), or text."""
    return row_parts(row)[0]


# ---------------------------------------------------------------------------- normalisation
def tokens(text: str) -> list[str]:
    """Normalised tokens: words, numbers and meaningful symbols (see the module docstring)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if "," in text:
        text = _THOUSANDS_RE.sub("", text)
    if "-" in text:
        text = _HYPHEN_RE.sub(" ", text)
    return text.translate(_TABLE).split()


def normalize(text: str) -> str:
    return " ".join(tokens(text))


def _number_key(numbers) -> str:
    return " " + " ".join(numbers) + " "


def _grams(toks: list[str], n: int) -> set[tuple[str, ...]]:
    if len(toks) < n:
        return set()
    return set(zip(*(toks[i:] for i in range(n))))


def _collapse(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


# ---------------------------------------------------------------------------- report
@dataclass
class Match:
    eval_index: int
    train_index: int
    score: float             # fraction of the eval item's n-grams found in the train row (1.0 exact)
    kind: str                # verbatim | reworded
    method: str              # exact (short item) | ngram
    eval_text: str
    train_text: str


@dataclass
class Report:
    n: int
    threshold: float
    train_rows: int = 0
    eval_rows: int = 0
    empty_train: int = 0
    empty_eval: int = 0
    contaminated: int = 0    # eval rows that match some training row
    verbatim: int = 0
    reworded: int = 0
    examples: list[Match] = field(default_factory=list)
    contaminated_indices: list[int] = field(default_factory=list)
    name: str = ""

    @property
    def overlap_fraction(self) -> float:
        return self.contaminated / self.eval_rows if self.eval_rows else 0.0

    @property
    def found(self) -> bool:
        return self.contaminated > 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["overlap_fraction"] = round(self.overlap_fraction, 6)
        return d

    def format(self) -> str:
        head = f"{self.name}: " if self.name else ""
        lines = [
            f"{head}{self.contaminated} of {self.eval_rows} eval items overlap the training set "
            f"({self.overlap_fraction:.2%}): {self.verbatim} verbatim, {self.reworded} reworded "
            f"[{self.train_rows} train rows; {self.n}-gram, threshold {self.threshold:g}]"]
        if self.empty_train or self.empty_eval:
            lines.append(f"  skipped rows without text: {self.empty_train} train, {self.empty_eval} eval")
        for m in self.examples:
            lines.append(f"  eval #{m.eval_index} ~ train #{m.train_index}  {m.kind}, {m.method}, "
                         f"score {m.score:.2f}")
            lines.append(f"    eval:  {_short(m.eval_text)}")
            lines.append(f"    train: {_short(m.train_text)}")
        if not self.found:
            lines.append("  no overlap found")
        return "\n".join(lines)


def _short(text: str, width: int = 160) -> str:
    text = _collapse(text)
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------------------- check
@dataclass
class _Probe:
    row: int
    text: str
    n_grams: int = 0                 # its n-grams that are not boilerplate (the denominator)
    numbers: str = ""                # its numbers in order, as " 12 7 19 " ("" when none)
    key: str = ""


def check(train_rows: Iterable[Any], eval_rows: Iterable[Any], n: int = DEFAULT_N,
          threshold: float = DEFAULT_THRESHOLD, examples: int = EXAMPLES, name: str = "") -> Report:
    """Which eval rows overlap the training rows. Rows are dicts (prompt/completion, question/
    answer, messages, text, ...) or strings. `n`: n-gram size in words (items under n tokens are
    compared whole); `threshold`: the fraction of an item's n-grams that one training row must
    contain for the item to count as contaminated."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    small_n = max(3, n // 2) if n > 3 else n
    report = Report(n=n, threshold=threshold, name=name)

    # -- index the eval side
    eval_texts: list[str] = []
    exact: dict[str, list[tuple[int, str]]] = {}  # normalised short text -> (eval row, its text)
    gram_index: dict[tuple, list[int]] = {}       # n-gram -> probe ids
    probes: list[_Probe] = []
    sizes: set[int] = set()
    for ei, row in enumerate(eval_rows):
        report.eval_rows += 1
        full, question = row_parts(row)
        eval_texts.append(full)
        if not full.strip():
            report.empty_eval += 1
            continue
        seen: set[str] = set()
        for text in (full, question):
            toks = tokens(text) if text else []
            key = " ".join(toks)
            if len(toks) < MIN_EXACT_TOKENS or key in seen:
                continue
            seen.add(key)
            if len(toks) < n:
                exact.setdefault(key, []).append((ei, text))
                continue
            size = n if len(toks) >= LONG_FACTOR * n else small_n
            grams = _grams(toks, size)
            pid = len(probes)
            nums = [t for t in toks if t[0].isdigit()]
            probes.append(_Probe(ei, text, len(grams), _number_key(nums) if nums else "", key))
            sizes.add(size)
            for g in grams:
                gram_index.setdefault(g, []).append(pid)

    # -- boilerplate: n-grams shared by many eval items (an instruction preamble, a template)
    # say nothing about which item leaked: they leave the index and the items' denominators.
    # Otherwise a training row with the same preamble and another question would score high,
    # and a templated set would cost train x eval comparisons.
    limit = max(MAX_POSTING, int(BOILERPLATE_FRAC * len(probes)))
    for g in [g for g, ids in gram_index.items() if len(ids) > limit]:
        for pid in gram_index.pop(g):
            probes[pid].n_grams -= 1
    for p in probes:
        if p.n_grams <= 0:  # nothing but boilerplate: compare the whole text
            exact.setdefault(p.key, []).append((p.row, p.text))
    if not gram_index:
        sizes.clear()

    # -- stream the training rows past it
    best: dict[int, tuple[float, int, str, str]] = {}  # eval row -> (score, train row, method, eval text)
    train_texts: dict[int, str] = {}                    # only rows that matched something
    gram_keys = frozenset(gram_index)
    for ti, row in enumerate(train_rows):
        report.train_rows += 1
        full, question = row_parts(row)
        if not full.strip():
            report.empty_train += 1
            continue
        toks = tokens(full)
        hit = False
        if exact:
            keys = [" ".join(toks)]
            if question:
                keys.append(normalize(question))
            for key in keys:  # the full text first: it names the better example
                for ei, etext in exact.get(key, ()):
                    hit = True
                    if best.get(ei, (0.0,))[0] < 1.0:
                        best[ei] = (1.0, ti, "exact", etext)
        if gram_index:
            counts: dict[int, int] = {}
            for size in sizes:
                common = _grams(toks, size) & gram_keys
                for g in common:
                    for pid in gram_index[g]:
                        counts[pid] = counts.get(pid, 0) + 1
            if counts:
                numbers = None
                for pid, c in counts.items():
                    p = probes[pid]
                    score = c / p.n_grams
                    if score < threshold or score <= best.get(p.row, (0.0,))[0]:
                        continue
                    if p.numbers:
                        if numbers is None:
                            numbers = _number_key(t for t in toks if t[0].isdigit())
                        if p.numbers not in numbers:
                            continue
                    best[p.row] = (score, ti, "ngram", p.text)
                    hit = True
        if hit:
            train_texts[ti] = full

    # -- report
    report.contaminated_indices = sorted(best)
    report.contaminated = len(best)
    for ei in report.contaminated_indices:
        score, ti, method, etext = best[ei]
        ttext = train_texts.get(ti, "")
        kind = "verbatim" if _collapse(etext) and _collapse(etext) in _collapse(ttext) else "reworded"
        if kind == "verbatim":
            report.verbatim += 1
        else:
            report.reworded += 1
        if len(report.examples) < examples:
            report.examples.append(Match(ei, ti, round(score, 4), kind, method, etext, ttext))
    return report


# ---------------------------------------------------------------------------- files
def read_jsonl(path: str) -> Iterator[dict | str]:
    """Rows of a .jsonl file (a line that is not JSON is taken as plain text; blank lines are
    skipped). Raises OSError when the file cannot be read."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield line
