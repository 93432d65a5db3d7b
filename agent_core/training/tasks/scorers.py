"""Scorers: how a completion is scored against the expected answer, score(prompt, completion,
expected) -> float in [0, 1]. This module is the one home of the scorer kinds: how a task file
declares each ([scorer] table, `scorer_fields`), the spec an evaluate worker takes (`scorer_spec`,
`install_scorer`) and the runtime that scores (`Scorer`, `make_scorer`). Pure Python.

- `exact`: the stripped completion equals the stripped expected text.
- `regex`: the first match of `pattern` in the completion (its first group if it has one) equals
  the expected text, stripped.
- `python`: a file defining score(prompt, completion, expected); it is copied into the run's
  hidden/ folder with the test split (`install_scorer`), so the agent can neither read nor change
  it. One that raises, hangs or returns something that is not a number scores 0 (and is counted).
- `numeric`: the completion's final number (after `marker`, e.g. "####", when given) equals the
  expected one's, as exact values (answers.final_number: "1,250", "$1250.00", "1250." all match).
- `choice`: the option letter the completion picks (answers.chosen_letter: "B", "(B)", "B) ...",
  "The answer is B") equals the expected letter; `letters` are the task's options ("ABCD").
- `code`: the completion's code (a fenced block when there is one) runs against the problem's
  tests in the bubblewrap fence (code_check.py): 1.0 when every test passes (pass@1). The tests are
  a jsonl file of {"prompt", "test", "entry_point"?, "code_prompt"?} rows, found by the row's
  prompt, and are copied into hidden/ with the test split (`install_scorer`).
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent_core.training.tasks import answers

if TYPE_CHECKING:
    from agent_core.training.tasks.task import Task

SCORERS = ("exact", "regex", "python", "numeric", "choice", "code")
SCORER_FILE = "scorer.py"  # the python scorer's name in the run's hidden/ folder
CODE_TESTS_FILE = "code_tests.jsonl"  # the code scorer's tests in the run's hidden/ folder
DEFAULT_LETTERS = "ABCD"
CODE_TIMEOUT_S = 10.0  # per program, wall clock
CODE_MEMORY_MB = 1024  # per program, address space
# each kind's [scorer] keys (besides kind)
_OPTIONS: dict[str, set[str]] = {
    "exact": set(),
    "regex": {"pattern"},
    "python": {"file"},
    "numeric": {"marker"},
    "choice": {"letters"},
    "code": {"tests", "timeout_s", "memory_mb"},
}


def scorer_fields(where: str, base: Path, value: Any) -> dict[str, Any]:
    """[scorer] (or scorer = "exact") -> Task fields scorer, scorer_pattern, scorer_file."""
    if value is None:
        return {"scorer": "exact"}
    table = {"kind": value} if isinstance(value, str) else value
    if not isinstance(table, dict):
        raise ValueError(f"{where}: scorer must be a string or a [scorer] table")
    kind = table.get("kind")
    if kind not in SCORERS:
        raise ValueError(f"{where}: unknown scorer {kind!r} (known: {', '.join(SCORERS)})")
    allowed = {"kind"} | _OPTIONS[kind]
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
    if kind in ("numeric", "choice", "code"):
        try:
            options = check_options(kind, {k: v for k, v in table.items() if k != "kind"}, base)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return {"scorer": kind, "scorer_options": options}
    return {"scorer": "exact"}


def check_options(kind: str, options: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """A numeric, choice or code scorer's options, checked and completed (ValueError says what is
    wrong); a code scorer's tests path is resolved against `base`."""
    options = dict(options)
    extra = set(options) - _OPTIONS[kind]
    if extra:
        raise ValueError(
            f"the {kind} scorer takes no {', '.join(sorted(extra))} (it takes: kind, {', '.join(sorted(_OPTIONS[kind]))})"
        )
    if kind == "numeric":
        marker = options.get("marker")
        if marker is not None and (not isinstance(marker, str) or not marker.strip()):
            raise ValueError('the numeric scorer\'s marker must be a non-empty string, e.g. marker = "####"')
    elif kind == "choice":
        letters = options.setdefault("letters", DEFAULT_LETTERS)
        if (
            not isinstance(letters, str)
            or not re.fullmatch(r"[A-Z]{2,26}", letters)
            or len(set(letters)) != len(letters)
        ):
            raise ValueError(
                f'the choice scorer\'s letters must be distinct capital letters, e.g. "ABCD", not {letters!r}'
            )
    elif kind == "code":
        tests = options.get("tests")
        if not isinstance(tests, str) or not tests:
            raise ValueError('the code scorer needs tests = "tests.jsonl" (rows of prompt, test, entry_point)')
        src = (base / tests).resolve() if base is not None else Path(tests)
        if not src.is_file():
            raise ValueError(f"code scorer tests file not found: {src}")
        options["tests"] = str(src)
        for key, default, top in (("timeout_s", CODE_TIMEOUT_S, 600), ("memory_mb", CODE_MEMORY_MB, 65536)):
            value = options.setdefault(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= top:
                raise ValueError(f"the code scorer's {key} must be a number in (0, {top}], not {value!r}")
    return options


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


def scorer_spec(task: Task, hidden_dir: str | Path | None = None) -> dict[str, Any]:
    """The evaluate worker's "scorer" field for a task; a python scorer is read from hidden_dir."""
    if task.scorer == "regex":
        return {"kind": "regex", "pattern": task.scorer_pattern}
    if task.scorer == "python":
        where = Path(hidden_dir) / SCORER_FILE if hidden_dir is not None else Path(str(task.scorer_file))
        return {"kind": "python", "file": str(where)}
    if task.scorer in ("numeric", "choice", "code"):
        spec = {"kind": task.scorer, **task.scorer_options}
        if task.scorer == "code" and hidden_dir is not None:
            spec["tests"] = str(Path(hidden_dir) / CODE_TESTS_FILE)
        return spec
    return {"kind": "exact"}


def install_scorer(task: Task, hidden_dir: str | Path) -> dict[str, Any]:
    """Copy a python scorer into hidden_dir (next to the hidden test split, out of the agent's
    reach) and return the scorer spec that evaluate workers take."""
    if task.scorer == "python":
        hidden = Path(hidden_dir)
        hidden.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(task.scorer_file), hidden / SCORER_FILE)
        return scorer_spec(task, hidden)
    if task.scorer == "code":
        hidden = Path(hidden_dir)
        hidden.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(task.scorer_options["tests"]), hidden / CODE_TESTS_FILE)
        return scorer_spec(task, hidden)
    return scorer_spec(task)


