"""Shared fixtures: an isolated runs home, and the CLI run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test(tmp_path):
    """A failing test must not leave a daemon behind (it would wait for approval forever)."""
    yield
    import signal

    for pid_file in tmp_path.rglob("daemon.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.fixture(scope="session", autouse=True)
def _one_models_folder(tmp_path_factory):
    """One models folder ($TINKER_TUI_MODELS) for the whole session, shared by the xdist workers:
    the tiny base model (and smollm2's conversion) is built by the first run that needs it and
    found by every later one, as in a person's runs home. Tests of the building itself use their
    own folder (monkeypatch.delenv / setenv)."""
    from agent_core.training.base_models import MODELS_ENV

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "models"
    shared.mkdir(exist_ok=True)
    before = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(shared)
    yield shared
    if before is None:
        os.environ.pop(MODELS_ENV, None)
    else:
        os.environ[MODELS_ENV] = before


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("TINKER_TUI_HOME", str(h))
    return h


def cli(home: Path, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINKER_TUI_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tinker_tui", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tinker-tui {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def file_task(folder: Path, task: str = "arithmetic") -> Path:
    """A task file made of a generated task's splits (dev/train/test files next to task.toml), for
    tests that must know the hidden test items, as an agent that memorised a public benchmark
    would (a generated task's hidden split comes from the run's secret seed)."""
    from agent_core.training import tasks

    paths = tasks.materialize(tasks.get_task(task), folder)
    toml = folder / "task.toml"
    toml.write_text(
        'name = "arithmetic-file"\ndescription = "arithmetic: answer with the number only"\n'
        "[data]\n" + "".join(f'{s} = "{p.name}"\n' for s, p in paths.items())
    )
    return toml


def write_script(path: Path, steps: list) -> str:
    path.write_text(json.dumps(steps))
    return f"script:{path}"


# Every wait's timeout is multiplied by this: a wait costs nothing when its condition comes, and a
# CI machine may be slower than the one the figures were set on (TEST_SLACK=1 for the bare figures).
SLACK = float(os.environ.get("TEST_SLACK", "2"))


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    timeout *= SLACK
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def workers_of(run) -> list[int]:
    """Live (not zombie) processes whose command line names a file in the run's jobs/ folder:
    its training, evaluation and reward workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and any(str(run.jobs) + os.sep in a for a in args):
                found.append(int(entry.name))
    return found


def events_of(run_dir: Path) -> list[dict]:
    from agent_core.record.events import read_events

    return read_events(run_dir / "events.jsonl")


def last_state(run_dir: Path) -> str | None:
    states = [e["state"] for e in events_of(run_dir) if e["type"] == "run_state"]
    return states[-1] if states else None


ENDED = ("finished", "failed", "crashed")


def wait_run_end(run, timeout: float = 120, states: tuple[str, ...] = ENDED, what: str = "the run's end") -> str:
    """Until the run's log says it ended (in one of `states`) and its daemon has gone: the daemon
    logs the end first, then writes REPORT.md and the ledger line, then removes its socket."""
    state = wait_for(lambda: (s := last_state(run.path)) in states and s, timeout, what=what)
    wait_for(lambda: not run.is_live(), 30, what="the daemon gone after the run's end")
    return state


# The files that take a minute or more on 2 cores, started first: with `--dist loadfile` a long
# file taken up last leaves the other workers idle at the end (the longest-first rule). The
# Makefile passes --no-loadscope-reorder, without which xdist starts the files with the most
# tests first and these (one to three tests each) last.
LONGEST_FIRST = ("test_smollm2_demo.py", "test_demo_headless.py", "test_fence_holds.py", "test_crash_safety.py")


def pytest_collection_modifyitems(config, items):
    """End-to-end files before unit files, the longest of them first (the suite's wall time)."""

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return (0, LONGEST_FIRST.index(name))
        return (1 if item.get_closest_marker("e2e") else 2, 0)

    items.sort(key=rank)  # stable: the files' own order otherwise
