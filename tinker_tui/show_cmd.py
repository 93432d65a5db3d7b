"""`tinker-tui ls`, `show RUN [--json]` and `report RUN [--print]`: a run's record as text,
from its log folded by the one reducer (agent_core.record.summary)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from agent_core.record.events import read_events
from agent_core.record.runs import list_runs, runs_home
from agent_core.record.summary import format_event, summarize
from tinker_tui.cli_base import resolve

__all__ = ["cmd_ls", "cmd_show", "cmd_report", "fmt_age"]


def fmt_age(created: float | None) -> str:
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
            f"{model:10} {score:>13} {fmt_age(cfg.get('created')):>5}"
        )
    return 0


def cmd_show(args) -> int:
    run = resolve(args)
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
                    "jobs": s.jobs,
                    "alerts": s.alert_count,
                    "events": s.count,
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
        f"{s.count} events, {s.tool_calls} tool calls, {s.nudges} nudges, {s.alert_count} alerts"
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


def cmd_report(args) -> int:
    from agent_core.daemon.report import write_report

    run = resolve(args)
    path = write_report(run)
    print(path.read_text(encoding="utf-8") if args.print else f"wrote {path}")
    return 0
