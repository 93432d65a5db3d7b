"""Train/eval contamination: overlap between a training set and evaluation sets.

Pure Python (hash sets; no numpy, no torch). The eval side is indexed (it is the small side) and
the training rows are streamed past it once, so memory stays at the eval set's size; 100k train
rows x 10k eval rows of ~60 words take about 7 s on one core, 40k GSM8K-like and arithmetic train
rows x 4k eval items about 2 s.

What is read (agent_core.oversight.contamination_text). A training row is read whole: every string in it at
any depth (all fields, nested chat messages and content parts, tool-call arguments, numbers, keys
that are not plain identifiers), one per line; each string alone is a contiguous part of that
text, so text hidden in an extra field matches as it would on its own. An eval row is read by its
layout (row_parts): its full text, and its question / prompt alone when it has one.

Normalisation, both sides (what makes lightly reworded or disguised items still match):
invisible characters removed (format characters, category Cf: zero-width space / joiners, word
joiner, BOM, soft hyphen, bidi marks, tags; control characters but tab and line breaks; variation
selectors and the other default-ignorable code points); Unicode NFKC (full-width forms,
ligatures, compatibility digits); case folded (str.casefold: "Straße" = "STRASSE"); thousands
separators dropped; a dash between letters splits the word, any other dash is a minus; sentence
punctuation dropped (. , ! ? ; : quotes, and other Unicode punctuation); whitespace collapsed.
Symbols that carry meaning in maths and code (+ - * / = < > ( ) ... and other Unicode symbols) are
tokens of their own, so "12 + 7 =" equals "12+7=" but differs from "12-7=". Numbers are whole
tokens, decimal point included ("3.5"), cut off from letters ("Q12+7=" -> q 12 + 7 =).

Matching, per eval text (an item's full text, and its question alone):
    * texts shorter than n tokens (but at least MIN_EXACT_TOKENS): their token sequence must occur
      as a contiguous run of a training row's tokens. That finds the item with a prefix or suffix
      ("Q: 12+7="), several items packed into one row (few-shot: each one counts), and the row
      that is the item ("exact"). Tokens are compared whole, so templates stay apart: "12+7=" does
      not match "12+8=15", "112+7=" or "1.12+7=". A short text that more than 32 (and 1%) eval rows
      share is a template, not an item ("Which option is correct?"), and is left out;
    * longer texts: word n-grams. An item matches a training row when at least `threshold` of
      its n-grams occur in that one row, and the item's numbers occur in the row as the same
      run (same order, nothing between).
      Items under 6n tokens use n-grams of max(3, n // 2) words, so that a word or two changed
      in a short question still leaves most n-grams intact; longer ones use n.
    The number rule keeps templated items ("A shop sells 12 apples..." vs "...15 apples...")
    apart while rewording (synonyms, renamed functions, punctuation) still matches. n-grams
    shared by many eval items (more than 32 and 1% of them: an instruction preamble, a template)
    are boilerplate and are left out of both sides of the fraction; an item that is nothing but
    boilerplate is looked for whole, as a token run.
Short texts are found without an eval x train search: each is indexed under its two rarest
tokens (see _Runs); a training row is intersected with the first ones once, and only the texts
its tokens point to are compared in place.

A match is "verbatim" when the eval text (whitespace collapsed) occurs as is inside the training
row, else "reworded". content_digest(path) is the sha256 of a file's bytes, to cache a verdict by.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

from agent_core.oversight.contamination_text import (  # noqa: F401  (re-exported: the module's public API)
    ANSWER_KEYS,
    QUESTION_KEYS,
    TEXT_KEYS,
    collapse,
    normalize,
    row_parts,
    row_strings,
    rows_text,
    tokens,
    train_text,
)

DEFAULT_N = 8
DEFAULT_THRESHOLD = 0.5
LONG_FACTOR = 6  # items of at least LONG_FACTOR * n tokens use n-grams of n
MIN_EXACT_TOKENS = 2  # shorter texts are never matched (a lone "yes" is not contamination)
EXAMPLES = 5
MAX_POSTING = 32  # an n-gram (or a short item's text) in more eval items than this (and
BOILERPLATE_FRAC = 0.01  # than 1% of them) is boilerplate: ignored


def _number_key(numbers) -> str:
    return " " + " ".join(numbers) + " "


def _grams(toks: list[str], n: int) -> set[tuple[str, ...]]:
    if len(toks) < n:
        return set()
    return set(zip(*(toks[i:] for i in range(n))))


_collapse = collapse


def content_digest(path: str, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks: the key to cache a verdict by, since a
    file's modification time can be put back after its content changed. Raises OSError."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- report
@dataclass
class Match:
    eval_index: int
    train_index: int
    score: float  # fraction of the eval item's n-grams found in the train row (1.0 exact)
    kind: str  # verbatim | reworded
    method: str  # exact (the training row is the item) | contained (a token run
    # of the row) | ngram
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
    contaminated: int = 0  # eval rows that match some training row
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
            f"[{self.train_rows} train rows; {self.n}-gram, threshold {self.threshold:g}]"
        ]
        if self.empty_train or self.empty_eval:
            lines.append(f"  skipped rows without text: {self.empty_train} train, {self.empty_eval} eval")
        for m in self.examples:
            lines.append(f"  eval #{m.eval_index} ~ train #{m.train_index}  {m.kind}, {m.method}, score {m.score:.2f}")
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
    rank: int  # 0: the eval item's full text, 1: its question
    key: str  # its tokens, space-separated
    n_grams: int = 0  # its n-grams that are not boilerplate (the denominator)
    numbers: str = ""  # its numbers in order, as " 12 7 19 " ("" when none)


class _Runs:
    """Short eval texts, found where their token sequence occurs as a contiguous run of a
    training row's tokens. Each text is indexed under its two tokens that the fewest eval texts
    share (the longer on a tie): the rarer one (the anchor), then the other one at its distance
    from the anchor ("12+7=": "12", then "7" two tokens on). A training row is intersected with the
    anchors once (a C-level set operation: most rows stop there); at each of its tokens that is
    an anchor, the token at each indexed distance picks the texts to compare in place. No eval x
    train string search, and a dense template set ("a+b=" over small numbers) stays cheap."""

    def __init__(self) -> None:
        self.texts: dict[tuple[str, ...], list[tuple[int, int, str]]] = {}  # -> (eval row, rank, text)
        self.keys: list[list[str]] = []
        self.entries: list[list[tuple[int, int, str]]] = []
        # anchor -> distance -> second token -> [(key id, anchor's offset in the key)]
        self.anchors: dict[str, dict[int, dict[str, list[tuple[int, int]]]]] = {}
        self.anchor_set: frozenset[str] = frozenset()

    def add(self, toks: list[str], row: int, rank: int, text: str) -> None:
        self.texts.setdefault(tuple(toks), []).append((row, rank, text))

    def build(self, limit: int) -> None:
        """Index the texts; one that more than `limit` eval rows share is a template (a generic
        instruction, a question whose specifics live elsewhere) and is left out."""
        df: dict[str, int] = {}
        for key, entries in self.texts.items():
            if len({e[0] for e in entries}) > limit:
                continue
            self.keys.append(list(key))
            self.entries.append(entries)
            for t in set(key):
                df[t] = df.get(t, 0) + 1
        for kid, key in enumerate(self.keys):
            order = sorted(range(len(key)), key=lambda j: (df[key[j]], -len(key[j]), j))
            a, b = order[0], order[-1] if len(order) == 1 else order[1]
            (self.anchors.setdefault(key[a], {}).setdefault(b - a, {}).setdefault(key[b], []).append((kid, a)))
        self.anchor_set = frozenset(self.anchors)
        self.texts = {}

    def __bool__(self) -> bool:
        return bool(self.anchors)

    def find(self, toks: list[str]) -> dict[int, tuple[int, str, bool]]:
        """{eval row: (rank, eval text, whole)} for the texts inside `toks` (whole: the run is
        all of them); an eval row found by both its full text and its question keeps the full text."""
        present = self.anchor_set.intersection(toks)
        if not present:
            return {}
        found: dict[int, tuple[int, str, bool]] = {}
        size = len(toks)
        for i, t in enumerate(toks):
            if t not in present:
                continue
            for distance, seconds in self.anchors[t].items():
                j = i + distance
                if j < 0 or j >= size or toks[j] not in seconds:
                    continue
                for kid, offset in seconds[toks[j]]:
                    start = i - offset
                    key = self.keys[kid]
                    end = start + len(key)
                    if start < 0 or end > size or toks[start:end] != key:
                        continue
                    whole = start == 0 and end == size
                    for row, rank, text in self.entries[kid]:
                        cur = found.get(row)
                        if cur is None or (rank, not whole) < (cur[0], not cur[2]):
                            found[row] = (rank, text, whole)
        return found


def check(
    train_rows: Iterable[Any],
    eval_rows: Iterable[Any],
    n: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    examples: int = EXAMPLES,
    name: str = "",
) -> Report:
    """Which eval rows overlap the training rows. Rows are dicts (prompt/completion, question/
    answer, messages, text, ...) or strings; a training row is read whole (every string in it,
    see train_text), an eval row by its layout (row_parts). `n`: n-gram size in words (items under
    n tokens are matched as token runs); `threshold`: the fraction of an item's n-grams that one
    training row must contain for the item to count as contaminated."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    small_n = max(3, n // 2) if n > 3 else n
    report = Report(n=n, threshold=threshold, name=name)

    # -- index the eval side
    runs = _Runs()  # short texts, matched as token runs
    gram_index: dict[tuple, list[int]] = {}  # n-gram -> probe ids
    probes: list[_Probe] = []
    sizes: set[int] = set()
    for ei, row in enumerate(eval_rows):
        report.eval_rows += 1
        full, question = row_parts(row)
        if not full.strip():
            report.empty_eval += 1
            continue
        seen: set[tuple[str, ...]] = set()
        for rank, text in enumerate((full, question)):
            toks = tokens(text) if text else []
            key = tuple(toks)
            if len(toks) < MIN_EXACT_TOKENS or key in seen:
                continue
            seen.add(key)
            if len(toks) < n:
                runs.add(toks, ei, rank, text)
                continue
            size = n if len(toks) >= LONG_FACTOR * n else small_n
            grams = _grams(toks, size)
            pid = len(probes)
            nums = [t for t in toks if t[0].isdigit()]
            probes.append(_Probe(ei, text, rank, " ".join(toks), len(grams), _number_key(nums) if nums else ""))
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
        if p.n_grams <= 0:  # nothing but boilerplate: look for the whole text
            runs.add(p.key.split(), p.row, p.rank, p.text)
        p.key = ""
    runs.build(max(MAX_POSTING, int(BOILERPLATE_FRAC * report.eval_rows)))
    if not gram_index:
        sizes.clear()

    # -- stream the training rows past it
    best: dict[int, tuple[float, int, str, str]] = {}  # eval row -> (score, train row, method, eval text)
    train_texts: dict[int, str] = {}  # only rows that matched something
    gram_keys = frozenset(gram_index)
    for ti, row in enumerate(train_rows):
        report.train_rows += 1
        full = train_text(row)
        if not full.strip():
            report.empty_train += 1
            continue
        toks = tokens(full)
        hit = False
        if runs:
            for ei, (_, etext, whole) in runs.find(toks).items():
                hit = True
                if best.get(ei, (0.0,))[0] < 1.0:
                    best[ei] = (1.0, ti, "exact" if whole else "contained", etext)
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


