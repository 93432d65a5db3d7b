"""Built-in post-training tasks (pure Python; no torch / transformers import).

A task is a deterministic generator of prompt/completion problems plus a scorer. The built-in
task is `arithmetic`, with difficulty levels:

    level 1   a+b, single digits                      "3+4="    -> "7"
    level 2   a+b, two two-digit numbers (10..99)     "12+57="  -> "69"
    level 3   a+b or a-b, up to two digits (a >= b)   "52-17="  -> "35"
    level 4   a+b / a-b up to three digits (results may be negative), a*b two digits x one digit
    level 5   a+b / a-b up to three digits, a*b two digits x two digits

Names: "arithmetic" (the default level, DEFAULT_LEVEL) or "arithmetic:<level>". A path to a
TOML task file is also accepted (the format is documented in docs/TASKS.md, with
examples/tasks/reverse.toml as its worked example):

    name = "reverse"
    description = "Reverse the word: 'reverse abc:' -> 'cba', nothing else."
    base_model = "tiny"                 # "tiny" or a model folder (relative to the task file)
    budget = "30m"                      # optional: seconds, or "90s" / "30m" / "2h"
    [data]                              # jsonl files of {"prompt", "completion"}, relative paths
    dev = "reverse/dev.jsonl"
    test = "reverse/test.jsonl"         # hidden from the agent
    train = "reverse/train.jsonl"       # optional
    [scorer]
    kind = "exact"                      # or "regex" (pattern = ...) or "python" (file = ...)

A file without [data] whose `name` is a built-in generator configures it instead
(`name = "arithmetic"`, `level`, `n_train`, `n_dev`, `n_test`, `seed`). Every problem in a
file is a ValueError naming the file (and the line for bad TOML or bad jsonl).

Scorers score(prompt, completion, expected) -> float in [0, 1]: `exact` (stripped text equal),
`regex` (the first match of `pattern` in the completion, its first group if it has one, equals
the expected text, stripped), `python` (a file defining that function; it is copied into the
run's hidden/ folder with the test split, so the agent can neither read nor change it).

`materialize(task, data_dir)` writes train.jsonl, dev.jsonl and test.jsonl with rows
{"prompt": "12+7=", "completion": "19"}. Arithmetic splits are disjoint by prompt (dev and train
from the task's seed, then test from a run's secret seed, without replacement);
a file task's splits are its files, validated and rewritten (a file task may have no train).
`install_scorer(task, hidden_dir)` copies a python scorer next to the hidden test split and
returns the scorer spec the evaluate worker takes; `make_scorer(spec)` builds the function.
"""

from __future__ import annotations

import ast
import json
import random
import re
import shutil
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from agent_core.record import jsonl

TINY_BASE = "tiny-char-llama"  # built offline by agent_core.ml.tiny.build_tiny_model
DEFAULT_LEVEL = 2
MAX_LEVEL = 5
SCORERS = ("exact", "regex", "python")
SCORER_FILE = "scorer.py"  # the python scorer's name in the run's hidden/ folder


@dataclass
class Task:
    name: str
    description: str
    base_model: str
    level: int
    n_train: int
    n_dev: int
    n_test: int
    seed: int
    scorer: str = "exact"
    scorer_pattern: str | None = None  # regex scorer
    scorer_file: str | None = None  # python scorer (absolute path of the task's file)
    budget_s: float | None = None
    data: dict[str, str] = field(default_factory=dict)  # file tasks: split -> absolute path
    source: str | None = None  # the task file

    @property
    def id(self) -> str:
        return self.name if self.data else f"{self.name}:{self.level}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scorer_spec(self, hidden_dir: str | Path | None = None) -> dict[str, Any]:
        """The evaluate worker's "scorer" field; a python scorer is read from hidden_dir."""
        if self.scorer == "regex":
            return {"kind": "regex", "pattern": self.scorer_pattern}
        if self.scorer == "python":
            where = Path(hidden_dir) / SCORER_FILE if hidden_dir is not None else Path(str(self.scorer_file))
            return {"kind": "python", "file": str(where)}
        return {"kind": "exact"}