def score_exact(prediction: str, reference: str) -> bool:
    return str(prediction).strip() == str(reference).strip()


class Scorer:
    """score(prompt, completion, expected) -> float in [0, 1] for a scorer spec
    ({"kind": "exact"} | {"kind": "regex", "pattern"} | {"kind": "python", "file"} |
    {"kind": "numeric", "marker"?} | {"kind": "choice", "letters"?} |
    {"kind": "code", "tests", "timeout_s"?, "memory_mb"?, "fenced"?}).

    A python scorer that raises, hangs past `timeout_s` (main thread only) or returns something
    that is not a number scores 0; `errors` counts those and `first_error` keeps the first. So
    does a row the scorer cannot judge (an expected answer without a number or letter, a code row
    without tests). A code answer that fails, crashes or runs past its time limit is simply wrong
    (0.0); `timeouts` counts the latter."""

    def __init__(self, spec: dict | None = None, timeout_s: float = 5.0):
        spec = spec or {"kind": "exact"}
        self.kind = spec.get("kind", "exact")
        self.timeout_s = timeout_s
        self.errors = 0
        self.first_error: str | None = None
        self.timeouts = 0
        self._fn: Callable[..., Any] | None = None
        if self.kind == "exact":
            pass
        elif self.kind in ("numeric", "choice"):
            opts = check_options(self.kind, {k: v for k, v in spec.items() if k != "kind"})
            self._marker = opts.get("marker")
            self._letters = opts.get("letters", DEFAULT_LETTERS)
        elif self.kind == "code":
            from agent_core.training.tasks.code_check import CodeCheck

            fenced = spec.get("fenced", True) is not False
            opts = check_options("code", {k: v for k, v in spec.items() if k not in ("kind", "fenced")})
            self._tests = _load_code_tests(Path(opts["tests"]))
            self._check = CodeCheck(opts["timeout_s"], int(opts["memory_mb"]), fenced=fenced)
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
        if self.kind == "numeric":
            want = answers.final_number(expected, self._marker)
            if want is None:
                return self._error(f"the expected answer {expected[-60:]!r} has no number")
            got = answers.final_number(completion, self._marker)
            return 1.0 if got is not None and got == want else 0.0
        if self.kind == "choice":
            want = answers.chosen_letter(expected, self._letters)
            if want is None:
                return self._error(f"the expected answer {expected[:60]!r} is none of {self._letters}")
            return 1.0 if answers.chosen_letter(completion, self._letters) == want else 0.0
        if self.kind == "code":
            return self._call_code(prompt, completion)
        return self._call_python(prompt, completion, expected)

    def _error(self, what: str) -> float:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:300]
        return 0.0

    def _call_code(self, prompt: str, completion: str) -> float:
        row = self._tests.get(prompt)
        if row is None:
            return self._error(f"no tests for the prompt {prompt[:60]!r} in the code scorer's tests file")
        program = answers.program_for(row.get("code_prompt", prompt), completion, row["test"], row.get("entry_point"))
        result = self._check.run(program)
        self.timeouts += bool(result["timed_out"])
        return 1.0 if result["passed"] else 0.0

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


def _load_code_tests(path: Path) -> dict[str, dict[str, str]]:
    """A code scorer's tests file: {prompt: {"test", "entry_point"?, "code_prompt"?}}."""
    import json

    out: dict[str, dict[str, str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the code scorer's tests {path}: {exc}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from None
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("prompt", "test")):
            raise ValueError(f"{path}:{lineno}: a tests row needs string fields prompt and test")
        out[obj["prompt"]] = {k: obj[k] for k in ("test", "entry_point", "code_prompt") if isinstance(obj.get(k), str)}
    if not out:
        raise ValueError(f"the code scorer's tests file {path} has no rows")
    return out


def make_scorer(spec: dict | None = None, timeout_s: float = 5.0) -> Scorer:
    return Scorer(spec, timeout_s)
