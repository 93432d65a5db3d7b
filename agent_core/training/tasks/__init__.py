"""Post-training tasks (pure Python; no torch / transformers import).

A task (task.py: Task) is a set of prompt/completion problems plus a scorer. Its problems come
from a built-in generator (generator.py: "arithmetic" at its default level, or
"arithmetic:<level>"; word_problems.py: "word-problems", GSM8K-shaped, for smollm2-135m), from the task pack (pack.py: real benchmarks, "gsm8k", "humaneval",
"arc_challenge", "mmlu", whose data `tinker-tui tasks fetch NAME` prepared under the runs home) or
from a TOML task file (task_file.py; docs/TASKS.md). Its scorer (scorers.py: exact, regex, python,
numeric, choice, code) turns a completion into a score in [0, 1].

`get_task(name_or_path)` is the Task; `generate_splits(task, secret)` its disjoint splits (a
generated task's dev and train from the task's seed, then test from a run's secret seed; a file
task's splits are its files, validated); `materialize(task, data_dir)` writes train.jsonl,
dev.jsonl and test.jsonl with rows {"prompt": "12+7=", "completion": "19"}.
`install_scorer(task, hidden_dir)` copies a python scorer next to the hidden test split and
returns the scorer spec the evaluate worker takes; `make_scorer(spec)` builds the function.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_core.training.tasks.generator import (
    BUILTIN_TASKS,
    DEFAULT_LEVEL,
    DEMO_TASK,
    MAX_LEVEL,
    TINY_BASE,
    arithmetic_splits,
    arithmetic_task,
    sft_recipe,
)
from agent_core.training.tasks.pack import PACK, fetch_hint, fetched, pack_task, tasks_home
from agent_core.training.tasks.scorers import (
    CODE_TESTS_FILE,
    SCORER_FILE,
    SCORERS,
    Scorer,
    install_scorer,
    make_scorer,
    score_exact,
)
from agent_core.training.tasks import word_problems
from agent_core.training.tasks.task import Task
from agent_core.training.tasks.task_file import answer_budget, load_task_file, read_rows


def is_pack_task(name: str | Path) -> bool:
    """`name` is a task of the pack (its data must be fetched first)."""
    return isinstance(name, str) and name.strip() in PACK


def get_task(name_or_path: str | Path, home: str | Path | None = None) -> Task:
    """A built-in task by name ("arithmetic", "arithmetic:3"), a pack task by name ("gsm8k": its
    data fetched under `home`, the runs home, default $TINKER_TUI_HOME or the XDG folder; a
    ValueError says what to run when it is not) or a TOML task file path."""
    text = str(name_or_path).strip()
    if text.endswith(".toml") or (isinstance(name_or_path, Path)):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"task file not found: {path}")
        return load_task_file(path)
    if text in PACK:
        from agent_core.record.runs import runs_home

        return pack_task(text, runs_home(home))
    name, _, level = text.partition(":")
    if name not in BUILTIN_TASKS:
        raise ValueError(
            f"unknown task {text!r}: built-in tasks are {', '.join(BUILTIN_TASKS)} "
            f"(arithmetic optionally with a level, e.g. 'arithmetic:{DEFAULT_LEVEL}', levels 1..{MAX_LEVEL}), "
            f"the pack's benchmarks are {', '.join(PACK)} (`tinker-tui tasks list`), "
            "or a path to a .toml task file"
        )
    if name == word_problems.NAME:
        if level:
            raise ValueError(f"{text!r}: word-problems has no levels")
        return word_problems.word_problems_task()
    if not level:
        return DEMO_TASK if name == DEMO_TASK.name else arithmetic_task()
    try:
        lvl = int(level)
    except ValueError:
        raise ValueError(f"bad level {level!r} in {text!r}: expected an integer 1..{MAX_LEVEL}") from None
    return arithmetic_task(lvl)


def generate_splits(task: Task, secret: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The task's splits as lists of {"prompt", "completion"} rows (disjoint): a file task's
    files, read and validated, or a generated task's problems (generator.arithmetic_splits: the
    test split is drawn with `secret`, a run's secret seed)."""
    if task.data:
        return {split: read_rows(path) for split, path in task.data.items()}
    return arithmetic_splits(task, secret)


def materialize(task: Task, data_dir: str | Path, secret: str | None = None) -> dict[str, Path]:
    """Write train.jsonl, dev.jsonl, test.jsonl into data_dir; return {split: path}."""
    out = Path(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, rows in generate_splits(task, secret).items():
        path = out / f"{split}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        tmp.replace(path)
        paths[split] = path
    return paths


__all__ = [
    "BUILTIN_TASKS",
    "CODE_TESTS_FILE",
    "PACK",
    "fetch_hint",
    "fetched",
    "is_pack_task",
    "pack_task",
    "tasks_home",
    "DEFAULT_LEVEL",
    "DEMO_TASK",
    "MAX_LEVEL",
    "SCORERS",
    "SCORER_FILE",
    "Scorer",
    "TINY_BASE",
    "Task",
    "answer_budget",
    "arithmetic_task",
    "generate_splits",
    "get_task",
    "install_scorer",
    "make_scorer",
    "materialize",
    "read_rows",
    "score_exact",
    "sft_recipe",
]
