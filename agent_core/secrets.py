"""Key-like strings: find them in text and redact them before anything is logged or shown.

`redact(text)` replaces every key-like string with `[REDACTED:<kind>]`; `redact_obj(obj)` does it
through dicts, lists and tuples; `find(text)` lists what it would redact. What counts:

    provider keys      sk-ant-..., sk-... (OpenAI, incl. sk-proj-), AKIA... / ASIA... (AWS),
                       ghp_/gho_/ghs_/ghu_/ghr_... and github_pat_... (GitHub), hf_... (Hugging Face),
                       xox[abprs]-... (Slack), AIza... (Google), glpat-... (GitLab)
    assignments        key= / token= / secret= / password= / api_key: followed by a long,
                       high-entropy value (the value is redacted, the name is kept)
    private keys       -----BEGIN ... PRIVATE KEY----- blocks
    this process's     the value of every environment variable whose name looks secret
    secrets            (*KEY*, *TOKEN*, *SECRET*, *PASSWORD*, *CREDENTIAL*), wherever it appears

Importing this module imports nothing heavy; the daemon applies it to every tool result.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Any

__all__ = ["redact", "redact_obj", "find", "looks_secret_name", "secret_env_values", "entropy"]

MARK = "[REDACTED:{}]"

_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)")),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{16,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("hf_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}")),
    ("google_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
]
# name = value, name: value, "name": "value" -- the value is judged by length and entropy.
_ASSIGN = re.compile(
    r"(?i)(?P<name>[A-Za-z0-9_\-]*(?:api[_\-]?key|secret|token|passw(?:or)?d|credential|auth|key))"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[A-Za-z0-9+/_\-.=~]{16,})")
_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|credential|auth)")
MIN_ENTROPY = 3.0  # bits per character; real keys are ~4.5-6, English words and paths lower


def entropy(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def looks_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name or ""))


def secret_env_values(env: dict | None = None) -> dict[str, str]:
    """{value: NAME} for environment variables whose name looks secret and value is long enough."""
    env = os.environ if env is None else env
    out = {}
    for name, value in env.items():
        if looks_secret_name(name) and isinstance(value, str) and len(value.strip()) >= 8:
            out[value.strip()] = name
    return out


def _keylike(value: str) -> bool:
    if len(value) < 16 or value.isdigit():
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return (has_digit and has_alpha and entropy(value) >= MIN_ENTROPY
            and not value.startswith(("/", "./", "~", "..")))


def find(text: str, env: dict | None = None) -> list[tuple[str, str]]:
    """[(kind, matched text)] of the key-like strings in `text`."""
    if not isinstance(text, str) or not text:
        return []
    hits: list[tuple[str, str]] = []
    for value, name in secret_env_values(env).items():
        if value in text:
            hits.append((f"env:{name}", value))
    for kind, pat in _PATTERNS:
        hits += [(kind, m.group(0)) for m in pat.finditer(text)]
    for m in _ASSIGN.finditer(text):
        if _keylike(m.group("value")):
            hits.append(("assigned_secret", m.group("value")))
    return hits


def redact(text: Any, env: dict | None = None) -> Any:
    """`text` with key-like strings replaced by [REDACTED:kind]; non-strings pass through."""
    if not isinstance(text, str) or not text:
        return text
    # Environment values first (exact), longest first so a value that contains another wins.
    for value, name in sorted(secret_env_values(env).items(), key=lambda kv: -len(kv[0])):
        if value in text:
            text = text.replace(value, MARK.format(name))
    for kind, pat in _PATTERNS:
        text = pat.sub(MARK.format(kind), text)

    def assigned(m: re.Match) -> str:
        if not _keylike(m.group("value")):
            return m.group(0)
        return m.group("name") + m.group("sep") + MARK.format("secret")
    return _ASSIGN.sub(assigned, text)


def redact_obj(obj: Any, env: dict | None = None, _depth: int = 0) -> Any:
    """A copy of `obj` (dicts, lists, tuples, strings) with every string redacted."""
    if _depth > 30:
        return obj
    if isinstance(obj, str):
        return redact(obj, env)
    if isinstance(obj, dict):
        return {k: redact_obj(v, env, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [redact_obj(v, env, _depth + 1) for v in obj]
        return out if isinstance(obj, list) else tuple(out)
    return obj
