"""Prompt/completion datasets as the worker reads them (SFT rows, evaluation rows, dev rows)."""

from __future__ import annotations

import os
from pathlib import Path

from agent_core.ml.protocol import bad


def read_dataset(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read and validate a prompt/completion jsonl; JobError(bad_input) names file and line."""
    from agent_core.record import jsonl

    p = Path(path).expanduser()
    rows: list[dict[str, str]] = []
    try:
        for lineno, obj in jsonl.objects(p):
            for key in ("prompt", "completion"):
                if key not in obj:
                    raise bad(f"{p}:{lineno}: missing field {key!r}")
                if not isinstance(obj[key], str):
                    raise bad(f"{p}:{lineno}: field {key!r} must be a string")
            if not obj["prompt"] or not obj["completion"]:
                raise bad(f"{p}:{lineno}: empty prompt or completion")
            rows.append({"prompt": obj["prompt"], "completion": obj["completion"]})
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not rows:
        raise bad(f"dataset {p} is empty")
    return rows
