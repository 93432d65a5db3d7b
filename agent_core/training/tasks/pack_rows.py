"""How a hub row of a pack benchmark becomes our rows (pack.py; docs/TASKS.md): a prompt/completion
row for the split, and for code a tests row {"prompt", "test", "entry_point", "code_prompt"}
for the code scorer. Pure Python, so the conversion is tested without `datasets`.

The pack file's [fields] table drives it. Templates are Python format strings over the hub
row ("{question}"), where a list of strings reads as its lines joined; `clean` removes a regex
from a field first (GSM8K's "<<48/2=24>>" calculator notes).

    qa       prompt, completion (templates), clean
    choice   prompt (a template that may use {options}: "A. ...\\nB. ..."), options (the field
             holding the option texts: a list, or {"text": [...], "label": [...]}), answer (the
             field holding the right one: an index, a label or a letter); the completion is the
             letter; the scorer's letters ("ABCD") name the options in order
    code     prompt, completion, test, code_prompt (templates; code_prompt defaults to prompt),
             entry_point (a field, optional)
"""

from __future__ import annotations

import re
import string
from typing import Any

from agent_core.training.tasks.scorers import DEFAULT_LETTERS


class _Row(dict):
    """A hub row for str.format_map: lists of strings as lines; a missing field is named."""

    def __missing__(self, key: str) -> Any:
        raise ValueError(f"the hub row has no field {key!r} (it has: {', '.join(sorted(self))})")


def _view(row: dict[str, Any], clean: dict[str, str]) -> _Row:
    out = _Row()
    for key, value in row.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = "\n".join(value)
        if key in clean and isinstance(value, str):
            value = re.sub(clean[key], "", value)
        out[key] = value
    return out


def _fill(template: str, row: _Row) -> str:
    return string.Formatter().vformat(template, (), row)


def letters_of(defn: dict[str, Any]) -> str:
    return str((defn.get("scorer") or {}).get("letters") or DEFAULT_LETTERS)


def _choice(fields: dict[str, Any], row: dict[str, Any], view: _Row, letters: str) -> tuple[str, str]:
    options = row.get(fields.get("options", "choices"))
    labels: list[str] = []
    if isinstance(options, dict):  # ARC: {"text": [...], "label": ["A", ...]}
        labels = [str(x) for x in options.get("label", [])]
        options = options.get("text")
    if not isinstance(options, list) or not options:
        raise ValueError(f"the hub row's options field {fields.get('options', 'choices')!r} is not a list of options")
    if len(options) > len(letters):
        raise ValueError(f"{len(options)} options but only the letters {letters!r}")
    answer = row.get(fields.get("answer", "answer"))
    if isinstance(answer, bool) or answer is None:
        raise ValueError(f"the hub row's answer field {fields.get('answer', 'answer')!r} is missing")
    if isinstance(answer, int):
        index = answer
    elif str(answer) in labels:
        index = labels.index(str(answer))
    elif str(answer).strip() in letters:
        index = letters.index(str(answer).strip())
    elif str(answer).strip().isdigit():
        index = int(str(answer).strip())
    else:
        raise ValueError(f"the answer {answer!r} names none of the options")
    if not 0 <= index < len(options):
        raise ValueError(f"the answer {answer!r} is out of range for {len(options)} options")
    view["options"] = "\n".join(f"{letters[i]}. {str(text).strip()}" for i, text in enumerate(options))
    return _fill(fields["prompt"], view), letters[index]


def convert(defn: dict[str, Any], row: dict[str, Any]) -> tuple[dict[str, str], dict[str, str] | None]:
    """(our prompt/completion row, the code tests row or None) for one hub row; ValueError says
    what the row lacks."""
    fields = defn["fields"]
    view = _view(row, dict(fields.get("clean") or {}))
    shape = defn["shape"]
    tests = None
    if shape == "choice":
        prompt, completion = _choice(fields, row, view, letters_of(defn))
    else:
        prompt, completion = _fill(fields["prompt"], view), _fill(fields["completion"], view)
        if shape == "code":
            tests = {"prompt": prompt, "test": _fill(fields["test"], view)}
            tests["code_prompt"] = _fill(fields.get("code_prompt", fields["prompt"]), view)
            if fields.get("entry_point"):
                tests["entry_point"] = str(view[fields["entry_point"]])
    if not prompt.strip() or not completion.strip():
        raise ValueError("the row gives an empty prompt or completion")
    return {"prompt": prompt, "completion": completion}, tests
