"""Runs home and run directories.

    <home>/runs/<run-id>/
        run.json        the run's config (task, model, agent, budget, approval mode, ...)
        events.jsonl    the event log (agent_core.record.events)
        workspace/      the agent's files; every tool path resolves inside it
        checkpoints/    trained checkpoints, each with lineage.json
        jobs/           training job specs and their logs
        control.sock    the daemon's control socket (owner only)
        daemon.pid      pid of the supervisor daemon while it runs
        daemon.log      the daemon's own stderr (tracebacks)

home = --home, else $TINKER_TUI_HOME, else $XDG_DATA_HOME/tinker-tui (~/.local/share/tinker-tui).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from agent_core.record.events import TERMINAL_STATES


# A run whose agent is an outside MCP client (`--agent external`) says so in the run header
# (screens/widgets/status.py) and REPORT.md (daemon/report.py): its client's own tools are not gated.
EXTERNAL_AGENT = "EXTERNAL AGENT: its own built-in tools are beyond the gate"


def is_external(agent_spec: object) -> bool:
    """The run config's `agent` names an outside client (`--agent external`)."""
    return str(agent_spec or "").partition(":")[0] == "external"


class RunNotFound(LookupError):
    pass


def runs_home(home: str | os.PathLike[str] | None = None) -> Path:
    if home:
        base = Path(home)
    elif os.environ.get("TINKER_TUI_HOME"):
        base = Path(os.environ["TINKER_TUI_HOME"])
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        base = Path(xdg) / "tinker-tui"
    return base.expanduser().absolute()


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "run.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def workspace(self) -> Path:
        return self.path / "workspace"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def jobs(self) -> Path:
        return self.path / "jobs"

    @property
    def socket_path(self) -> Path:
        return self.path / "control.sock"

    @property
    def pid_path(self) -> Path:
        return self.path / "daemon.pid"

    @property
    def daemon_log(self) -> Path:
        return self.path / "daemon.log"

    def config(self) -> dict:
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_config(self, cfg: dict) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True))
        os.replace(tmp, self.config_path)

    def daemon_pid(self) -> int | None:
        """The daemon's pid if it is alive, else None."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # A zombie (exited, not yet reaped by its parent) is not alive.
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return None
        except (OSError, IndexError):
            pass
        return pid

    def is_live(self) -> bool:
        return self.daemon_pid() is not None


def new_run(home: Path, config: dict) -> RunDir:
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    while True:  # two runs started in the same second may draw the same suffix: draw again
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)
        run = RunDir(runs / run_id)
        try:
            run.path.mkdir(mode=0o700)
            break
        except FileExistsError:
            continue
    for sub in (run.workspace, run.checkpoints, run.jobs):
        sub.mkdir()
    run.write_config({**config, "id": run_id, "created": time.time()})
    return run


def list_runs(home: Path) -> list[RunDir]:
    runs = home / "runs"
    if not runs.is_dir():
        return []
    found = [RunDir(p) for p in runs.iterdir() if (p / "run.json").exists()]
    return sorted(found, key=lambda r: (r.config().get("created", 0), r.id))


def resolve_run(home: Path, ref: str | None) -> RunDir:
    """A run id, a unique prefix of one, its 4-character suffix, or None for the latest."""
    runs = list_runs(home)
    if not runs:
        raise RunNotFound(f"no runs under {home / 'runs'}")
    if not ref:
        return runs[-1]
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref) or r.id.rsplit("-", 1)[-1] == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(f"no run matches {ref!r} (see `tinker-tui ls`)")
    names = ", ".join(r.id for r in matches[:5])
    raise RunNotFound(f"{ref!r} is ambiguous: {names}")


class RunIsLive(RuntimeError):
    """The run's daemon is alive: stop it before deleting the run."""


def delete_run(run: RunDir) -> None:
    """Delete a run's directory (log, workspace, checkpoints). Refuses a live run (its daemon
    is alive) with RunIsLive, and anything that is not a run directory with ValueError."""
    import shutil

    path = Path(run.path)
    if not (path / "run.json").is_file() or path.is_symlink():
        raise ValueError(f"{path} is not a run directory")
    if run.is_live():
        raise RunIsLive(f"run {run.id} is live (daemon pid {run.daemon_pid()}): stop it first (`tinker-tui stop`)")

    def writable_again(fn, p, _exc):  # frozen reward bundles are read-only (0444 files, 0555 folders)
        os.chmod(os.path.dirname(p), 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
        fn(p)

    shutil.rmtree(path, onerror=writable_again)


def ended_message(events: list[dict]) -> str:
    """Why a run takes no more calls, from its log (the MCP server says it too when the daemon is gone)."""
    states = [e for e in events if e.get("type") == "run_state"]
    last = states[-1] if states else {}
    reason = next((e["reason"] for e in reversed(states) if e.get("reason")), "")
    if last.get("state") in TERMINAL_STATES or last.get("state") == "stopping":
        return "the run has ended" + (f" ({reason})" if reason else "") + "; it takes no more calls"
    return "the run's daemon is not running (`tinker-tui resume RUN` restarts it); no calls until then"
