"""Reading JSON-lines data files with errors a person can act on (file and line)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


def objects(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; ValueError names the file (and line) of a
    missing or unreadable file, a line that is not JSON, one that is not an object, or bytes
    that are not UTF-8."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"dataset not found: {p}")
    try:
        fh = open(p, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot open dataset {p}: {exc.strerror}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise ValueError(f"{p}:{lineno}: expected a JSON object")
                yield lineno, obj
        except UnicodeDecodeError:
            raise ValueError(f"{p}: not UTF-8 text") from None
