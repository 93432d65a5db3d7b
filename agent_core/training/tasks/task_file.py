"""TOML task files: loading and validating them (the format is documented in docs/TASKS.md, with
examples/tasks/reverse.toml as its worked example):

    name = "reverse"
    description = "Reverse the word: 'reverse abc:' -> 'cba', nothing else."
    base_model = "tiny"                 # "tiny" or a model folder (relative to the task file)
    budget = "30m"                      # optional: seconds, or "90s" / "30m" / "2h" / "1h30m"
    [data]                              # jsonl files of {"prompt", "completion"}, relative paths
    dev = "reverse/dev.jsonl"
    test = "reverse/test.jsonl"         # hidden from the agent
    train = "reverse/train.jsonl"       # optional
    [scorer]
    kind = "exact"                      # or "regex" (pattern = ...) or "python" (file = ...)

A file without [data] whose `name` is a built-in generator configures it instead
(`name = "arithmetic"`, `level`, `n_train`, `n_dev`, `n_test`, `seed`; `name = "word-problems"`
the same without `level`). Every problem in a
file is a ValueError naming the file (and the line for bad TOML or bad jsonl). The budget goes
through agent_core.oversight.budget.parse_duration, the one duration parser (as --budget).
`read_rows` reads a prompt/completion jsonl file, `answer_budget` sizes the answers it holds.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent_core.record import jsonl
from agent_core.training.tasks import word_problems
from agent_core.training.tasks.generator import BUILTIN_TASKS, DEFAULT_LEVEL, arithmetic_task, validate
from agent_core.training.tasks.scorers import scorer_fields
from agent_core.training.tasks.task import Task

_FILE_KEYS = {"name", "description", "base_model", "budget", "data", "scorer"}
_GEN_KEYS = {"name", "description", "base_model", "budget", "level", "n_train", "n_dev", "n_test", "seed", "scorer"}
_SPLITS = ("dev", "test", "train")


def load_task_file(path: Path) -> Task:
    """The Task a TOML task file describes (see the module docstring); ValueError names the file."""
    where = f"task file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {where}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the message names the line and column
        raise ValueError(f"{where} is not valid TOML: {exc}") from None
    if isinstance(data.get("task"), dict) and len(data) == 1:
        data = data["task"]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: missing field 'name' (a non-empty string)")
    if "data" not in data and name in BUILTIN_TASKS:
        return _generator_task(path, data)
    return _file_task(path, data)


def _budget(where: str, value: Any) -> float | None:
    from agent_core.oversight.budget import parse_duration  # the one duration parser (as --budget)

    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(
            f"{where}: budget must be positive seconds or a duration like '90s', '30m', '2h', '1h30m', got {value!r}"
        ) from None


def _file_task(path: Path, data: dict) -> Task:
    where = f"task file {path}"
    extra = set(data) - _FILE_KEYS
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)} (known: {sorted(_FILE_KEYS)})")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{where}: missing field 'description' (what the agent is told to do)")
    base_model = data.get("base_model", "tiny")
    if not isinstance(base_model, str) or not base_model:
        raise ValueError(f'{where}: base_model must be "tiny" or a model folder path')
    base = path.parent
    if base_model != "tiny" and not base_model.startswith(("hf:", "/")) and (base / base_model).exists():
        base_model = str((base / base_model).resolve())
    files = data.get("data")
    if not isinstance(files, dict):
        raise ValueError(f'{where}: missing [data] table with dev = "..." and test = "..." (jsonl files)')
    extra = set(files) - set(_SPLITS)
    if extra:
        raise ValueError(f"{where}: unknown [data] keys {sorted(extra)} (known: dev, test, train)")
    splits: dict[str, str] = {}
    counts: dict[str, int] = {}
    for split in _SPLITS:
        rel = files.get(split)
        if rel is None:
            if split == "train":
                continue
            raise ValueError(f"{where}: missing field data.{split} (a jsonl file of prompt/completion rows)")
        if not isinstance(rel, str) or not rel:
            raise ValueError(f"{where}: data.{split} must be a file path")
        full = (base / rel).resolve()
        if not full.is_file():
            raise ValueError(f"{where}: data.{split} file not found: {full}")
        counts[split] = len(read_rows(full))
        splits[split] = str(full)
    return Task(
        name=data["name"].strip(),
        description=description.strip(),
        base_model=base_model,
        level=0,
        n_train=counts.get("train", 0),
        n_dev=counts["dev"],
        n_test=counts["test"],
        seed=0,
        budget_s=_budget(where, data.get("budget")),
        data=splits,
        source=str(path.resolve()),
        **scorer_fields(where, base, data.get("scorer")),
    )


def _generator_task(path: Path, data: dict) -> Task:
    where = f"task file {path}"
    extra = set(data) - _GEN_KEYS
    if extra:
        raise ValueError(
            f"{where}: unknown keys {sorted(extra)} (known: {sorted(_GEN_KEYS)}, "
            f"or [data] for a task made of data files)"
        )
    data = dict(data)
    name = data.pop("name")
    budget = _budget(where, data.pop("budget", None))
    given = data.pop("scorer", None)  # word-problems: numeric on "####" unless the file says otherwise
    scorer = scorer_fields(where, path.parent, given) if given is not None or name != word_problems.NAME else {}
    if name == word_problems.NAME and "level" in data:
        raise ValueError(f"{where}: {name} has no levels (leave out `level`)")
    for key in ("level", "seed", "n_train", "n_dev", "n_test"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool)):
            raise ValueError(f"{where}: {key} must be an integer, got {data[key]!r}")
    level = data.pop("level", DEFAULT_LEVEL)
    seed = data.pop("seed", 1234)
    fields = dict(budget_s=budget, source=str(path.resolve()), **scorer, **data)
    try:
        if name == word_problems.NAME:
            task = word_problems.word_problems_task(seed, **fields)
        else:
            task = arithmetic_task(level, seed, **fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    try:
        validate(task)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return task


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """A prompt/completion jsonl file's rows; ValueError names the file and line of a bad one."""
    p = Path(path)
    rows: list[dict[str, str]] = []
    for lineno, obj in jsonl.objects(p):
        for key in ("prompt", "completion"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise ValueError(f"{p}:{lineno}: field {key!r} must be a non-empty string")
        rows.append({"prompt": obj["prompt"], "completion": obj["completion"]})
    if not rows:
        raise ValueError(f"{p}: no rows")
    return rows


def answer_budget(path: str | Path, floor: int = 8, cap: int = 512) -> int:
    """max_new_tokens that cannot cut an expected answer short: the longest completion in
    characters (a token is at least one character) plus a little room for the end of
    sequence, between `floor` and `cap`."""
    longest = 0
    try:
        for _lineno, obj in jsonl.objects(path):
            if isinstance(obj.get("completion"), str):
                longest = max(longest, len(obj["completion"]))
    except ValueError:
        return floor  # the evaluation itself reports the bad file
    return max(floor, min(cap, longest + 4))
