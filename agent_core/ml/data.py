"""Datasets as the worker reads them, in the formats TRL's trainers take (one format per file):

- prompt/completion strings: {"prompt": "12+7=", "completion": "19"};
- conversational prompt/completion: {"prompt": [{"role": "user", "content": ...}],
  "completion": [{"role": "assistant", "content": ...}]};
- whole conversations: {"messages": [...]} (SFT trains on the assistant turns only; as an
  evaluation row, the last assistant turn is the expected answer of the messages before it).

Other keys are ignored. A row in none of these formats, or in another format than the file's first
row, is bad_input naming file:line. How a row becomes text: agent_core.ml.rendering.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent_core.ml.protocol import bad
from agent_core.training.templates import message_problem

TEXT, CHAT, MESSAGES = "prompt/completion", "conversational prompt/completion", "messages"


def row_format(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """(format, None) of a dataset row, or (None, what is wrong)."""
    if "messages" in obj:
        if "prompt" in obj or "completion" in obj:
            return None, "has both 'messages' and 'prompt'/'completion'"
        problem = message_problem(obj["messages"])
        if problem:
            return None, f"field 'messages' {problem}"
        if not any(m["role"] == "assistant" for m in obj["messages"]):
            return None, "field 'messages' has no assistant turn to learn from"
        return MESSAGES, None
    for key in ("prompt", "completion"):
        if key not in obj:
            return None, f"missing field {key!r}"
    prompt, completion = obj["prompt"], obj["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        if not prompt or not completion:
            return None, "empty prompt or completion"
        return TEXT, None
    if isinstance(prompt, list) and isinstance(completion, list):
        for key in ("prompt", "completion"):
            problem = message_problem(obj[key])
            if problem:
                return None, f"field {key!r} {problem}"
        if any(m["role"] != "assistant" for m in completion):
            return None, "field 'completion' must hold assistant messages only"
        return CHAT, None
    return None, (
        "fields 'prompt' and 'completion' must both be strings or both be lists of "
        "{role, content} messages (or use 'messages')"
    )


def read_rows(path: str | os.PathLike[str]) -> tuple[str, list[dict[str, Any]]]:
    """(format, rows) of a dataset file, each row {"prompt", "completion"} or {"messages"};
    JobError(bad_input) names file and line."""
    from agent_core.record import jsonl

    p = Path(path).expanduser()
    rows: list[dict[str, Any]] = []
    first: str | None = None
    try:
        for lineno, obj in jsonl.objects(p):
            fmt, problem = row_format(obj)
            if problem:
                raise bad(f"{p}:{lineno}: {problem}")
            if first is None:
                first = fmt
            elif fmt != first:
                raise bad(f"{p}:{lineno}: a {fmt} row in a file of {first} rows (one format per file)")
            keys = ("messages",) if fmt == MESSAGES else ("prompt", "completion")
            rows.append({k: obj[k] for k in keys})
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not rows or first is None:
        raise bad(f"dataset {p} is empty")
    return first, rows


def read_dataset(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Evaluation rows {"prompt": str | messages, "completion": the expected text} of a dataset in
    any of the formats; JobError(bad_input) names file and line."""
    fmt, rows = read_rows(path)
    if fmt == TEXT:
        return rows
    if fmt == CHAT:
        return [{"prompt": r["prompt"], "completion": _answer(r["completion"])} for r in rows]
    out = []
    for r in rows:
        msgs = r["messages"]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        out.append({"prompt": msgs[:last], "completion": msgs[last]["content"]})
    return out


def _answer(messages: list[dict[str, str]]) -> str:
    return "".join(m["content"] for m in messages)
