"""Create a run and start its daemon detached from the terminal (a new session)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from agent_core.runs import RunDir, new_run


class LaunchError(RuntimeError):
    pass


def start_daemon(run: RunDir, wait_s: float = 15.0) -> int:
    """Start `python -m agent_core.daemon RUN` in its own session; wait for its socket."""
    log = open(run.daemon_log, "ab")
    env = dict(os.environ)
    # The daemon must find agent_core even when tinker-tui runs from a source checkout.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_core.daemon", str(run.path)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        close_fds=True, env=env, cwd=str(run.path),
    )
    log.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if run.socket_path.exists():
            return proc.pid
        if proc.poll() is not None:
            tail = run.daemon_log.read_text(errors="replace")[-800:]
            raise LaunchError(f"the daemon exited at start (code {proc.returncode}):\n{tail}")
        time.sleep(0.05)
    raise LaunchError(f"the daemon did not open its control socket within {wait_s:.0f}s; see {run.daemon_log}")


def launch(home: Path, config: dict) -> RunDir:
    run = new_run(home, config)
    start_daemon(run)
    return run
