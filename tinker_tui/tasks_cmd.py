"""`tinker-tui tasks list` and `tinker-tui tasks fetch NAME [--from DIR] [--force]`: the task pack's
benchmarks (agent_core/training/tasks/pack.py) and the one explicit, logged step that downloads a
benchmark's data and prepares its splits under `<home>/tasks/NAME/`.

The fetch runs `python -m agent_core.ml.fetch_task NAME STAGING [--from DIR]` in a subprocess
(this process never imports `datasets`), shows its lines as they come, appends them to
`<home>/tasks/fetch.log`, and moves the prepared folder into place only when it succeeded (a
failed fetch leaves an earlier good one as it was). `--from DIR` (or $TINKER_TUI_TASKS_FROM,
a folder holding one sub-folder per task) reads local files in the benchmark's hub schema.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from agent_core.record.runs import runs_home
from agent_core.training import tasks
from agent_core.training.tasks import pack

__all__ = ["add_parser", "run"]

FROM_ENV = "TINKER_TUI_TASKS_FROM"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tasks",
        help="the task pack: list the benchmarks, fetch one's data",
        description="The task pack's benchmarks (GSM8K, HumanEval, ARC, MMLU). A benchmark's data is "
        "fetched once, explicitly; runs then work offline.",
    )
    sub = p.add_subparsers(dest="tasks_verb", metavar="{list,fetch}")
    sub.add_parser("list", help="the pack's benchmarks and which are fetched")
    f = sub.add_parser(
        "fetch",
        help="download a benchmark through `datasets` and prepare its splits",
        description="Download a benchmark through `datasets` (into the Hugging Face cache) and write "
        "its prepared splits under <home>/tasks/NAME/ with a FETCHED.json.",
    )
    f.add_argument("name", help=f"a pack benchmark: {', '.join(tasks.PACK)}")
    f.add_argument(
        "--from",
        dest="local",
        metavar="DIR",
        help=f"read local files in the benchmark's hub schema (DIR/<hub split>.jsonl) instead of the hub; "
        f"${FROM_ENV} names a folder with one sub-folder per benchmark",
    )
    f.add_argument("--force", action="store_true", help="fetch again even when it is already fetched")
    p.set_defaults(tasks_parser=p)
    return p


def run(args) -> int:
    verb = getattr(args, "tasks_verb", None)
    home = runs_home(args.home)
    if verb == "list":
        return cmd_list(home)
    if verb == "fetch":
        local = args.local
        if local is None and os.environ.get(FROM_ENV):
            local = str(Path(os.environ[FROM_ENV]).expanduser() / args.name)
        return cmd_fetch(home, args.name, local, args.force)
    args.tasks_parser.print_usage(sys.stderr)
    return 2


def cmd_list(home: Path) -> int:
    print(f"{'TASK':14} {'DATASET':32} {'SCORER':8} STATE")
    for name in tasks.PACK:
        defn = pack.definition(name)
        source = defn["source"]["dataset"] + (f" ({defn['source']['config']})" if defn["source"].get("config") else "")
        try:
            info = tasks.fetched(home, name)
        except ValueError as exc:
            state = f"damaged: {exc}"
        else:
            if info is None:
                state = f"not fetched: {tasks.fetch_hint(name)}"
            else:
                rows = " ".join(f"{k}={v['rows']}" for k, v in info.get("splits", {}).items())
                state = f"fetched {info.get('fetched_at', '?')[:10]} ({rows})"
        print(f"{name:14} {source[:32]:32} {defn['scorer']['kind']:8} {state}")
    print(f"\nfetched data lives in {tasks.tasks_home(home)}")
    return 0


def _log(home: Path, line: str) -> None:
    log = tasks.tasks_home(home) / "fetch.log"
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line.rstrip()}\n")


def cmd_fetch(home: Path, name: str, local: str | None, force: bool) -> int:
    if name not in tasks.PACK:
        print(f"tinker-tui tasks: no benchmark {name!r} in the pack (it has: {', '.join(tasks.PACK)})", file=sys.stderr)
        return 2
    try:
        done = tasks.fetched(home, name)
    except ValueError:
        done = None  # damaged: fetch it again
    final = tasks.tasks_home(home) / name
    if done is not None and not force:
        print(f"{name} is already fetched ({final}); --force fetches it again")
        return 0
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    argv = [sys.executable, "-m", "agent_core.ml.fetch_task", name, str(staging)]
    if local:
        argv += ["--from", str(Path(local).expanduser().resolve())]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # agent_core from a source checkout too
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    _log(home, f"fetch {name} start: {' '.join(argv[2:])}")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        last = line
        print(line, flush=True)
        _log(home, f"fetch {name}: {line}")
    code = proc.wait()
    if code != 0 or not (staging / pack.FETCHED).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        _log(home, f"fetch {name} failed (exit {code})")
        why = last if last.startswith("fetch failed") else f"the fetch worker exited {code}"
        print(f"tinker-tui tasks: {name} was not fetched: {why}", file=sys.stderr)
        return 1
    old = final.parent / f".{name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    info = json.loads((final / pack.FETCHED).read_text())
    rows = ", ".join(f"{k} {v['rows']}" for k, v in info["splits"].items())
    _log(home, f"fetch {name} done: {rows} in {final}")
    print(f"{name} fetched: {rows} rows in {final}; `tinker-tui run --task {name}` now works offline")
    return 0
