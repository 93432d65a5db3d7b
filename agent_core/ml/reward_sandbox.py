"""Score completions with a workspace reward file, inside the fence (agent_core/oversight/fence.py), so that
neither its code nor anything it imports or reads can touch the host, and a crash or hang in it
costs one completion's reward, never the training job.

The reward file is plain Python defining `reward(prompt, completion, **fields) -> float` (and
optionally more functions with the same signature, named in the job spec's "reward_functions").
It runs in `python -I agent_core/oversight/fenced/reward_runner.py` inside bubblewrap, with the job's
FROZEN reward bundle (a read-only snapshot the daemon made at job start) as its working folder
/workspace: it can open the bundle's files by relative path, write nothing that outlives it,
reach no network, socket, host file or process. The two sides speak JSON lines; this side
parses everything it reads and never unpickles.

    box = RewardSandbox("bundle/reward.py", ["reward"], timeout_s=10)   # RewardFileError
    scores = box.score("reward", [("12+7=", "19", {"expected": "19"}), ...])  # list of floats
    box.stats -> {"calls", "errors", "timeouts", "restarts", "first_error"}
    box.close()

Scoring rules: a call that raises, returns something that is not a finite real number, or kills
the child scores 0.0 and counts as an error; a call that runs past `timeout_s` scores 0.0, counts
as a timeout, and the child is killed and restarted before the next call. A whole batch also has
a deadline (`batch_timeout_s`): completions not scored by then score 0.0 and count as timeouts.
bwrap runs with --die-with-parent: a killed worker leaves no reward process behind.
`fenced=False` (a run started with --unsafe-no-sandbox) runs the same loop without the fence.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from agent_core.oversight import fence

START_TIMEOUT_S = 60.0  # importing the reward file
RUNNER = Path(fence.__file__).resolve().parent / "fenced"
MAX_LINE = 1 << 20
LIMITS = fence.Limits(cpu_s=3600, memory_bytes=8 << 30, processes=64, file_bytes=64 << 20, open_files=256)


class RewardFileError(ValueError):
    """The reward file does not import, or lacks a requested function."""


class _Lines:
    """Lines from a pipe with a deadline; a line longer than MAX_LINE is an error."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def read(self, timeout: float) -> dict | None | str:
        """A parsed object; None on timeout; "eof" when the child is gone or sent garbage."""
        end = time.monotonic() + max(0.0, timeout)
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                return "eof"
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return "eof"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError:
            return "eof"
        return obj if isinstance(obj, dict) else "eof"


class RewardSandbox:
    def __init__(
        self,
        path: str | os.PathLike[str],
        names: Iterable[str] = ("reward",),
        timeout_s: float = 10.0,
        batch_timeout_s: float = 300.0,
        log=None,
        cwd: str | os.PathLike[str] | None = None,
        fenced: bool = True,
    ):
        self.path = Path(path).absolute()
        self.cwd = Path(cwd).absolute() if cwd else self.path.parent
        self.names = list(names)
        self.timeout_s = float(timeout_s)
        self.batch_timeout_s = float(batch_timeout_s)
        self.fenced = fenced
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.stats: dict[str, Any] = {"calls": 0, "errors": 0, "timeouts": 0, "restarts": 0, "first_error": None}
        self._proc: subprocess.Popen | None = None
        self._lines: _Lines | None = None
        self._cgroup: fence.PidsCgroup | None = None
        if not self.path.is_file() or self.path.is_symlink():
            raise RewardFileError(f"reward file not found: {path}")
        try:
            self.rel = str(self.path.relative_to(self.cwd))
        except ValueError:
            raise RewardFileError(f"the reward file {self.path} is not inside its bundle {self.cwd}") from None
        if fenced:
            try:
                fence.require()
            except fence.FenceUnavailable as exc:
                raise RewardFileError(str(exc)) from None
        self._start()

    # -- child lifecycle ------------------------------------------------------
    def _argv(self) -> tuple[list[str], dict, str]:
        inner = [
            "-I",
            f"{fence.SUPPORT}/reward_runner.py" if self.fenced else str(RUNNER / "reward_runner.py"),
            self.rel,
            json.dumps(self.names),
        ]
        if not self.fenced:
            argv, env = fence.unfenced([sys.executable, *inner], self.cwd)
            return argv, env, str(self.cwd)
        self._cgroup = fence.PidsCgroup(LIMITS.processes)
        argv, env = fence.wrap(
            [sys.executable, *inner],
            fence.Mounts(workspace=self.cwd, writable=False, ro=[(str(RUNNER), fence.SUPPORT)]),
            LIMITS,
            cgroup=self._cgroup,
        )
        return argv, env, "/"

    def _start(self) -> None:
        argv, env, cwd = self._argv()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self._proc, self._lines = proc, _Lines(proc.stdout.fileno())
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()
        msg = self._lines.read(START_TIMEOUT_S)
        if msg is None:
            self._kill()
            raise RewardFileError(f"{self.rel} took longer than {START_TIMEOUT_S:.0f}s to import")
        if msg == "eof":
            self._kill()
            raise RewardFileError(f"{self.rel}: the reward process died while importing it")
        if "bad" in msg:
            self._kill()
            raise RewardFileError(str(msg["bad"])[:600])

    def _drain(self, proc: subprocess.Popen) -> None:
        """The reward's own output (prints, tracebacks): the first lines reach the job's log."""
        shown = 0
        for raw in iter(proc.stderr.readline, b""):
            if shown < 50:
                shown += 1
                self.log("reward output: " + raw[:500].decode("utf-8", "replace").rstrip())

    def _kill(self) -> None:
        proc, self._proc, self._lines = self._proc, None, None
        if proc is not None:
            try:
                os.killpg(proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(5)
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self._cgroup is not None:
            self._cgroup.close()
            self._cgroup = None

    def _restart(self) -> None:
        self._kill()
        self.stats["restarts"] += 1
        self._start()

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(1)
            except (OSError, subprocess.TimeoutExpired):
                pass
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

    def _send(self, name: str, items: list) -> bool:
        try:
            data = json.dumps({"score": name, "items": [list(it) for it in items]}, default=str) + "\n"
            self._proc.stdin.write(data.encode())
            self._proc.stdin.flush()
            return True
        except (OSError, ValueError, AttributeError):
            return False

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
                self.log(f"reward batch deadline ({self.batch_timeout_s:.0f}s) passed: {left} completion(s) scored 0")
                break
            if self._proc is None:
                self._start()
            if not self._send(name, items[i:]):
                self._restart()
                continue
            while i < len(items):
                msg = self._lines.read(min(self.timeout_s, max(0.0, deadline - time.monotonic())))
                self.stats["calls"] += 1
                if msg is None:
                    self._timeout(f"{name}() ran past {self.timeout_s:g}s on prompt {str(items[i][0])[:60]!r}")
                    i += 1
                    self._restart()
                    break
                if msg == "eof" or "done" in msg:
                    self._error(f"{name}() killed the reward process on prompt {str(items[i][0])[:60]!r}")
                    i += 1
                    self._restart()
                    break
                value = msg.get("ok")
                if (
                    "ok" in msg
                    and isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                ):
                    scores[i] = float(value)
                else:
                    self._error(
                        f"{name}(): {str(msg.get('err', 'a malformed reply'))[:300]}", str(msg.get("tb", ""))[:2000]
                    )
                i += 1
            else:
                end = self._lines.read(self.timeout_s) if self._lines else None  # the batch's "done"
                if not (isinstance(end, dict) and end.get("done")):
                    self._restart()
        return scores