# ---------------------------------------------------------------- arithmetic generators


def _level1(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(10), rng.randrange(10)
    return f"{a}+{b}=", str(a + b)


def _level2(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(10, 100), rng.randrange(10, 100)
    return f"{a}+{b}=", str(a + b)


def _level3(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(100), rng.randrange(100)
    if rng.random() < 0.5:
        return f"{a}+{b}=", str(a + b)
    a, b = max(a, b), min(a, b)
    return f"{a}-{b}=", str(a - b)


def _level4(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 1 / 3:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}+{b}=", str(a + b)
    if r < 2 / 3:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}-{b}=", str(a - b)
    a, b = rng.randrange(100), rng.randrange(10)
    return f"{a}*{b}=", str(a * b)


def _level5(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.25:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}+{b}=", str(a + b)
    if r < 0.5:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}-{b}=", str(a - b)
    a, b = rng.randrange(100), rng.randrange(100)
    return f"{a}*{b}=", str(a * b)


# level -> (generator, number of distinct prompts, description)
_ARITH: dict[int, tuple[Callable[[random.Random], tuple[str, str]], int, str]] = {
    1: (_level1, 100, "single-digit addition, e.g. 3+4=7"),
    2: (_level2, 90 * 90, "addition of two two-digit numbers, e.g. 12+57=69"),
    3: (_level3, 100 * 100 + 100 * 101 // 2, "addition and subtraction of numbers up to two digits, e.g. 52-17=35"),
    4: (
        _level4,
        2 * 1000 * 1000 + 100 * 10,
        "three-digit addition/subtraction (negative results) and two-digit x one-digit multiplication",
    ),
    5: (
        _level5,
        2 * 1000 * 1000 + 100 * 100,
        "three-digit addition/subtraction and two-digit x two-digit multiplication",
    ),
}

# default split sizes per level (level 1 has only 100 distinct problems)
_SIZES = {
    1: (60, 10, 30),
    2: (7000, 200, 500),
    3: (8000, 200, 500),
    4: (8000, 200, 500),
    5: (8000, 200, 500),
}

DEMO_TASK = Task(
    name="arithmetic",
    description=f"arithmetic level {DEFAULT_LEVEL}: {_ARITH[DEFAULT_LEVEL][2]}; answer with the number only",
    base_model=TINY_BASE,
    level=DEFAULT_LEVEL,
    n_train=_SIZES[DEFAULT_LEVEL][0],
    n_dev=_SIZES[DEFAULT_LEVEL][1],
    n_test=_SIZES[DEFAULT_LEVEL][2],
    seed=1234,
)

BUILTIN_TASKS = ("arithmetic",)


def arithmetic_task(level: int = DEFAULT_LEVEL, seed: int = 1234, **overrides: Any) -> Task:
    if level not in _ARITH:
        raise ValueError(f"arithmetic has levels 1..{MAX_LEVEL}, not {level!r}")
    n_train, n_dev, n_test = _SIZES[level]
    task = Task(
        name="arithmetic",
        description=f"arithmetic level {level}: {_ARITH[level][2]}; answer with the number only",
        base_model=TINY_BASE,
        level=level,
        n_train=n_train,
        n_dev=n_dev,
        n_test=n_test,
        seed=seed,
    )
    return replace(task, **overrides) if overrides else task


_FILE_KEYS = {"name", "description", "base_model", "budget", "data", "scorer"}
_GEN_KEYS = {"name", "description", "base_model", "budget", "level", "n_train", "n_dev", "n_test", "seed", "scorer"}
_SPLITS = ("dev", "test", "train")


def _from_toml(path: Path) -> Task:
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


def _scorer_fields(where: str, base: Path, value: Any) -> dict[str, Any]:
    """[scorer] (or scorer = "exact") -> Task fields scorer, scorer_pattern, scorer_file."""
    if value is None:
        return {"scorer": "exact"}
    table = {"kind": value} if isinstance(value, str) else value
    if not isinstance(table, dict):
        raise ValueError(f"{where}: scorer must be a string or a [scorer] table")
    kind = table.get("kind")
    if kind not in SCORERS:
        raise ValueError(f"{where}: unknown scorer {kind!r} (known: {', '.join(SCORERS)})")
    allowed = {"exact": {"kind"}, "regex": {"kind", "pattern"}, "python": {"kind", "file"}}[kind]
    extra = set(table) - allowed
    if extra:
        raise ValueError(
            f"{where}: the {kind} scorer takes no {', '.join(sorted(extra))} (it takes: {', '.join(sorted(allowed))})"
        )
    if kind == "regex":
        pattern = table.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f'{where}: the regex scorer needs pattern = "..."')
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: scorer pattern {pattern!r} is not a valid regex: {exc}") from None
        return {"scorer": "regex", "scorer_pattern": pattern}
    if kind == "python":
        file = table.get("file")
        if not isinstance(file, str) or not file:
            raise ValueError(f'{where}: the python scorer needs file = "scorer.py"')
        src = (base / file).resolve()
        if not src.is_file():
            raise ValueError(f"{where}: scorer file not found: {src}")
        _check_python_scorer(src)
        return {"scorer": "python", "scorer_file": str(src)}
    return {"scorer": "exact"}


def _check_python_scorer(src: Path) -> None:
    """The file parses and defines score(prompt, completion, expected) at top level (not run here)."""
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"), filename=str(src))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"scorer file {src} cannot be parsed: {exc}") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "score":
            a = node.args
            if len(a.posonlyargs) + len(a.args) >= 3 or a.vararg:
                return
            raise ValueError(f"scorer file {src}: score() must take (prompt, completion, expected)")
    raise ValueError(f"scorer file {src} defines no top-level function score(prompt, completion, expected)")


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
        **_scorer_fields(where, base, data.get("scorer")),
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
    data.pop("name")
    budget = _budget(where, data.pop("budget", None))
    scorer = _scorer_fields(where, path.parent, data.pop("scorer", None))
    for key in ("level", "seed", "n_train", "n_dev", "n_test"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool)):
            raise ValueError(f"{where}: {key} must be an integer, got {data[key]!r}")
    level = data.pop("level", DEFAULT_LEVEL)
    seed = data.pop("seed", 1234)
    try:
        task = arithmetic_task(level, seed, budget_s=budget, source=str(path.resolve()), **scorer, **data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    try:
        _validate(task)
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


def _validate(task: Task) -> None:
    if task.scorer not in SCORERS:
        raise ValueError(f"unknown scorer {task.scorer!r} (known: {SCORERS})")
    if task.data:
        return
    for key in ("n_train", "n_dev", "n_test"):
        value = getattr(task, key)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    space = _ARITH[task.level][1]
    total = task.n_train + task.n_dev + task.n_test
    if total > space:
        raise ValueError(
            f"arithmetic level {task.level} has only {space} distinct problems; n_train+n_dev+n_test = {total}"
        )


def get_task(name_or_path: str | Path) -> Task:
    """A built-in task by name ("arithmetic", "arithmetic:3") or a TOML task file path."""
    text = str(name_or_path).strip()
    if text.endswith(".toml") or (isinstance(name_or_path, Path)):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"task file not found: {path}")
        return _from_toml(path)
    name, _, level = text.partition(":")
    if name not in BUILTIN_TASKS:
        raise ValueError(
            f"unknown task {text!r}: built-in tasks are {', '.join(BUILTIN_TASKS)} "
            f"(optionally with a level, e.g. 'arithmetic:{DEFAULT_LEVEL}', levels 1..{MAX_LEVEL}), "
            "or a path to a .toml task file"
        )
    if not level:
        return DEMO_TASK if name == DEMO_TASK.name else arithmetic_task()
    try:
        lvl = int(level)
    except ValueError:
        raise ValueError(f"bad level {level!r} in {text!r}: expected an integer 1..{MAX_LEVEL}") from None
    return arithmetic_task(lvl)


