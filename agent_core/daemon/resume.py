"""Resume a run whose daemon is gone (crash, SIGKILL, reboot): `tinker-tui resume RUN`.

A new daemon (`python -m agent_core.daemon RUN_DIR --resume`) appends to the same event log:

1. `LogState.read(run)` reduces the log: call, approval and job counters (ids go on, never
   repeat), the jobs with their specs and checkpoints, the submission, what the budget spent,
   and the agent's transcript (messages, tool calls with their results, the person's nudges).
2. Worker processes the dead daemon left behind are killed; every job that was queued or
   running is logged `job_state failed` with detail "interrupted: ...", and restarted as a new
   job from its latest complete intermediate checkpoint (`save_steps`; `lineage.json` marks a
   complete one), else from the job's own parent, for the remaining steps. The new job's spec
   says `resumed_from`; the old id becomes an alias of the new one (a `wait`, `evaluate` or
   `submit` naming the old job reaches the new one). The optimizer state is not carried over
   and a decaying LR schedule restarts over the remaining steps (constant, the default, is
   unaffected).
3. The agent's context is rebuilt from the log. The LLM agent gets its transcript back
   (`LLMAgent.restore`: tool calls, results and the person's messages, fitted to its context
   budget by agent_core/agents/context.py) and a note on what the resume did. Deterministic agents
   (playbook, script) are replayed: fed the logged outcomes of their completed calls, so they
   skip the steps already done; the first action that the log does not hold runs live.
4. A run that had already submitted goes straight to the harness.

A run whose daemon is alive, or that ended (finished / failed), is refused with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_core.agents.base import Action, Agent, Call, Say, ToolOutcome
from agent_core.agents.markers import NOTE_PREFIX
from agent_core.agents.tools import Toolbox
from agent_core.record.events import LIVE_JOB_STATES, parse_ts, read_events
from agent_core.record.runs import RunDir
from agent_core.training.jobs import Job, JobManager
from agent_core.training.models import RunModels

ENDED_STATES = ("finished", "failed")
INTERRUPTED = "interrupted: the daemon stopped while the job ran"


class ResumeError(RuntimeError):
    pass


def check_resumable(run: RunDir) -> None:
    """Raise ResumeError with a sentence for the person when `run` cannot be resumed."""
    if not run.config_path.exists():
        raise ResumeError(f"{run.path} is not a run directory")
    pid = run.daemon_pid()
    if pid is not None:
        raise ResumeError(f"run {run.id} is still running (daemon pid {pid}); attach to it instead")
    events = read_events(run.events_path)
    if not events:
        raise ResumeError(f"run {run.id} has no events: it never started; start a new run")
    states = [e for e in events if e["type"] == "run_state"]
    last = states[-1] if states else {}
    if last.get("state") in ENDED_STATES:
        why = f" ({last['reason']})" if last.get("reason") else ""
        raise ResumeError(f"run {run.id} has ended: {last['state']}{why}; nothing to resume")


@dataclass
class JobRecord:
    id: str
    state: str = "queued"
    spec: dict = field(default_factory=dict)
    step: int = 0
    checkpoints: list = field(default_factory=list)  # (step, path) from `checkpoint` events
    started: float | None = None
    ended: float | None = None
    detail: str = ""


@dataclass
class LogState:
    events: list
    calls: int = 0
    approvals: int = 0
    submitted: str | None = None
    scored: bool = False
    jobs: dict = field(default_factory=dict)  # id -> JobRecord, in start order
    spent: dict = field(default_factory=dict)
    last_seq: int = 0
    aliases: dict = field(default_factory=dict)  # from earlier resumes: old job -> new job
    undecided: list = field(default_factory=list)  # approval requests the dead daemon left pending
    last_state: str | None = None
    stop_reason: str | None = None  # a stop the dead daemon acknowledged: resume honours it
    pause_requested: bool = False  # an acknowledged pause (or a paused run) stays paused
    installed: bool = False  # the task's data and hidden split were installed (hidden_installed)

    @classmethod
    def read(cls, run: RunDir) -> "LogState":
        events = read_events(run.events_path)
        st = cls(events, last_seq=events[-1]["seq"] if events else 0)
        for ev in events:
            t = ev["type"]
            if t == "tool_call":
                st.calls += 1
            elif t == "approval_request":
                st.approvals += 1
                st.undecided.append(ev.get("id"))
            elif t == "approval_decision" and ev.get("id") in st.undecided:
                st.undecided.remove(ev.get("id"))
            elif t == "submitted":
                st.submitted = ev.get("checkpoint")
            elif t == "score" and ev.get("split") == "test" and ev.get("role") == "submitted":
                st.scored = True
            elif t == "budget" and isinstance(ev.get("spent"), dict):
                st.spent = dict(ev["spent"])
            elif t == "job_state":
                job = st.jobs.setdefault(str(ev.get("job")), JobRecord(str(ev.get("job"))))
                job.state, job.detail = ev.get("state", job.state), ev.get("detail", "")
                ts = parse_ts(ev.get("ts"))
                if job.state == "running" and job.started is None:
                    job.started = ts
                if job.state in ("finished", "stopped", "failed"):
                    job.ended = ts
            elif t == "metric" and ev.get("job") in st.jobs:
                st.jobs[ev["job"]].step = int(ev.get("step") or 0)
            elif t == "checkpoint" and ev.get("job") in st.jobs:
                st.jobs[ev["job"]].checkpoints.append((int(ev.get("step") or 0), str(ev.get("path"))))
            elif t == "control":
                if ev.get("cmd") in ("pause", "resume"):
                    st.pause_requested = ev.get("cmd") == "pause"
            elif t == "hidden_installed":
                st.installed = True
            elif t == "run_state":
                st.last_state = ev.get("state")
                if st.last_state == "stopping" and st.stop_reason is None:
                    st.stop_reason = str(ev.get("reason") or "stopped before the daemon died")
                elif st.last_state == "paused":
                    st.pause_requested = True
                if isinstance(ev.get("aliases"), dict):
                    st.aliases.update(ev["aliases"])
        if not st.spent and events:
            first, last = parse_ts(events[0].get("ts")), parse_ts(events[-1].get("ts"))
            st.spent = {"wall_s": max(0.0, (last or 0) - (first or 0))}
        for job in st.jobs.values():
            try:
                job.spec = json.loads((run.jobs / f"{job.id}.json").read_text())
            except (OSError, ValueError):
                job.spec = {}
        return st

    def interrupted(self) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.state in LIVE_JOB_STATES]

    def transcript(self) -> list[dict]:
        """The agent's side of the log, in order: say / call (with its result, or None when the
        daemon died during the call) / nudge / veto and approval decisions."""
        out: list[dict] = []
        calls: dict[str, dict] = {}
        for ev in self.events:
            t = ev["type"]
            if t == "agent_message" and not str(ev.get("text", "")).startswith(NOTE_PREFIX):
                out.append({"kind": "say", "text": str(ev.get("text", "")), "seq": ev["seq"]})
            elif t == "tool_call":
                entry = {
                    "kind": "call",
                    "id": ev.get("id"),
                    "tool": ev.get("tool"),
                    "args": ev.get("args") or {},
                    "result": None,
                    "seq": ev["seq"],
                    "scores": [],
                }
                calls[str(ev.get("id"))] = entry
                out.append(entry)
            elif t == "tool_result" and str(ev.get("id")) in calls:
                calls[str(ev["id"])]["result"] = {
                    "ok": bool(ev.get("ok")),
                    "summary": str(ev.get("summary", "")),
                    "data": ev.get("data") if isinstance(ev.get("data"), dict) else {},
                    "denied": bool(ev.get("denied")),
                }
            elif t == "score" and ev.get("role") == "agent" and out:
                for entry in reversed(out):
                    if entry["kind"] == "call" and entry["tool"] == "evaluate":
                        entry["scores"].append(ev)
                        break
            elif t == "human_nudge":
                out.append({"kind": "nudge", "text": str(ev.get("text", "")), "seq": ev["seq"]})
        return out


# -- jobs ---------------------------------------------------------------------------------------------
def kill_orphan_workers(run: RunDir) -> list[int]:
    """SIGKILL the worker processes (training, evaluation, launchers) whose spec file lies in
    this run's jobs/ folder: left behind by a dead daemon, they would race the restarted job."""
    jobs_dir = str(run.jobs)
    killed = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if any(a.startswith(jobs_dir + os.sep) and a.endswith(".json") for a in args):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except OSError:
                pass
    return killed