class HeldOutOverlap:
    """The contamination guard of one run: a dataset's overlap with the held-out splits (the hidden
    test split and dev), checked on the frozen copy a job would train on; verdicts cached by content.

    `frozen(name) -> (path, sha256) | None` freezes a workspace dataset; `settings` is the policy
    file's [contamination] table (min_overlap, ngram)."""

    def __init__(self, frozen, hidden_test, settings: dict | None = None, default_threshold: float = 0.5):
        self.frozen = frozen
        self.hidden_test = hidden_test
        self.settings = dict(settings or {})
        self.default_threshold = default_threshold
        self._cache: dict[str, list[Report]] = {}

    def __call__(self, dataset: str) -> list[Report]:
        frozen = self.frozen(dataset)
        if frozen is None:
            return []
        path, sha = frozen
        if sha not in self._cache:
            train = list(read_jsonl(str(path)))
            dev = self.frozen("dev")
            options: dict[str, Any] = {"threshold": self.settings.get("min_overlap", self.default_threshold)}
            if "ngram" in self.settings:
                options["n"] = self.settings["ngram"]
            self._cache[sha] = [
                check(train, read_jsonl(str(held)), name=split, **options)
                for split, held in (("test", self.hidden_test), ("dev", dev[0] if dev else None))
                if held is not None and held.exists() and held != path
            ]
        return self._cache[sha]
