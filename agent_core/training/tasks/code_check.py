"""Running a code answer against its tests in the fence (agent_core/oversight/fence.py), for the
`code` scorer: each program runs once in a fresh bubblewrap sandbox (`python -I code_runner.py`,
agent_core/oversight/fenced/), with no network, no host file (only the system and Python
installation, read-only, and a private /tmp), a wall-clock time limit that kills the whole
sandbox, and limits on memory, CPU time, processes, file size and open files.

    check = CodeCheck(timeout_s=10, memory_mb=1024)    # ValueError when no sandbox can be made
    check.run(program) -> {"passed": bool, "error": str | None, "timed_out": bool, "seconds": float}

`fenced=False` (a run started with --unsafe-no-sandbox) runs the same runner without the fence.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent_core.oversight import fence

RUNNER_DIR = Path(fence.__file__).resolve().parent / "fenced"
RUNNER = "code_runner.py"
MAX_OUTPUT = 1 << 20  # what the program may print before it is cut off (it is not kept)


class CodeCheck:
    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 1024, fenced: bool = True):
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.fenced = fenced
        if fenced:
            ok, why = fence.available()
            if not ok:
                raise ValueError(f"the code scorer runs answers in the sandbox: {why}")
        self.limits = fence.Limits(
            cpu_s=max(1, int(self.timeout_s) + 1),
            memory_bytes=self.memory_mb << 20,
            processes=32,
            file_bytes=16 << 20,
            open_files=128,
        )

    def _argv(self, cgroup: fence.PidsCgroup | None) -> tuple[list[str], dict[str, str]]:
        if not self.fenced:
            return fence.unfenced([sys.executable, "-I", str(RUNNER_DIR / RUNNER)], None)
        env = fence.sandbox_env()
        return fence.wrap(
            [sys.executable, "-I", f"{fence.SUPPORT}/{RUNNER}"],
            fence.Mounts(workspace=None, ro=[(str(RUNNER_DIR), fence.SUPPORT)]),
            self.limits,
            cwd="/tmp",
            env=env,
            cgroup=cgroup,
        )

    def run(self, program: str) -> dict:
        nonce = secrets.token_hex(12)
        cgroup = fence.PidsCgroup(self.limits.processes) if self.fenced else None
        argv, env = self._argv(cgroup)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
        )
        timed_out = False
        try:
            out, _ = proc.communicate(json.dumps({"program": program, "nonce": nonce}).encode(), self.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            out = b""
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.communicate(timeout=5)
                except (subprocess.TimeoutExpired, ValueError, OSError):
                    pass
            if cgroup is not None:
                cgroup.close()
        seconds = round(time.monotonic() - t0, 3)
        if timed_out:
            return {"passed": False, "error": f"ran past {self.timeout_s:g}s", "timed_out": True, "seconds": seconds}
        for line in reversed(out[-MAX_OUTPUT:].decode("utf-8", "replace").splitlines()):
            if line.startswith(nonce):
                try:
                    res = json.loads(line[len(nonce) :])
                except ValueError:
                    break
                passed = isinstance(res, dict) and res.get("passed") is True
                error = None if passed else str(res.get("error", "failed"))[:300]
                return {"passed": passed, "error": error, "timed_out": False, "seconds": seconds}
        why = f"the program ended the process (exit {proc.returncode}) before its tests finished"
        return {"passed": False, "error": why, "timed_out": False, "seconds": seconds}