def generate_splits(task: Task, secret: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The task's splits as lists of {"prompt", "completion"} rows (disjoint).

    A generated task's dev and train splits follow the task's public seed (the same data every
    run, so a recipe's result is reproducible); its test split is drawn after them with `secret`
    (a run's secret seed, kept in the run's hidden/ folder), so nobody can rebuild a run's hidden
    split from the public generator. Where train and dev nearly exhaust a level's problems (level
    2: 7,200 of 8,100), the test is necessarily among the rest: the contamination guard, not the
    seed, is what catches training on them. Without a secret the test split follows the public
    seed too (offline checks, tests)."""
    if task.data:
        return {split: read_rows(path) for split, path in task.data.items()}
    if task.name not in BUILTIN_TASKS:
        raise ValueError(f"unknown task {task.name!r}")
    _validate(task)
    gen = _ARITH[task.level][0]
    public = random.Random(f"{task.name}:{task.level}:{task.seed}")
    hidden = random.Random(f"{task.name}:{task.level}:{task.seed}:{secret}") if secret else public
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for split, n, rng in (("dev", task.n_dev, public), ("train", task.n_train, public), ("test", task.n_test, hidden)):
        rows: list[dict[str, str]] = []
        while len(rows) < n:
            prompt, completion = gen(rng)
            if prompt in seen:
                continue
            seen.add(prompt)
            rows.append({"prompt": prompt, "completion": completion})
        splits[split] = rows
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["test"]}


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


def score_exact(prediction: str, reference: str) -> bool:
    return str(prediction).strip() == str(reference).strip()


def install_scorer(task: Task, hidden_dir: str | Path) -> dict[str, Any]:
    """Copy a python scorer into hidden_dir (next to the hidden test split, out of the agent's
    reach) and return the scorer spec that evaluate workers take."""
    if task.scorer == "python":
        hidden = Path(hidden_dir)
        hidden.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(task.scorer_file), hidden / SCORER_FILE)
        return task.scorer_spec(hidden)
    return task.scorer_spec()


class Scorer:
    """score(prompt, completion, expected) -> float in [0, 1] for a scorer spec
    ({"kind": "exact"} | {"kind": "regex", "pattern"} | {"kind": "python", "file"}).

    A python scorer that raises, hangs past `timeout_s` (main thread only) or returns something
    that is not a number scores 0; `errors` counts those and `first_error` keeps the first."""

    def __init__(self, spec: dict | None = None, timeout_s: float = 5.0):
        spec = spec or {"kind": "exact"}
        self.kind = spec.get("kind", "exact")
        self.timeout_s = timeout_s
        self.errors = 0
        self.first_error: str | None = None
        self._fn: Callable[..., Any] | None = None
        if self.kind == "exact":
            pass
        elif self.kind == "regex":
            try:
                self._re = re.compile(str(spec.get("pattern") or ""))
            except re.error as exc:
                raise ValueError(f"scorer pattern {spec.get('pattern')!r} is not a valid regex: {exc}") from None
            if not spec.get("pattern"):
                raise ValueError("the regex scorer needs a pattern")
        elif self.kind == "python":
            self._fn = _load_python_scorer(Path(str(spec.get("file"))))
        else:
            raise ValueError(f"unknown scorer {self.kind!r} (known: {', '.join(SCORERS)})")

    def __call__(self, prompt: str, completion: str, expected: str) -> float:
        if self.kind == "exact":
            return 1.0 if score_exact(completion, expected) else 0.0
        if self.kind == "regex":
            m = self._re.search(completion)
            if m is None:
                return 0.0
            got = m.group(1) if self._re.groups else m.group(0)
            return 1.0 if got is not None and got.strip() == expected.strip() else 0.0
        return self._call_python(prompt, completion, expected)

    def _call_python(self, prompt: str, completion: str, expected: str) -> float:
        import signal
        import threading

        timed = self.timeout_s > 0 and threading.current_thread() is threading.main_thread()

        def _alarm(signum, frame):  # noqa: ARG001
            raise TimeoutError(f"score() took longer than {self.timeout_s:g}s")

        old = signal.signal(signal.SIGALRM, _alarm) if timed else None
        try:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
            value = self._fn(prompt, completion, expected)  # type: ignore[misc]
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, (int, float)) or value != value:
                raise TypeError(f"score() returned {value!r}, not a number")
            return min(1.0, max(0.0, float(value)))
        except MemoryError:
            raise  # the job is out of memory, not the scorer wrong: the worker reports oom
        except Exception as exc:  # a scorer bug scores 0 and is counted, never ends the evaluation
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"{type(exc).__name__}: {exc}"[:300]
            return 0.0
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)


def _load_python_scorer(path: Path) -> Callable[..., Any]:
    import importlib.util

    if not path.is_file():
        raise ValueError(f"scorer file not found: {path}")
    spec = importlib.util.spec_from_file_location("task_scorer", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load scorer file {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ValueError(f"scorer file {path} failed to load: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, "score", None)
    if not callable(fn):
        raise ValueError(f"scorer file {path} defines no function score(prompt, completion, expected)")
    return fn


def make_scorer(spec: dict | None = None, timeout_s: float = 5.0) -> Scorer:
    return Scorer(spec, timeout_s)


def sft_recipe(task: Task) -> dict[str, Any]:
    """Hyperparameters for the offline playbook agent's SFT job on `task` with the tiny base
    (agent_core.ml.tiny defaults: 4 layers, width 128, BOS-prefixed character tokenizer).

    Keys map one-to-one onto the worker's train spec fields. Tuned for DEMO_TASK (arithmetic
    level 2, 7000 training problems) on 2 CPU cores; see the figures in the module notes below.
    Levels other than 2 are not tuned: they get more epochs as a starting point.
    """
    recipe = dict(_RECIPE)
    if task.level == 1:
        recipe["num_train_epochs"] = 60  # ~120 steps; see the level 1 note below
    elif task.level >= 3:
        recipe["num_train_epochs"] = 5 + 3 * (task.level - 2)
    return recipe


# Tuning notes (arithmetic level 2, tiny base, 1 CPU thread, batch 32; test exact match):
# - This recipe through the worker (TRL SFTTrainer, 1095 steps, ~58-75 s of training):
#   seed 0 (the demo) 0.0 -> 1.0; other seeds (model init, data, order) 1.0, 0.918, 1.0.
# - What made it work: the BOS token in the tiny tokenizer (an attention anchor). Without BOS,
#   lr 1.5e-3 for 5 epochs passed 0.9 for 1 of 8 seed/format runs; the rest sat on a ~0.65-loss
#   plateau at 10-25% (tens digit right, units digit wrong). AdamW weight decay 0.1 + beta2 0.98
#   rescued 2 of 3 seeds without BOS; with BOS they give no gain (0.986, 1.0, 0.946), so the
#   recipe keeps the plain optimizer and needs only the standard spec fields.
# - Without BOS, lr 2e-3 (batch 32 or 64) stalled, and so did 2-layer or width-96 models.
# - LoRA (r=16, lr 3e-3) on the randomly initialised base reaches only 0.14: the frozen random
#   embeddings / tied head / norms cap the logit scale (loss stays ~2.5), so use full fine-tuning.
# - Level 1 (60 training problems out of 100) does not generalise to its unseen test pairs
#   (0.27 with 60 epochs): it is a memorisation level, not a good demo.
_RECIPE: dict[str, Any] = {
    "method": "sft",
    "lora": False,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "cosine",
    "num_train_epochs": 5,
    "per_device_train_batch_size": 32,
    "seed": 0,
}
