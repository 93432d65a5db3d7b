"""Run a workspace reward file in a child process, so that a crash or hang in it costs one
completion's reward, never the training job.

The reward file is plain Python defining `reward(prompt, completion, **fields) -> float` (and
optionally more functions with the same signature, named in the job spec's "reward_functions").
The child runs in `cwd` (default: the reward file's folder), so the file can open data files
by relative path. It is imported only inside the child (`multiprocessing` "spawn" context: a fresh interpreter that
inherits nothing from the trainer but its environment and file descriptors, so its prints land
on the worker's stderr).

    box = RewardSandbox("workspace/reward.py", ["reward"], timeout_s=10)   # JobError(bad_input)
    scores = box.score("reward", [("12+7=", "19", {"expected": "19"}), ...])  # list of floats
    box.stats -> {"calls", "errors", "timeouts", "restarts", "first_error"}
    box.close()

Scoring rules: a call that raises, returns something that is not a finite real number, or kills
the child scores 0.0 and counts as an error; a call that runs past `timeout_s` scores 0.0, counts
as a timeout, and the child is killed and restarted before the next call. A whole batch also has
a deadline (`batch_timeout_s`): completions not scored by then score 0.0 and count as timeouts.
The child exits when its parent dies (it polls the parent pid), so a killed worker leaves no
reward process behind.
"""
from __future__ import annotations

import importlib.util
import math
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

START_TIMEOUT_S = 60.0  # importing the reward file


class RewardFileError(ValueError):
    """The reward file does not import, or lacks a requested function."""


def load_reward_module(path: str | os.PathLike[str]):
    p = Path(path)
    spec = importlib.util.spec_from_file_location(f"_reward_{p.stem}", p)
    if spec is None or spec.loader is None:
        raise RewardFileError(f"{p}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.parent))  # helpers next to the reward file can be imported
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - a SyntaxError or anything at import time
        raise RewardFileError(f"{p} does not import: {_short(exc)}") from None
    return module


def _short(exc: BaseException, limit: int = 300) -> str:
    msg = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, SyntaxError) and exc.lineno:
        msg = f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def _as_score(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if not isinstance(value, (int, float)):
        raise TypeError(f"reward returned {type(value).__name__}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"reward returned {value}")
    return value


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(0)


def _child(conn, path: str, names: list[str], ppid: int, cwd: str | None = None) -> None:
    """Child main loop. Messages in: ("score", name, [(prompt, completion, fields), ...]) or
    ("quit",). Out: ("ready", None) | ("bad", message) once, then per item ("ok", float) or
    ("err", message), then ("done", None) per batch."""
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    try:
        if cwd:
            os.chdir(cwd)
        module = load_reward_module(path)
        funcs = {}
        for name in names:
            fn = getattr(module, name, None)
            if fn is None:
                raise RewardFileError(f"{path} defines no function {name!r} "
                                      f"(it must define reward(prompt, completion, **fields) -> float)")
            if not callable(fn):
                raise RewardFileError(f"{path}: {name!r} is not a function")
            funcs[name] = fn
    except (RewardFileError, OSError) as exc:  # OSError: the working folder is missing
        conn.send(("bad", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "score":
            return
        _, name, items = msg
        fn = funcs[name]
        for prompt, completion, fields in items:
            try:
                conn.send(("ok", _as_score(fn(prompt, completion, **fields))))
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: it scores 0, the child lives
                tb = traceback.format_exc(limit=4)
                conn.send(("err", _short(exc), tb))
        conn.send(("done", None))


class RewardSandbox:
    def __init__(self, path: str | os.PathLike[str], names: Iterable[str] = ("reward",),
                 timeout_s: float = 10.0, batch_timeout_s: float = 300.0, log=None,
                 cwd: str | os.PathLike[str] | None = None):
        self.path = str(Path(path).resolve())
        self.cwd = str(cwd) if cwd else str(Path(self.path).parent)
        self.names = list(names)
        self.timeout_s = float(timeout_s)
        self.batch_timeout_s = float(batch_timeout_s)
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.stats: dict[str, Any] = {"calls": 0, "errors": 0, "timeouts": 0, "restarts": 0,
                                      "first_error": None}
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        if not Path(self.path).is_file():
            raise RewardFileError(f"reward file not found: {path}")
        self._start()

    # -- child lifecycle ------------------------------------------------------
    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child, args=(child, self.path, self.names, os.getpid(), self.cwd),
                                 daemon=True, name="reward-sandbox")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(START_TIMEOUT_S):
            self._kill()
            raise RewardFileError(f"{self.path} took longer than {START_TIMEOUT_S:.0f}s to import")
        try:
            kind, detail = parent.recv()
        except (EOFError, OSError):
            self._kill()
            raise RewardFileError(f"{self.path}: the reward process died while importing it") from None
        if kind == "bad":
            self._kill()
            raise RewardFileError(detail)

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(5)

    def _restart(self) -> None:
        self._kill()
        self.stats["restarts"] += 1
        self._start()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("quit",))
            except OSError:
                pass
        if self._proc is not None:
            self._proc.join(1)
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- scoring ----------------------------------------------------------------
    def _error(self, what: str, detail: str = "") -> None:
        self.stats["errors"] += 1
        if self.stats["first_error"] is None:
            self.stats["first_error"] = what
        if self.stats["errors"] <= 5:
            self.log(f"reward error (scored 0): {what}\n{detail}".rstrip())

    def _timeout(self, what: str) -> None:
        self.stats["timeouts"] += 1
        if self.stats["first_error"] is None:
            self.stats["first_error"] = what
        if self.stats["timeouts"] <= 5:
            self.log(f"reward timeout (scored 0): {what}")

    def score(self, name: str, items: list[tuple[str, str, dict]]) -> list[float]:
        """Score every (prompt, completion, fields) with reward function `name`."""
        if name not in self.names:
            raise KeyError(name)
        scores = [0.0] * len(items)
        deadline = time.monotonic() + self.batch_timeout_s
        i = 0
        while i < len(items):
            if time.monotonic() >= deadline:
                left = len(items) - i
                self.stats["calls"] += left
                self.stats["timeouts"] += left
                self.log(f"reward batch deadline ({self.batch_timeout_s:.0f}s) passed: "
                         f"{left} completion(s) scored 0")
                break
            if self._conn is None:
                self._start()
            try:
                self._conn.send(("score", name, items[i:]))
            except (OSError, ValueError):
                self._restart()
                continue
            while i < len(items):
                wait = min(self.timeout_s, max(0.0, deadline - time.monotonic()))
                if not self._conn.poll(wait):
                    self.stats["calls"] += 1
                    self._timeout(f"{name}() ran past {self.timeout_s:g}s on prompt {items[i][0][:60]!r}")
                    i += 1
                    self._restart()
                    break
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    self.stats["calls"] += 1
                    self._error(f"{name}() killed the reward process on prompt {items[i][0][:60]!r}")
                    i += 1
                    self._restart()
                    break
                self.stats["calls"] += 1
                if msg[0] == "ok":
                    scores[i] = msg[1]
                else:
                    self._error(f"{name}(): {msg[1]}", msg[2] if len(msg) > 2 else "")
                i += 1
            else:
                # the batch is complete: consume the child's end-of-batch marker
                if self._conn is not None and self._conn.poll(self.timeout_s):
                    try:
                        self._conn.recv()
                    except (EOFError, OSError):
                        self._restart()
        return scores
