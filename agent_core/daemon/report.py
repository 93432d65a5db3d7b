"""REPORT.md: what a run did, for a person who was not watching.

Written into the run directory by the daemon when the run ends, and again on demand with
`tinker-tui report RUN` (`write_report`). Built from the event log alone (plus the jobs' spec
files): task and agent, the final scores against the base model, the budget spent, every human
intervention, what the agent did and why (its messages, tool calls and notes), and per training
job its settings and curves (loss; reward for GRPO) as text sparklines with a small table.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from pathlib import Path

from agent_core.record import metrics
from agent_core.record.events import parse_ts, read_events
from agent_core.record.runs import EXTERNAL_AGENT, RunDir, is_external

SPARK = "▁▂▃▄▅▆▇█"
MAX_TIMELINE = 200
# A job's curves: label -> the metric names read (the first one present in each metric event).
# The reward is one curve, whichever of its names a job logged (the worker writes reward_mean
# and its alias reward, with the same value).
CURVES: dict[str, tuple[str, ...]] = {
    "loss": (metrics.LOSS,),
    "reward": metrics.REWARD_KEYS,
    "learning_rate": (metrics.LEARNING_RATE,),
    "kl": (metrics.KL,),
}
TABLE = ("loss", "reward", "learning_rate")  # the curves also shown as a table


def sparkline(values: list, width: int = 40) -> str:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:  # evenly spaced samples, the last one kept
        vals = [vals[round(i * (len(vals) - 1) / (width - 1))] for i in range(width)]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))] for v in vals)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _pct(v) -> str:
    return f"{v:.1%}" if isinstance(v, (int, float)) else "-"


def _md(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_report(run: RunDir, events: list[dict] | None = None) -> str:
    events = read_events(run.events_path) if events is None else events
    cfg = run.config()
    brief = next((e for e in events if e["type"] == "brief"), {})
    states = [e for e in events if e["type"] == "run_state"]
    final = states[-1] if states else {}
    budget = next((e for e in reversed(events) if e["type"] == "budget"), None)
    scores = [e for e in events if e["type"] == "score"]
    test = {e.get("role"): e for e in scores if e.get("split") == metrics.SPLIT_TEST}
    requests = {e.get("id"): e for e in events if e["type"] == "approval_request"}
    t0 = parse_ts(events[0].get("ts")) if events else None

    def at(ev: dict) -> str:
        t = parse_ts(ev.get("ts"))
        if t is None or t0 is None:
            return ""
        m, s = divmod(int(t - t0), 60)
        return f"{m // 60:d}:{m % 60:02d}:{s:02d}"

    out = [f"# Run {run.id}", ""]
    out.append(
        f"- **Task:** {brief.get('task') or cfg.get('task')}"
        + (f" — {_md(brief.get('description', ''), 300)}" if brief.get("description") else "")
    )
    out.append(f"- **Base model:** {brief.get('base_model') or cfg.get('model')}")
    out.append(
        f"- **Agent:** {cfg.get('agent')}" + (f" — **{EXTERNAL_AGENT}**" if is_external(cfg.get("agent")) else "")
    )
    out.append(
        "- **Sandbox:** "
        + (
            "**NONE** — started with --unsafe-no-sandbox: the agent's code ran with the user's powers"
            if cfg.get("unsafe_no_sandbox")
            else "bubblewrap (the agent's code saw only its workspace, no network)"
        )
    )
    out.append(
        f"- **Outcome:** {final.get('state', 'unknown')}" + (f" ({final['reason']})" if final.get("reason") else "")
    )
    resumes = [e for e in states if e.get("resumed") and e.get("state") == "running"]
    if resumes:
        out.append(
            f"- **Resumed** {len(resumes)} time(s) after the daemon stopped: "
            + "; ".join(_md(e.get("note", ""), 300) for e in resumes)
        )
    out.append("")

    out += ["## Result", ""]
    if "submitted" in test:
        base, sub = test.get("base", {}).get("value"), test["submitted"].get("value")
        delta = f" ({sub - base:+.1%})" if isinstance(base, (int, float)) and isinstance(sub, (int, float)) else ""
        out.append(
            f"Hidden test split: base model **{_pct(base)}** → submitted "
            f"`{test['submitted'].get('checkpoint')}` **{_pct(sub)}**{delta}."
        )
    else:
        out.append(
            "Nothing was submitted, so the run's result is the untouched base model"
            + (f" ({_pct(test['base'].get('value'))} on the hidden test split)." if "base" in test else ".")
        )
    dev = [e for e in scores if e.get("split") == metrics.SPLIT_DEV]
    if dev:
        out += ["", "Dev scores (the agent's evaluations):", "", "| checkpoint | dev | at |", "|---|---|---|"]
        out += [f"| {e.get('checkpoint')} | {_pct(e.get('value'))} | {at(e)} |" for e in dev]
    out.append("")

    out += ["## Budget", ""]
    if budget:
        sp, lim = budget.get("spent", {}), budget.get("limits", {})
        gpus = any(e.get("gpus") for e in events if e["type"] == "host_sample")
        unit = "GPU-hours" if gpus else "device-hours (no GPU: job wall time)"
        rows = [
            (
                "wall clock",
                f"{sp.get('wall_s', 0) / 60:.1f} min",
                f"{lim['wall_s'] / 60:.1f} min" if lim.get("wall_s") else "-",
            ),
            (unit, f"{sp.get('gpu_h', 0):.3f}", _fmt(lim.get("gpu_h"))),
            ("model tokens", f"{sp.get('tokens', 0):,}", f"{lim['tokens']:,}" if lim.get("tokens") else "-"),
            ("model spend", f"${sp.get('usd', 0):.2f}", f"${lim['usd']:.2f}" if lim.get("usd") else "-"),
        ]
        out += ["| | spent | limit |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
        out.append(f"\nLargest fraction used: {budget.get('frac', 0):.0%}.")
    else:
        out.append("No budget figures were logged.")
    warnings = [e for e in events if e["type"] == "alert" and e.get("rule") == "budget_overrun"]
    for w in warnings:
        out.append(f"- {at(w)} [{w.get('severity')}] {_md(w.get('message', ''), 200)}")
    out.append("")

    out += ["## Human interventions", ""]
    found = False
    for e in events:
        if e["type"] == "human_nudge":
            out.append(f"- {at(e)} **message** to the agent: {_md(e.get('text', ''))}")
        elif e["type"] == "approval_decision":
            req = requests.get(e.get("id"), {})
            why = f" — reason: {_md(e['reason'], 300)}" if e.get("reason") else ""
            out.append(
                f"- {at(e)} **{e.get('decision')}** ({e.get('scope')}, by {e.get('by')}) "
                f"[{req.get('rule', '?')}] {_md(req.get('summary', ''), 200)}{why}"
            )
        elif e["type"] == "run_state" and e.get("state") == "paused":
            out.append(f"- {at(e)} **paused**")
        elif e["type"] == "run_state" and e.get("state") == "stopping" and "person" in str(e.get("reason", "")):
            out.append(f"- {at(e)} **stopped** the run")
        else:
            continue
        found = True
    if not found:
        out.append("None.")
    out.append("")

    notes = [e for e in events if e["type"] == "note"]
    if notes:
        out += ["## The agent's notes", ""] + [f"- {_md(e.get('text', ''))}" for e in notes] + [""]

    out += _jobs_section(run, events)

    out += ["## What the agent did and why", ""]
    results = {e.get("id"): e for e in events if e["type"] == "tool_result"}
    lines = []
    for e in events:
        if e["type"] == "agent_message":
            lines.append(f"- {at(e)} agent: {_md(e.get('text', ''))}")
        elif e["type"] == "tool_call":
            r = results.get(e.get("id"))
            args = json.dumps(e.get("args", {}), ensure_ascii=False, default=str)
            res = (
                ("→ " + ("ok" if r.get("ok") else "FAILED") + ": " + _md(r.get("summary", ""), 200))
                if r
                else "→ (no result)"
            )
            lines.append(f"- {at(e)} `{e.get('tool')}({_md(args, 160)})` {res}")
        elif e["type"] == "human_nudge":
            lines.append(f"- {at(e)} **person:** {_md(e.get('text', ''))}")
        elif e["type"] == "alert" and e.get("rule") != "budget_overrun":
            lines.append(f"- {at(e)} alert [{e.get('severity')}] {e.get('rule')}: {_md(e.get('message', ''), 200)}")
    if len(lines) > MAX_TIMELINE:
        cut = len(lines) - MAX_TIMELINE
        lines = (
            lines[: MAX_TIMELINE // 2]
            + [f"- … {cut} entries left out (see `tinker-tui show {run.id}`)"]
            + lines[-MAX_TIMELINE // 2 :]
        )
    out += lines or ["(no actions)"]
    out.append("")
    return "\n".join(out)


def _jobs_section(run: RunDir, events: list[dict]) -> list[str]:
    jobs: dict[str, dict] = {}
    for e in events:
        if e["type"] == "job_state":
            jobs.setdefault(e["job"], {"metrics": [], "state": None, "detail": ""})
            jobs[e["job"]]["state"] = e.get("state")
            jobs[e["job"]]["detail"] = e.get("detail", "")
        elif e["type"] == "metric" and e.get("job") in jobs:
            jobs[e["job"]]["metrics"].append(e)
    if not jobs:
        return []
    out = ["## Training jobs", ""]
    for job_id, j in jobs.items():
        try:
            spec = json.loads((run.jobs / f"{job_id}.json").read_text())
        except (OSError, ValueError):
            spec = {}
        setup = ", ".join(
            f"{k} {_fmt(spec[k])}"
            for k in (
                "method",
                "learning_rate",
                "num_train_epochs",
                "max_steps",
                "per_device_train_batch_size",
                "lr_scheduler_type",
                "lora",
            )
            if spec.get(k) is not None
        )
        parent = (spec.get("lineage") or {}).get("parent")
        resumed = spec.get("resumed_from")
        out.append(f"### {job_id}: {j['state']}" + (f" — {_md(j['detail'], 160)}" if j["detail"] else ""))
        out.append("")
        out.append(
            f"{setup or 'no spec'}"
            + (f"; from {parent}" if parent else "")
            + (f"; continues {resumed.get('job')} from step {resumed.get('step')}" if resumed else "")
        )
        out.append("")
        series: dict[str, list] = {}
        rows: list[dict] = []  # per metric event: curve label -> value
        steps = []
        for m in j["metrics"]:
            steps.append(m.get("step"))
            values = m.get("values") or {}
            row = {}
            for label, names in CURVES.items():
                key = metrics.first_present(values, names)
                if key is not None:
                    row[label] = values[key]
                    series.setdefault(label, []).append(values[key])
            rows.append(row)
        if not series:
            out += ["(no metrics)", ""]
            continue
        out.append("```")
        for key, vals in series.items():
            finite = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
            if finite:
                out.append(
                    f"{key:>13} {sparkline(vals)}  first {_fmt(finite[0])} min {_fmt(min(finite))} "
                    f"last {_fmt(finite[-1])}"
                )
        out.append("```")
        n = len(steps)
        pick = sorted({round(i * (n - 1) / 5) for i in range(6)}) if n > 6 else range(n)
        keys = [k for k in TABLE if k in series]
        out += ["", "| step | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for i in pick:
            out.append(f"| {steps[i]} | " + " | ".join(_fmt(rows[i].get(k)) for k in keys) + " |")
        out.append("")
    return out


def write_report(run: RunDir) -> Path:
    path = run.path / "REPORT.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(build_report(run), encoding="utf-8")
    tmp.replace(path)
    return path


def write_records(run: RunDir) -> None:
    """At a run's end: the ledger line (memory across runs) and REPORT.md; neither may break the
    daemon's shutdown."""
    from agent_core.daemon import memory

    for what, fn in (("ledger", lambda: memory.record_run(run)), ("REPORT.md", lambda: write_report(run))):
        try:
            fn()
        except Exception:
            print(f"writing the {what} failed:", file=sys.stderr)
            traceback.print_exc()
