"""`python -m agent_core.daemon RUN_DIR [--resume]`: the run's daemon (agent_core.daemon.launch
starts it in a new session, so closing the terminal or the UI leaves the run going)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from agent_core.daemon import resume
from agent_core.daemon.supervisor import Supervisor
from agent_core.record.runs import RunDir


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    resuming = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    if len(argv) != 1:
        print("usage: python -m agent_core.daemon RUN_DIR [--resume]", file=sys.stderr)
        return 2
    run = RunDir(Path(argv[0]).absolute())
    if not run.config_path.exists():
        print(f"not a run directory: {run.path}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    state = None
    if resuming:  # `tinker-tui resume`: continue the log of a run whose daemon died
        try:
            resume.check_resumable(run)
        except resume.ResumeError as exc:
            print(f"cannot resume: {exc}", file=sys.stderr)
            return 2
        state = resume.LogState.read(run)
    return asyncio.run(Supervisor(run, resume_info=state).main())


if __name__ == "__main__":
    sys.exit(main())
