"""Memory across runs: a ledger in the runs home, one JSON line per ended run.

    <home>/ledger.jsonl   {"run", "ended", "task", "base_model", "agent", "state", "reason",
                           "jobs": [{"job", "method", "learning_rate", "epochs", "max_steps",
                                     "batch_size", "lora", "lora_r", "lr_scheduler_type", "parent",
                                     "resumed_from", "state", "dev"}],
                           "dev": {checkpoint: score}, "test": {"base", "submitted", "checkpoint"},
                           "notes": [text], "interventions": [{"kind": nudge|approve|veto,
                           "text" | "rule" + "reason" + "by"}], "spent": {budget spent}}

Written by the daemon when a run ends (`record_run`, once per run: a resumed run that ends
replaces nothing, it is written then). A new run's Brief gets `digest()`: the earlier runs of
the same task and base model first, then the same task, then the same base model, newest first,
at most `max_chars` characters; and `best_prior()`: the training config with the best dev
score for the same task and base model, among jobs trained from the base model (decisions use
dev scores; the harness's test scores are shown for the record only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from agent_core.record.events import read_events
from agent_core.record.runs import RunDir

LEDGER = "ledger.jsonl"
DIGEST_CHARS = 1500


def ledger_path(home: Path) -> Path:
    return Path(home) / LEDGER


def read_ledger(home: Path) -> list[dict]:
    """One entry per run (a run written again, e.g. resumed after a daemon error, keeps its
    last entry), in the order first written; corrupt lines are skipped."""
    out: dict[str, dict] = {}
    try:
        with open(ledger_path(home), encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("run"):
                    out[str(entry["run"])] = entry
    except OSError:
        pass
    return list(out.values())


def build_entry(run: RunDir, events: list[dict] | None = None) -> dict:
    events = read_events(run.events_path) if events is None else events
    cfg = run.config()
    jobs: dict[str, dict] = {}
    dev: dict[str, float] = {}
    test: dict = {}
    notes, interventions, spent = [], [], {}
    requests: dict[str, dict] = {}
    state, reason, brief = None, "", {}
    for ev in events:
        t = ev["type"]
        if t == "job_state" and ev.get("job") not in jobs:
            jobs[ev["job"]] = _job_config(run, str(ev["job"]))
        if t == "job_state" and ev.get("job") in jobs:
            jobs[ev["job"]]["state"] = ev.get("state")
        elif t == "score" and isinstance(ev.get("value"), (int, float)):
            if ev.get("split") == "test" and ev.get("role") in ("base", "submitted"):
                test[ev["role"]] = ev["value"]
                if ev["role"] == "submitted":
                    test["checkpoint"] = ev.get("checkpoint")
            elif ev.get("split") == "dev":
                dev[str(ev.get("checkpoint"))] = ev["value"]
        elif t == "note":
            notes.append(str(ev.get("text", ""))[:300])
        elif t == "human_nudge":
            interventions.append({"kind": "nudge", "text": str(ev.get("text", ""))[:300]})
        elif t == "approval_request":
            requests[str(ev.get("id"))] = ev
        elif t == "approval_decision":
            req = requests.get(str(ev.get("id")), {})
            interventions.append(
                {
                    "kind": ev.get("decision"),
                    "rule": req.get("rule"),
                    "by": ev.get("by"),
                    "reason": str(ev.get("reason") or "")[:300],
                    "what": str(req.get("summary") or "")[:160],
                }
            )
        elif t == "budget" and isinstance(ev.get("spent"), dict):
            spent = ev["spent"]
        elif t == "run_state":
            state, reason = ev.get("state"), ev.get("reason", reason)
        elif t == "brief":
            brief = ev
    for job_id, job in jobs.items():
        if job_id in dev:
            job["dev"] = dev[job_id]
    return {
        "run": run.id,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task": brief.get("task") or cfg.get("task"),
        "base_model": brief.get("base_model") or cfg.get("model"),
        "agent": cfg.get("agent"),
        "state": state,
        "reason": reason,
        "jobs": list(jobs.values()),
        "dev": dev,
        "test": test,
        "notes": notes[-10:],
        "interventions": interventions[-20:],
        "spent": spent,
    }


def _job_config(run: RunDir, job: str) -> dict:
    try:
        spec = json.loads((run.jobs / f"{job}.json").read_text())
    except (OSError, ValueError):
        spec = {}
    lineage = spec.get("lineage") or {}
    out = {
        "job": job,
        "method": spec.get("method"),
        "learning_rate": spec.get("learning_rate"),
        "epochs": spec.get("num_train_epochs"),
        "max_steps": spec.get("max_steps"),
        "batch_size": spec.get("per_device_train_batch_size"),
        "lora": spec.get("lora"),
        "lora_r": spec.get("lora_r"),
        "lr_scheduler_type": spec.get("lr_scheduler_type"),
        "parent": lineage.get("parent"),
        "resumed_from": lineage.get("resumed_from"),
    }
    return {k: v for k, v in out.items() if v is not None}


def record_run(run: RunDir, home: Path | None = None, events: list[dict] | None = None) -> dict | None:
    """Append the run's entry to the ledger. Once per ending: a second call with nothing new is a
    no-op; a run that ended again (resumed) gets a newer entry that replaces the old one for
    readers. A run that made no tool call (it never got going) is not recorded."""
    events = read_events(run.events_path) if events is None else events
    if not any(e["type"] == "tool_call" for e in events):
        return None
    home = Path(home) if home else run.path.parent.parent
    entry = build_entry(run, events)
    old = next((e for e in read_ledger(home) if e.get("run") == run.id), None)
    if old is not None and {k: v for k, v in old.items() if k != "ended"} == json.loads(
        json.dumps({k: v for k, v in entry.items() if k != "ended"}, default=str)
    ):
        return None
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    fd = os.open(ledger_path(home), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write of one line: runs ending together do not interleave
    finally:
        os.close(fd)
    return entry


def _relevant(entries: list[dict], task: str, base_model: str, exclude: str | None) -> list[dict]:
    def rank(e: dict) -> int:
        same_task, same_model = e.get("task") == task, e.get("base_model") == base_model
        return 0 if same_task and same_model else 1 if same_task else 2 if same_model else 3

    picked = [e for e in entries if e.get("run") != exclude and rank(e) < 3]
    # newest first within each rank
    return sorted(reversed(picked), key=rank)


def _fmt_score(v) -> str:
    return f"{v:.1%}" if isinstance(v, (int, float)) else "?"


def _job_text(j: dict) -> str:
    parts = [j.get("method") or "train"]
    for key, label in (
        ("learning_rate", "lr"),
        ("epochs", "epochs"),
        ("max_steps", "steps"),
        ("batch_size", "batch"),
        ("lr_scheduler_type", "sched"),
    ):
        if j.get(key) is not None:
            parts.append(f"{label} {j[key]:g}" if isinstance(j[key], (int, float)) else f"{label} {j[key]}")
    parts.append(f"LoRA r{j.get('lora_r') or 16}" if j.get("lora") else "full")
    text = f"{j['job']} " + " ".join(parts)
    if j.get("dev") is not None:
        text += f" -> dev {_fmt_score(j['dev'])}"
    elif j.get("state") in ("failed", "stopped"):
        text += f" ({j['state']})"
    return text


def entry_text(e: dict) -> str:
    test = e.get("test") or {}
    head = f"- {e.get('run')} [{e.get('task')}, {e.get('base_model')}, agent {e.get('agent')}]: {e.get('state')}"
    if "submitted" in test:
        head += (
            f"; harness test {_fmt_score(test.get('base'))} (base) -> {_fmt_score(test['submitted'])} "
            f"({test.get('checkpoint')})"
        )
    else:
        head += "; nothing submitted"
    lines = [head]
    jobs = [j for j in e.get("jobs", []) if j.get("method") or j.get("learning_rate")]
    if jobs:
        lines.append("  jobs: " + "; ".join(_job_text(j) for j in jobs[:4]) + (" ..." if len(jobs) > 4 else ""))
    if (e.get("dev") or {}).get("base") is not None:
        lines.append(f"  base dev {_fmt_score(e['dev']['base'])}")
    if e.get("notes"):
        lines.append("  notes: " + " | ".join(n[:160] for n in e["notes"][-3:]))
    person = []
    for i in e.get("interventions", [])[-4:]:
        if i.get("kind") == "nudge":
            person.append(f"said {i.get('text', '')[:100]!r}")
        elif i.get("by") in ("person", None) or str(i.get("by", "")).startswith("--"):
            why = f" ({i['reason'][:80]})" if i.get("reason") else ""
            person.append(f"{i.get('kind')} {i.get('rule')}{why}")
    if person:
        lines.append("  the person: " + "; ".join(person))
    return "\n".join(lines)


def digest(home: Path, task: str, base_model: str, *, exclude: str | None = None, max_chars: int = DIGEST_CHARS) -> str:
    """A short text on the relevant earlier runs, or '' when there are none."""
    picked = _relevant(read_ledger(home), task, base_model, exclude)
    if not picked:
        return ""
    out = "Earlier runs (newest first; same task and base model first):"
    for e in picked:
        text = entry_text(e)
        if len(out) + 1 + len(text) > max_chars:
            short = text.splitlines()[0]
            if len(out) + 1 + len(short) > max_chars:
                break
            text = short
        out += "\n" + text
    return out


def best_prior(home: Path, task: str, base_model: str, *, exclude: str | None = None) -> dict:
    """The config of the earlier job with the best dev score on this task and base model:
    {"run", "job", "dev", "learning_rate", "epochs", "batch_size", "lora", ...} or {}."""
    best: dict = {}
    for e in read_ledger(home):
        if e.get("run") == exclude or e.get("task") != task or e.get("base_model") != base_model:
            continue
        base_dev = (e.get("dev") or {}).get("base")
        for j in e.get("jobs", []):
            if j.get("parent") not in (None, "base") or j.get("resumed_from"):
                continue  # a continuation's settings do not reproduce its score from the base model
            dev = j.get("dev")
            if not isinstance(dev, (int, float)) or (isinstance(base_dev, (int, float)) and dev <= base_dev):
                continue
            if not best or dev > best["dev"]:
                best = {"run": e["run"], **j}
    return best
