"""Key-like strings: find them in text and redact them before anything is logged or shown.

This module is the one redactor of the project (the providers and the event log call into it).
`redact(text)` replaces every key-like string with `[REDACTED:<kind>]`; `redact_obj(obj)` does it
through dicts (keys and values), lists and tuples; `find(text)` lists what it would redact. What counts:

    provider keys      sk-ant-..., sk-... (OpenAI, incl. sk-proj-; any sk- with 8+ more characters,
                       e.g. a key an API error shows half-masked), AKIA... / ASIA... (AWS),
                       ghp_/gho_/ghs_/ghu_/ghr_... and github_pat_... (GitHub), hf_... (Hugging Face),
                       xox[abprs]-... (Slack), AIza... (Google), glpat-... (GitLab)
    assignments        key= / token= / secret= / password= / api_key: followed by a long,
                       high-entropy value (the value is redacted, the name is kept)
    private keys       -----BEGIN ... PRIVATE KEY----- blocks
    this process's     the value of every environment variable whose name looks secret
    secrets            (*KEY*, *TOKEN*, *SECRET*, *PASSWORD*, *CREDENTIAL*, *AUTH*), wherever it
                       appears, and also encoded: base64 (standard and url-safe, alone or inside a
                       longer base64 string at any byte alignment), hex (any case), reversed, and
                       any of these split by whitespace (pieces on lines, spaced characters)

A `Redactor` holds the known secret values with their encoded forms, built once; the event log
keeps one (built when the log is opened) because it redacts every event on a hot path. The
module-level functions build (and cache) one from the environment as it is at each call.

Importing this module imports nothing heavy; the daemon applies it to every tool result.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections import Counter
from functools import lru_cache
from typing import Any, Iterable, Mapping

__all__ = [
    "Redactor",
    "redactor",
    "redact",
    "redact_obj",
    "find",
    "looks_secret_name",
    "secret_env_values",
    "entropy",
    "MIN_SECRET_LEN",
]

MARK = "[REDACTED:{}]"
MIN_SECRET_LEN = 8  # shorter known values are only matched verbatim, never in encoded forms

# (kind, literals, pattern): every match of the pattern contains one of its literals (case as
# written), so a text without any of them is not searched -- an exact pre-check, and much faster.
_PATTERNS: list[tuple[str, tuple[str, ...], re.Pattern]] = [
    (
        "private_key",
        ("-----BEGIN ",),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
    ),
    ("anthropic_key", ("sk-ant-",), re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{16,}")),
    ("openai_key", ("sk-",), re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("sk_key", ("sk-",), re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")),  # short or masked sk- keys (API errors)
    ("aws_key", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "github_token",
        ("gh", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    ),
    ("hf_token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("slack_token", ("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}")),
    ("google_key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("gitlab_token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
]
_MIN_PATTERN_LEN = 11  # the shortest match of any pattern here ("sk-" + 8); shorter text is skipped
# name = value, name: value, "name": "value" -- the value is judged by length and entropy.
_ASSIGN = re.compile(
    r"(?i)(?P<name>[A-Za-z0-9_\-]*(?:api[_\-]?key|secret|token|passw(?:or)?d|credential|auth|key))"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[A-Za-z0-9+/_\-.=~]{16,})"
)
# Its exact pre-check: a name keyword (found in the lowered text) directly followed by this.
_ASSIGN_TAIL = re.compile(r"(?i)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9+/_\-.=~]{16}")
_ASSIGN_WORDS = ("key", "secret", "token", "passw", "credential", "auth")
# The only non-ASCII characters re's IGNORECASE equates with ASCII letters; folded before lower().
_FOLD = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_FOLD_TABLE = str.maketrans(_FOLD)
_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|credential|auth)")
MIN_ENTROPY = 3.0  # bits per character; real keys are ~4.5-6, English words and paths lower
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URLSAFE = str.maketrans("+/", "-_")
_SIMPLE = (int, float, bool, type(None))
_MEMO_MAX_LEN, _MEMO_SIZE = 64, 4096  # short strings (metric names, job ids) repeat: remember them


def entropy(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


@lru_cache(maxsize=1024)
def looks_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name or ""))


def secret_env_values(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """{value: NAME} for environment variables whose name looks secret and value is long enough."""
    env = os.environ if env is None else env
    out = {}
    for name, value in env.items():
        if looks_secret_name(name) and isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LEN:
            out[value.strip()] = name
    return out


def _keylike(value: str) -> bool:
    if len(value) < 16 or value.isdigit():
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and entropy(value) >= MIN_ENTROPY and not value.startswith(("/", "./", "~", ".."))


def _candidates(text: str) -> list[tuple[str, re.Pattern]]:
    """The patterns whose literals occur in `text` (each literal looked for once)."""
    seen: dict[str, bool] = {}
    out = []
    for kind, literals, pat in _PATTERNS:
        for lit in literals:
            hit = seen.get(lit)
            if hit is None:
                hit = seen[lit] = lit in text
            if hit:
                out.append((kind, pat))
                break
    return out


def _may_assign(text: str) -> bool:
    """Exact pre-check for _ASSIGN: can it match anywhere in `text`?"""
    if not text.isascii() and any(c in text for c in _FOLD):
        lowered = text.translate(_FOLD_TABLE).lower()
    else:
        lowered = text.lower()
    if len(lowered) != len(text):  # cannot happen after the fold; be safe anyway
        return True
    for word in _ASSIGN_WORDS:
        i = lowered.find(word)
        while i >= 0:
            if word != "passw":
                ends = (i + len(word),)
            else:
                ends = tuple(i + len(w) for w in ("passwd", "password") if lowered.startswith(w, i))
            for e in ends:  # the separator starts with a quote, a space, ':' or '='
                c = text[e : e + 1]
                if c and (c in "\"':=" or c.isspace()) and _ASSIGN_TAIL.match(text, e):
                    return True
            i = lowered.find(word, i + 1)
    return False


def _assigned(m: re.Match) -> str:
    if not _keylike(m.group("value")):
        return m.group(0)
    return m.group("name") + m.group("sep") + MARK.format("secret")


def _b64_cores(raw: bytes) -> list[str]:
    """The base64 characters fully determined by `raw` when it sits at byte offset 0, 1 or 2 (mod 3)
    of any longer byte string: character k covers bits [6k, 6k+6), `raw` bits [8a, 8a+8n)."""
    out: list[str] = []
    n = len(raw)
    for a in range(3):
        enc = base64.b64encode(b"\0" * a + raw).decode("ascii")
        core = enc[-(-8 * a // 6) : 8 * (a + n) // 6]
        for form in (core, core.translate(_URLSAFE)):
            if form not in out:
                out.append(form)
    return out


class _Form:
    """One way a known value can appear: `check` (whitespace removed) is searched for in the
    text with its whitespace removed; on a hit, `regex` finds the spans in the original text.
    A short value (`spaced=False`) is only looked for verbatim."""

    __slots__ = ("name", "kind", "check", "fold", "widen", "spaced", "_pattern", "_regex")

    def __init__(
        self, name: str, kind: str, text: str, *, fold: bool = False, widen: bool = False, spaced: bool = True
    ):
        self.name, self.kind, self.fold, self.widen, self.spaced = name, kind, fold, widen, spaced
        self.check = "".join(text.split()) if spaced else text
        if fold:
            self.check = self.check.lower()
        sep = r"\s*" if spaced else ""
        self._pattern = sep.join(re.escape(c) for c in (self.check if spaced else text))
        self._regex: re.Pattern | None = None

    @property
    def label(self) -> str:
        return self.name if self.kind == "plain" else f"{self.name}:{self.kind}"

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self._regex is None:
            self._regex = re.compile(self._pattern, re.IGNORECASE if self.fold else 0)
        out = []
        for m in self._regex.finditer(text):
            start, end = m.span()
            if self.widen:  # the whole base64 word: its edge characters carry bits of the secret
                while start > 0 and text[start - 1] in _B64_CHARS:
                    start -= 1
                while end < len(text) and (text[end] in _B64_CHARS or text[end] == "="):
                    end += 1
            out.append((start, end))
        return out


class Redactor:
    """Redacts key-like strings and the known secret `values` ({value: NAME}) in all their forms.
    Build it once (`Redactor.from_env()`) and reuse it; it is safe to share between threads."""

    def __init__(self, values: Mapping[str, str] | None = None):
        self.values = {v: n for v, n in (values or {}).items() if isinstance(v, str) and len(v) >= 4}
        forms: list[_Form] = []
        for value, name in sorted(self.values.items(), key=lambda kv: -len(kv[0])):  # longest first
            if len(value) < MIN_SECRET_LEN:
                forms.append(_Form(name, "plain", value, spaced=False))
                continue
            raw = value.encode("utf-8")
            forms += [
                _Form(name, "plain", value),
                _Form(name, "reversed", value[::-1]),
                _Form(name, "hex", raw.hex(), fold=True),
            ]
            forms += [_Form(name, "base64", core, widen=True) for core in _b64_cores(raw)]
        self._forms = forms
        self._folded = any(f.fold for f in forms)
        self._min_len = min([_MIN_PATTERN_LEN] + [len(f.check) for f in forms])
        self._memo: dict[str, str] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> "Redactor":
        """The environment's secret values (os.environ when `env` is None), read now, plus `extra`."""
        return cls(_values(env, extra))

    # -- the known values ---------------------------------------------------------------
    def _known(self, text: str) -> list[tuple[int, int, str]]:
        """Sorted, non-overlapping (start, end, label) spans of known values in any form."""
        if not self._forms:
            return []
        flat = "".join(text.split())
        lowered = flat.lower() if self._folded else flat
        spans: list[tuple[int, int, str]] = []
        for form in self._forms:
            hay = (lowered if form.fold else flat) if form.spaced else text
            if form.check in hay:  # exact: any span implies this
                spans += [(s, e, form.label) for s, e in form.spans(text)]
        if len(spans) < 2:
            return spans
        spans.sort(key=lambda s: (s[0], -s[1]))
        merged = [spans[0]]
        for s, e, label in spans[1:]:
            ps, pe, plabel = merged[-1]
            if s < pe:
                merged[-1] = (ps, max(pe, e), plabel)
            else:
                merged.append((s, e, label))
        return merged

    def find(self, text: Any) -> list[tuple[str, str]]:
        """[(kind, matched text)] of the key-like strings in `text`."""
        if not isinstance(text, str) or len(text) < self._min_len:
            return []
        hits = [(f"env:{label}", text[s:e]) for s, e, label in self._known(text)]
        for kind, pat in _candidates(text):
            hits += [(kind, m.group(0)) for m in pat.finditer(text)]
        if _may_assign(text):
            hits += [
                ("assigned_secret", m.group("value")) for m in _ASSIGN.finditer(text) if _keylike(m.group("value"))
            ]
        return hits

    def redact(self, text: Any) -> Any:
        """`text` with key-like strings replaced by [REDACTED:kind]; non-strings pass through."""
        if type(text) is not str:
            if not isinstance(text, str):
                return text
            text = text[:]  # a str subclass: a plain str from here on
        if len(text) < self._min_len:
            return text
        short = len(text) <= _MEMO_MAX_LEN
        if short:
            done = self._memo.get(text)
            if done is not None:
                return done
        out = self._redact(text)
        if short:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[text] = out
        return out

    def _redact(self, text: str) -> str:
        spans = self._known(text)
        if spans:
            parts, at = [], 0
            for s, e, label in spans:
                parts += [text[at:s], MARK.format(label)]
                at = e
            text = "".join(parts) + text[at:]
        for kind, pat in _candidates(text):
            text = pat.sub(MARK.format(kind), text)
        return _ASSIGN.sub(_assigned, text) if _may_assign(text) else text

    def redact_obj(self, obj: Any, _depth: int = 0) -> Any:
        """A copy of `obj` (dicts, lists, tuples, sets, strings) with every string redacted, dict keys
        too; other objects pass through (the event log writes them as their redacted str)."""
        t = type(obj)
        if t is str:
            return self.redact(obj)
        if t in _SIMPLE or _depth > 30:
            return obj
        if isinstance(obj, dict):
            return {(self.redact(k) if type(k) is str else k): self.redact_obj(v, _depth + 1) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            out = [self.redact_obj(v, _depth + 1) for v in obj]
            return out if isinstance(obj, list) else tuple(out)
        if isinstance(obj, (set, frozenset)):
            return {self.redact_obj(v, _depth + 1) for v in obj}
        if isinstance(obj, str):  # a str subclass
            return self.redact(obj)
        return obj


def _values(env: Mapping[str, str] | None, extra: Iterable[str] = ()) -> dict[str, str]:
    values = secret_env_values(env)
    for v in extra or ():
        if isinstance(v, str) and len(v.strip()) >= 4:
            values.setdefault(v.strip(), "api_key")
    return values


@lru_cache(maxsize=32)
def _cached(items: tuple[tuple[str, str], ...]) -> Redactor:
    return Redactor(dict(items))


def redactor(env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
    """A Redactor for the environment as it is now (os.environ when `env` is None) plus `extra`
    known values (e.g. a provider's own API key); cached by those values."""
    return _cached(tuple(sorted(_values(env, extra).items())))


def find(text: str, env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """[(kind, matched text)] of the key-like strings in `text`."""
    if not isinstance(text, str) or not text:
        return []
    return redactor(env).find(text)


def redact(text: Any, env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Any:
    """`text` with key-like strings replaced by [REDACTED:kind]; non-strings pass through."""
    if not isinstance(text, str) or not text:
        return text
    return redactor(env, extra).redact(text)


def redact_obj(obj: Any, env: Mapping[str, str] | None = None, _depth: int = 0) -> Any:
    """A copy of `obj` (dicts, lists, tuples, strings) with every string redacted."""
    return redactor(env).redact_obj(obj, _depth)