def planned_steps(spec: dict) -> int | None:
    """A train spec's total optimizer steps, as the HF Trainer counts them."""
    if isinstance(spec.get("max_steps"), int) and spec["max_steps"] > 0:
        return int(spec["max_steps"])
    try:
        with open(spec["dataset"], encoding="utf-8") as fh:
            n = sum(1 for line in fh if line.strip())
    except (OSError, KeyError, TypeError):
        return None
    batch = int(spec.get("per_device_train_batch_size") or 16)
    accum = int(spec.get("gradient_accumulation_steps") or 1)
    per_epoch = max(math.ceil(n / batch) // accum, 1)
    return math.ceil(float(spec.get("num_train_epochs") or 1.0) * per_epoch)


def with_save_steps(spec: dict, save_steps: int | None) -> dict:
    """A training spec that saves intermediate checkpoints, so that a resumed run continues from
    one: every `save_steps` steps (the run's setting; 0: never), else about three times a job
    (every planned/4 steps, at least 50)."""
    if spec.get("mode") != "train" or spec.get("save_steps"):
        return spec
    n = save_steps
    if n is None:
        total = planned_steps(spec)
        n = max(50, total // 4) if total else 0
    return {**spec, "save_steps": int(n)} if n else spec


def latest_checkpoint(job: JobRecord) -> tuple[int, Path] | None:
    """The job's newest complete intermediate checkpoint (lineage.json written last marks it)."""
    found: dict[int, Path] = {}
    out = Path(job.spec.get("output_dir") or "")
    if out.is_dir():
        for p in out.glob("step-*"):
            m = re.fullmatch(r"step-(\d+)", p.name)
            if m:
                found[int(m.group(1))] = p
    for step, path in job.checkpoints:
        if Path(path).name.startswith("step-"):
            found.setdefault(step, Path(path))
    good = [(s, p) for s, p in found.items() if (p / "lineage.json").is_file() and (p / "config.json").is_file()]
    return max(good) if good else None


def restart_spec(job: JobRecord, new_id: str, checkpoints_dir: Path) -> tuple[dict, str]:
    """The spec that continues an interrupted job, and a sentence saying from where."""
    spec = dict(job.spec)
    total = planned_steps(spec)
    ckpt = latest_checkpoint(job)
    done = ckpt[0] if ckpt else 0
    if ckpt:
        spec["init_from"] = str(ckpt[1])
        where = f"from its step-{done} checkpoint"
    else:
        where = (
            "from its parent ("
            + (Path(spec["init_from"]).name if spec.get("init_from") else "the base model")
            + "), no intermediate checkpoint was saved"
        )
    remaining = max(1, (total - done) if total else 1)
    spec["max_steps"] = remaining
    if spec.get("warmup_steps"):
        spec["warmup_steps"] = max(0, int(spec["warmup_steps"]) - done)
    spec["output_dir"] = str(checkpoints_dir / new_id)
    spec["resumed_from"] = {"job": job.id, "step": done}
    lineage = dict(spec.get("lineage") or {})
    lineage["resumed_from"] = f"{job.id}@step-{done}" if ckpt else job.id
    spec["lineage"] = lineage
    return spec, f"{job.id} restarts as {new_id} {where} for the remaining {remaining} steps"


def restore_jobs(jobs: JobManager, st: LogState, aliases: dict[str, str]) -> None:
    """Put the earlier jobs back in the JobManager (their ids stay taken; finished ones keep their
    checkpoints for evaluate / submit), and the job aliases of earlier resumes."""
    for rec in st.jobs.values():
        spec = rec.spec
        job = Job(
            rec.id,
            spec,
            jobs.jobs_dir / f"{rec.id}.json",
            Path(spec.get("output_dir") or ""),
            state=rec.state,
            step=rec.step,
            total=planned_steps(spec) if spec else None,
            started=rec.started or time.time(),
            ended=rec.ended,
        )
        out = Path(spec.get("output_dir") or "")
        if rec.state in ("finished", "stopped") and (out / "lineage.json").is_file():
            job.result = {"checkpoint": str(out)}
        elif rec.state == "failed":
            job.error = {
                "kind": "interrupted" if rec.detail.startswith("interrupted") else "failed",
                "message": rec.detail,
                "step": rec.step,
            }
        jobs.restore(job)
    aliases.update(st.aliases)


async def restart_interrupted(
    jobs: JobManager, models: RunModels, aliases: dict[str, str], st: LogState, restart: bool = True
) -> list[str]:
    """Mark the jobs the dead daemon left running as failed (interrupted) and (restart: the run
    has not submitted yet) start each again from its latest checkpoint. One sentence per job."""
    notes = []
    for rec in st.interrupted():
        jobs.mark_interrupted(rec.id, INTERRUPTED, rec.step)
        if rec.spec.get("mode") != "train" or not restart:
            continue
        new_id = f"job{len(jobs.jobs) + 1}"
        spec, why = restart_spec(rec, new_id, models.run_path / "checkpoints")
        await models.ensure_base()
        new = await jobs.start(spec)
        if new.id != new_id:  # the JobManager names jobs; keep the output folder's name in step
            why = why.replace(new_id, new.id)
        aliases[rec.id] = new.id
        for old, target in list(aliases.items()):
            if target == rec.id:
                aliases[old] = new.id
        notes.append(why)
    return notes


# -- the agent ---------------------------------------------------------------------------------------
RERUN = ("list_datasets", "list_files", "read_file")  # cheap, read-only: run again for their whole data


async def outcome_of(toolbox: Toolbox, entry: dict) -> ToolOutcome:
    """The ToolOutcome a completed call had, rebuilt from the log: the facts its tool_result
    recorded (job, state, score...); cheap read-only tools are run again for their whole data."""
    tool, args, res = entry["tool"], entry["args"], entry["result"]
    data: dict[str, Any] = dict(res.get("data") or {})
    if res["ok"] and (
        tool in RERUN or (tool == "load_dataset" and toolbox.ctx.files.dataset_path(str(args.get("name", ""))))
    ):
        try:
            data = (await toolbox.call(tool, dict(args))).data
        except Exception:
            pass
    return ToolOutcome(tool, res["ok"], res["summary"], data, denied=res.get("denied", False))


async def replay(toolbox: Toolbox, agent: Agent, st: LogState) -> Action | None:
    """Feed a deterministic agent the outcomes of its completed calls. Returns its first action
    the log does not hold (to run live), or None when it has none left to replay."""
    entries = st.transcript()
    done_calls = [e for e in entries if e["kind"] == "call" and e["result"] is not None]
    nudges = [e for e in entries if e["kind"] == "nudge"]
    last = None
    for entry in done_calls:
        while nudges and nudges[0]["seq"] < entry["seq"]:
            agent.on_nudge(nudges.pop(0)["text"])
        action = _next_call(agent, last)
        if not isinstance(action, Call) or action.tool != entry["tool"]:
            return action  # the agent goes another way than the log: from here on it runs live
        last = await outcome_of(toolbox, entry)
    for n in nudges:
        agent.on_nudge(n["text"])
    return _next_call(agent, last)


def _next_call(agent: Agent, last: ToolOutcome | None) -> Action:
    for _ in range(200):  # Says were logged the first time round: skip them
        action = agent.next_action(last)
        last = None
        if not isinstance(action, Say):
            return action
    return action


def resume_note(st: LogState, notes: list[str]) -> str:
    jobs = "; ".join(notes) if notes else "no training job was running"
    return (
        f"[tinker-tui] The run was interrupted (its supervisor process stopped) and has been resumed "
        f"from the event log. {jobs}. Old job ids still work: they point to the job that continues "
        f"them. Check job_status or wait before deciding what to do next."
    )
