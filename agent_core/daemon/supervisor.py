"""The supervisor daemon: one per run, detached from any terminal.

It owns the event log, the agent loop, the training subprocesses and the control socket.
Start it with `python -m agent_core.daemon.supervisor RUN_DIR` (agent_core.daemon.launch does this in a new
session, so closing the terminal or the UI leaves the run going).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from agent_core.training import base_models, tasks
from agent_core.oversight import fence, hidden
from agent_core.daemon import memory, report, resume
from agent_core.agents import Brief, Call, Done, Say, ToolOutcome, make_agent
from agent_core.oversight.approvals import Approvals
from agent_core.oversight.budget import Budget, BudgetError, load_prices
from agent_core.record.control import COMMANDS, MAX_REQUEST, peer_uid, sock_address
from agent_core.record.events import EventLog
from agent_core.daemon.host import HostSampler
from agent_core.training.jobs import JobManager, WorkerError
from agent_core.oversight.policy import Verdict, gate
from agent_core.oversight.policy_file import Policy
from agent_core.record.secrets import redact, redact_obj
from agent_core.record.runs import RunDir
from agent_core.agents.tools import ToolArgError, Toolbox, check_args
from agent_core.agents.markers import ALERT_MARK, ALERT_SEP, NOTE_PREFIX, PERSON_VETOED, POLICY_DENIED
from agent_core.oversight.watchdogs import Watchdogs
from agent_core.training.workspace import Workspace

HOST_SAMPLE_S = 2.0
BUDGET_EVENT_S = 5.0  # a `budget` event at every step boundary, and at most this often otherwise


class StopRun(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Supervisor:
    def __init__(self, run: RunDir):
        self.run = run
        self.cfg = run.config()
        self.log = EventLog(run.events_path)
        self.hidden_dir = run.path / "hidden"
        self.workspace_files = Workspace(run.workspace, run.path / "frozen")  # agent paths, safely
        self.hidden_hashes: dict[str, str] = {}  # sha256 of the hidden split and scorer, checked before scoring
        self.scorer: dict | None = None  # the task's scorer spec (set by prepare)
        self.base_model_path: Path | None = None
        self.state: str | None = None
        self.submitted: str | None = None
        self.pause_requested = False
        self.stop_reason: str | None = None
        self._resumed: asyncio.Event | None = None
        self._nudges: list[str] = []  # the person's messages, handed to the agent at its next step
        self.t0 = time.time()
        self.calls = 0
        self.jobs: JobManager
        self.approvals: Approvals
        self.agent_task: asyncio.Task | None = None
        self.agent = None
        self._contamination: dict = {}
        self.policy = Policy.from_json(self.cfg.get("policy"))  # agent_core.oversight.policy_file
        self.watchdogs = Watchdogs()
        self._new_alerts: list[dict] = []  # found by the watchdogs, not yet in the log
        self.agent_alerts: list[dict] = []  # in the log, not yet shown to the agent
        # Listeners run under the log's lock: collect here, emit from the loop.
        self.log.subscribe(lambda ev: self._new_alerts.extend(self.watchdogs.feed(ev)))
        self.budget: Budget | None = None
        self._budget_emitted = 0.0
        self.resume_info = None  # agent_core.daemon.resume.LogState when this daemon resumes a run
        self.job_aliases: dict[str, str] = {}  # an interrupted job -> the job that continues it
        self._first_action = None  # a resumed deterministic agent's first live action
        self.log.subscribe(self._budget_jobs)

    @property
    def workspace(self) -> Path:
        return self.run.workspace

    # -- state ----------------------------------------------------------------
    def set_state(self, state: str, **fields) -> None:
        if state != self.state:
            self.state = state
            self.log.emit("run_state", state=state, **fields)

    def interrupt_requested(self) -> bool:
        return self.pause_requested or self.stop_reason is not None

    def nudge_waiting(self) -> bool:
        """A message from the person waits for the agent (a parked `wait` wakes for it)."""
        return bool(self._nudges)

    def budget_s(self) -> float | None:
        return self.cfg.get("budget_s")

    # -- budgets (agent_core/oversight/budget.py) -------------------------------------------------------
    def _budget_jobs(self, ev: dict) -> None:
        """Log listener (runs under the log's lock: bookkeeping only): job running time for GPU-hours."""
        if ev.get("type") == "job_state" and self.budget is not None:
            if ev.get("state") == "running":
                job = getattr(self, "jobs", None) and self.jobs.jobs.get(str(ev.get("job")))
                procs = (job.spec.get("num_processes") if job else None) or 1
                self.budget.job_started(str(ev.get("job")), processes=procs if isinstance(procs, int) else 1)
            elif ev.get("state") in ("finished", "stopped", "failed"):
                self.budget.job_ended(str(ev.get("job")))

    def check_budget(self, step: bool = False) -> str | None:
        """Emit a `budget` event (at every step boundary, else at most every BUDGET_EVENT_S), write
        the 50/80/95/100% alerts (the agent reads them in its next tool result; a parked `wait`
        wakes), and return the stop reason once the grace after 100% is over."""
        b = self.budget
        if b is None:
            return None
        b.set_usage(getattr(self.agent, "usage", None))
        now = time.time()
        if step or now - self._budget_emitted >= BUDGET_EVENT_S:
            self._budget_emitted = now
            self.log.emit("budget", **b.event())
        alerts, stop = b.check(step)
        if alerts:
            self._new_alerts += alerts
            self.flush_alerts()
            if any(a["level"] >= 1.0 for a in alerts):
                hook = getattr(self.agent, "on_budget_spent", None)
                if hook:
                    hook()
        return stop

    # -- data and checkpoints (the policy gate's context) -----------------------
    def datasets(self) -> dict[str, Path]:
        """{name: workspace path} of the datasets (regular files in data/; never followed symlinks)."""
        return {name: self.run.workspace / rel for name, rel in self.workspace_files.datasets().items()}

    def dataset_path(self, name: str) -> Path | None:
        rel = self.workspace_files.dataset_rel(name, self.cfg.get("task", ""))
        return None if rel is None else self.run.workspace / rel

    def frozen_dataset(self, name: str) -> tuple[Path, str] | None:
        """(read-only copy, sha256) of a dataset, made now: what jobs, evaluations and checks read."""
        rel = self.workspace_files.dataset_rel(name, self.cfg.get("task", ""))
        return None if rel is None else self.workspace_files.freeze(rel)

    def checkpoints(self) -> dict[str, Path]:
        out = {}
        for job in self.jobs.jobs.values():
            if job.result and job.result.get("checkpoint"):
                out[job.id] = Path(job.result["checkpoint"])
        return out

    def checkpoint_path(self, name: str) -> Path | None:
        if name == "base":
            return self.base_model_path
        ckpts = self.checkpoints()
        if name == "latest" and ckpts:
            return list(ckpts.values())[-1]
        return ckpts.get(name)

    def contamination(self, dataset: str) -> list:
        """Reports of the dataset's overlap with the held-out splits (test, dev), checked on the
        frozen copy a job would train on; cached by content."""
        from agent_core.oversight.contamination import check, read_jsonl

        frozen = self.frozen_dataset(dataset)
        if frozen is None:
            return []
        path, sha = frozen
        if sha not in self._contamination:
            train = list(read_jsonl(str(path)))
            reports = []
            dev = self.frozen_dataset("dev")
            for split, held in (("test", self.hidden_dir / "test.jsonl"), ("dev", dev[0] if dev else None)):
                if held is not None and held.exists() and held != path:
                    reports.append(
                        check(
                            train,
                            read_jsonl(str(held)),
                            name=split,
                            threshold=self.policy.contamination.get(
                                "min_overlap", self.cfg.get("contamination_threshold", 0.5)
                            ),
                            **(
                                {"n": self.policy.contamination["ngram"]}
                                if "ngram" in self.policy.contamination
                                else {}
                            ),
                        )
                    )
            self._contamination[sha] = reports
        return self._contamination[sha]

    async def ensure_base(self) -> Path:
        """Make the base model folder the first time a tool needs it: build `tiny`, convert the
        smollm2 GGUF, or fetch an approved hub model (agent_core.training.base_models)."""
        path = self.base_model_path
        assert path is not None
        source = getattr(self, "base_source", None) or base_models.resolve("tiny", self.run.path)
        if source.built_here and not (path / "config.json").exists():
            async with self._base_lock:
                if not (path / "config.json").exists():
                    await self.jobs.run_once(source.build_spec(), "build-base", offline=source.kind != "download")
        return path

    async def _approve_base_download(self, model: str) -> None:
        """A hub model that is not in the local cache: fetching it is an outside download."""
        verdict = Verdict(
            "ask",
            "outside_download",
            f"the base model {model!r} is not on this machine: fetching it from the "
            f"Hugging Face hub downloads outside weights",
            {"source": model},
        )
        action = self.policy.action(verdict.rule, verdict.action)
        if action == "deny":
            raise StopRun(f"the policy denies downloading the base model {model!r}")
        if action == "ask":
            self.set_state("waiting_approval")
            decision = await self.approvals.ask("base", "load_base_model", {"model": model}, verdict)
            if not decision.approved:
                raise StopRun(
                    f"downloading the base model {model!r} was vetoed"
                    + (f": {decision.reason}" if decision.reason else "")
                )
            self.set_state("starting")

    async def evaluate(self, model: Path, data: Path, limit: int | None = None) -> dict:
        """Score `model` on `data` (a frozen copy or the hidden split) with the task's scorer, after
        checking that the hidden split and scorer are the ones installed at the start."""
        problem = hidden.verify(self.hidden_dir, self.hidden_hashes)
        if problem:
            raise WorkerError("bad_input", f"refusing to score: {problem}")
        spec = {
            "mode": "evaluate",
            "model": str(model),
            "dataset": str(data),
            "max_new_tokens": tasks.answer_budget(data),  # long answers are not cut short
            "scorer": self.scorer,
        }
        if limit:
            spec["limit"] = int(limit)
        return await self.jobs.run_once(spec, f"eval-{int(time.time() * 1000)}")

    # -- watchdogs ---------------------------------------------------------------
    def _job_planned(self, job) -> None:
        spec = job.spec
        self._new_alerts += self.watchdogs.job_started(
            job.id,
            total_steps=job.total,
            lr_scheduler_type=spec.get("lr_scheduler_type"),
            warmup_steps=spec.get("warmup_steps"),
            learning_rate=spec.get("learning_rate"),
            method=spec.get("method"),
            scheduler_steps=job.schedule_steps,
        )

    def flush_alerts(self) -> None:
        """Write what the watchdogs found; the agent sees it in its next tool result, and a
        high-severity alert pauses the run when the run's config says so."""
        found, self._new_alerts = self._new_alerts + self.watchdogs.tick(time.time()), []
        pause_on = self.cfg.get("auto_pause_on")  # e.g. "high"
        for alert in found:
            self.log.emit("alert", **alert)
            self.agent_alerts.append(alert)
            if pause_on and alert.get("severity") == pause_on and not self.pause_requested:
                self.pause_requested = True
                self.log.emit(
                    "agent_message", text=f"{NOTE_PREFIX} run paused by policy after the {alert['rule']} alert"
                )

    def take_agent_alerts(self) -> str:
        if not self.agent_alerts:
            return ""
        lines = [
            f"{a['rule']} ({a['severity']}): {a['message']}" + (f" Check: {a['check']}" if a.get("check") else "")
            for a in self.agent_alerts
        ]
        self.agent_alerts = []
        return ALERT_MARK + ALERT_SEP.join(lines)

    # -- control commands -------------------------------------------------------
    async def command(self, req: dict) -> dict:
        cmd = req.get("cmd")
        if cmd not in COMMANDS:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        if cmd == "status":
            return {
                "ok": True,
                "state": self.state,
                "pending": len(self.approvals.pending),
                "elapsed_s": round(time.time() - self.t0, 1),
                "budget_s": self.budget_s(),
            }
        if cmd == "pending":
            return {"ok": True, "pending": self.approvals.pending_requests()}
        if self.state in ("finished", "failed", "crashed", "stopping") and cmd != "stop":
            return {"ok": False, "error": f"the run is {self.state}"}
        if cmd == "pause":
            self.log.emit("control", cmd="pause", by="person")  # on disk before the reply: a crash keeps it
            self.pause_requested = True
            return {"ok": True, "note": "the agent pauses at its next step boundary"}
        if cmd == "resume":
            self.log.emit("control", cmd="resume", by="person")
            self.pause_requested = False
            if self._resumed:
                self._resumed.set()
            return {"ok": True}
        if cmd == "nudge":
            text = str(req.get("text") or "").strip()
            if not text:
                return {"ok": False, "error": "a nudge needs some text"}
            self.log.emit("human_nudge", text=text)
            self._nudges.append(text)
            return {"ok": True, "note": "the agent reads it at its next turn"}
        if cmd == "stop":
            self.request_stop("stopped by the person")
            return {"ok": True}
        if cmd in ("approve", "veto"):
            return self.approvals.decide(
                req.get("id"),
                cmd,
                scope=req.get("scope") or "once",
                # the server decides who decided: whatever reaches the
                # control socket is the person (no sandbox can reach it)
                reason=str(req.get("reason") or ""),
                by="person",
                edit=req.get("edit") if cmd == "approve" else None,
            )
        return {"ok": False, "error": "unhandled"}

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.set_state("stopping", reason=reason)
        self.approvals.cancel_all(f"the run is stopping ({reason})")
        cancel = getattr(self.agent, "cancel", None)
        if cancel:  # end an LLM request or retry backoff in flight
            cancel()
        if self._resumed:
            self._resumed.set()
        loop = asyncio.get_running_loop()
        loop.call_later(3.0, self._cancel_agent)

    def _cancel_agent(self) -> None:
        if self.agent_task and not self.agent_task.done():
            self.agent_task.cancel()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None and peer_uid(sock) not in (None, os.getuid()):
                reply = {"ok": False, "error": "permission denied: not the run's owner"}
            else:
                line = await asyncio.wait_for(reader.readline(), 10)
                try:
                    req = json.loads(line[:MAX_REQUEST]) if line else None
                except ValueError:
                    req = None
                if not isinstance(req, dict):
                    reply = {"ok": False, "error": "bad request: send one JSON object and a newline"}
                else:
                    reply = await self.command(req)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- the agent loop ---------------------------------------------------------
    async def step_boundary(self) -> None:
        if self.stop_reason:
            raise StopRun(self.stop_reason)
        spent = self.check_budget(step=True)
        if spent:
            self.log.emit("alert", rule="budget_overrun", severity="high", message=f"{spent}; stopping the agent")
            raise StopRun(spent)
        if self.pause_requested:
            self._resumed = asyncio.Event()
            self.set_state("paused")
            while self.pause_requested and not self.stop_reason:
                await self._resumed.wait()
                self._resumed.clear()
            if self.stop_reason:
                raise StopRun(self.stop_reason)
            self.set_state("running")

    async def agent_loop(self, agent) -> None:
        last: ToolOutcome | None = None
        if self.resume_info is not None and self.submitted:
            return  # resumed after the submission: only the harness is left
        while True:
            await self.step_boundary()
            while self._nudges:
                agent.on_nudge(self._nudges.pop(0))
            if self._first_action is not None:  # a replayed agent's first live action (resume)
                action, self._first_action = self._first_action, None
            else:
                action = await asyncio.to_thread(agent.next_action, last)
            if isinstance(action, Say):
                self.log.emit("agent_message", text=action.text)
                last = None
            elif isinstance(action, Call):
                last = await self.execute(action.tool, action.args)
                if action.tool == "submit" and last.ok:
                    return
            elif isinstance(action, Done):
                if action.text:
                    self.log.emit("agent_message", text=action.text)
                return
            else:
                raise TypeError(f"agent returned {action!r}")

    def _aliased(self, args: dict) -> dict:
        """After a resume, an interrupted job's id names the job that continues it."""
        if not self.job_aliases:
            return args
        return {
            k: self.job_aliases.get(v, v) if k in ("job", "checkpoint", "base") and isinstance(v, str) else v
            for k, v in args.items()
        }

    async def execute(self, tool: str, args) -> ToolOutcome:
        self.calls += 1
        call_id = f"c{self.calls}"
        self.log.emit("tool_call", id=call_id, tool=tool, args=redact_obj(args))
        outcome: ToolOutcome
        try:
            try:
                args = check_args(tool, args)
            except ToolArgError as exc:
                outcome = ToolOutcome(tool, False, f"bad call: {exc}")
            else:
                args = self._aliased(args)
                verdict = gate(tool, args, self, self.policy)
                # ask -> a person decides (an approved edit is re-gated); see Approvals.settle
                how, args, verdict, reason = await self.approvals.settle(call_id, tool, args, verdict)
                if how == "deny":
                    self.log.emit(
                        "alert", rule=verdict.rule, severity="warning", message=f"denied {tool}: {verdict.reason}"
                    )
                    outcome = ToolOutcome(
                        tool, False, f"{POLICY_DENIED} [{verdict.rule}]: {verdict.reason}", denied=True
                    )
                elif how == "run":
                    outcome = await Toolbox(self, network_approved=verdict.rule == "network").call(tool, args)
                else:
                    why = f": {reason}" if reason else ""
                    outcome = ToolOutcome(tool, False, f"{PERSON_VETOED} [{verdict.rule}]{why}", denied=True)
        except asyncio.CancelledError:
            self.log.emit("tool_result", id=call_id, ok=False, summary="cancelled: the run is stopping")
            raise
        except Exception as exc:  # a tool bug must not end the run
            traceback.print_exc()
            outcome = ToolOutcome(tool, False, f"{tool} failed with an internal error: {exc!r}")
        outcome.summary, outcome.data = redact(outcome.summary), redact_obj(outcome.data)  # no key-like strings
        self.flush_alerts()
        outcome.summary += self.take_agent_alerts()
        self.log.emit("tool_result", id=call_id, ok=outcome.ok, summary=outcome.summary)
        return outcome

    # -- lifecycle --------------------------------------------------------------
    async def prepare(self) -> Brief:
        task = tasks.get_task(self.cfg.get("task") or "arithmetic")
        if self.cfg.get("unsafe_no_sandbox"):
            self.log.emit(
                "alert",
                rule="sandbox",
                severity="high",
                message="this run was started with --unsafe-no-sandbox: the agent's code (run_python, "
                "reward functions) runs WITHOUT the bubblewrap fence, with the user's powers",
            )
        else:
            ok, why = fence.available()
            if not ok:
                raise StopRun(f"could not start: {why}")
        if self.resume_info is None or not self.resume_info.installed:
            # a new run, or one killed before its data was installed; a resumed run keeps the data
            # it was given and never re-installs
            staging = self.run.path / "data"
            # a generated task's hidden split comes from a secret seed no sandbox can see
            paths = tasks.materialize(task, staging, secret=hidden.new_secret(self.hidden_dir))
            data_dir = self.run.workspace / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            self.hidden_dir.mkdir(exist_ok=True)
            for split, path in paths.items():
                dest = (self.hidden_dir if split == "test" else data_dir) / f"{split}.jsonl"
                shutil.move(str(path), dest)
            shutil.rmtree(staging, ignore_errors=True)
            self.scorer = tasks.install_scorer(task, self.hidden_dir)  # a python scorer goes to hidden/
            self.hidden_hashes = hidden.digests(self.hidden_dir)
            self.log.emit("hidden_installed", **self.hidden_hashes)
        else:
            self.scorer = task.scorer_spec(self.hidden_dir)
            self.hidden_hashes = hidden.logged_digests(self.run.events_path)
            problem = hidden.verify(self.hidden_dir, self.hidden_hashes)
            if problem:
                raise StopRun(f"cannot resume: {problem}")
        model = self.cfg.get("model") or "tiny"
        try:
            self.base_source = base_models.resolve(model, self.run.path)
        except ValueError as exc:
            raise StopRun(str(exc)) from None
        self.base_model_path = self.base_source.path  # tiny / gguf / download: built on first use
        if self.base_source.kind == "download" and not (self.base_model_path / "config.json").is_file():
            await self._approve_base_download(model)
        brief = Brief(
            task=task.name,
            description=task.description,
            base_model=model,
            budget_s=self.budget_s(),
            datasets=sorted(self.datasets()),
            recipe=tasks.sft_recipe(task),
        )
        brief.recipe["demo_flagged_action"] = bool(self.cfg.get("demo"))
        if self.budget is not None:
            brief.limits = self.budget.limits()
        home = self.run.path.parent.parent  # <home>/runs/<id>
        brief.memory = memory.digest(home, task.name, model, exclude=self.run.id)
        brief.prior = memory.best_prior(home, task.name, model, exclude=self.run.id)
        return brief

    async def finalize(self) -> None:
        """The harness: score the base model and the submission on the hidden test split.
        A run that submitted nothing has nothing to score."""
        test = self.hidden_dir / "test.jsonl"
        if not test.exists() or self.base_model_path is None or not self.submitted:
            return
        if self.resume_info is not None and self.resume_info.scored:
            return  # scored before the daemon died
        await self.ensure_base()
        for role, name in (("base", "base"), ("submitted", self.submitted)):
            path = self.checkpoint_path(name)
            if path is None:
                continue
            try:
                result = await self.evaluate(path, test)
            except WorkerError as exc:
                self.log.emit("alert", rule="harness", severity="high", message=f"scoring {name} failed: {exc.message}")
                continue
            self.log.emit("score", split="test", value=result["score"], checkpoint=name, role=role)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.jobs = JobManager(self.run.path, self.log)
        self.jobs.on_planned = self._job_planned
        self.jobs.start = self._checkpointing(self.jobs.start)
        self.approvals = Approvals(self, recheck=lambda t, a: gate(t, a, self, self.policy))
        self._base_lock = asyncio.Lock()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, "the daemon got a termination signal")
        addr, fd = sock_address(self.run.socket_path)
        if self.run.socket_path.exists():
            self.run.socket_path.unlink()
        old_umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._serve_client, path=addr)
        finally:
            os.umask(old_umask)
            if fd is not None:
                os.close(fd)
        self.run.pid_path.write_text(str(os.getpid()))
        sampler = loop.create_task(self._sample_host())
        final, reason = "finished", ""
        try:
            st = self.resume_info
            if st is None:
                self.set_state("starting", pid=os.getpid(), config=self.cfg)
            else:
                self.set_state(
                    "starting",
                    pid=os.getpid(),
                    resumed=True,
                    note=f"resuming: a new daemon continues the log after event {st.last_seq}",
                )
            try:
                home = self.run.path.parent.parent
                self.budget = Budget.from_config(self.cfg)
                prices = load_prices(home, self.cfg.get("prices"))
                brief = await self.prepare()
                extra = {"base_url": self.cfg["base_url"]} if self.cfg.get("base_url") else {}
                agent = self.agent = make_agent(self.cfg.get("agent") or "playbook", brief, **extra)
            except (ValueError, OSError, WorkerError, BudgetError) as exc:
                raise StopRun(f"could not start: {getattr(exc, 'message', exc)}") from exc
            model = getattr(getattr(agent, "provider", None), "model", None)
            self.budget.set_model(model, prices)
            if model and self.budget.price is None:
                self.log.emit(
                    "alert",
                    rule="budget_overrun",
                    severity="warning" if self.budget.usd else "info",
                    message=f"no price known for model {model!r}: its dollars count as 0 (add it to "
                    f"prices.toml in the runs home)",
                )
            if st is None:
                self.log.emit("brief", **asdict(brief))
                self.set_state("running")
            else:
                if not any(e["type"] == "brief" for e in st.events):  # killed before its agent started
                    self.log.emit("brief", **asdict(brief))
                await self._resume(agent, st)
            self.agent_task = loop.create_task(self.agent_loop(agent))
            try:
                await self.agent_task
            except asyncio.CancelledError:
                reason = self.stop_reason or "cancelled"
            except StopRun as exc:
                reason = exc.reason
            if self.stop_reason is None and not reason:
                self.set_state("stopping", reason="the agent is done")
            await self.jobs.stop_all()
            await self.finalize()
            reason = reason or (
                "submitted " + self.submitted if self.submitted else "the agent ended without submitting"
            )
        except StopRun as exc:
            final, reason = "failed", exc.reason
        except Exception as exc:
            traceback.print_exc()
            final, reason = "crashed", f"daemon error: {exc!r}"
        finally:
            sampler.cancel()
            await self.jobs.stop_all()
            if self.budget is not None:
                self.budget.set_usage(getattr(self.agent, "usage", None))
                self.log.emit("budget", **self.budget.event())
            self.set_state(final, reason=reason)
            self._write_records()
            server.close()
            for p in (self.run.socket_path, self.run.pid_path):
                try:
                    p.unlink()
                except OSError:
                    pass
            self.log.close()
        return 0

    def _checkpointing(self, start):
        """Training jobs save intermediate checkpoints, so that a resumed run continues from one
        (agent_core/daemon/resume.py): every cfg `save_steps` steps (0: never), else about three times a
        job (every planned/4 steps, at least 50)."""

        async def start_job(spec: dict, *args, **kw):
            if spec.get("mode") == "train" and not spec.get("save_steps"):
                n = self.cfg.get("save_steps")
                if n is None:
                    total = resume.planned_steps(spec)
                    n = max(50, total // 4) if total else 0
                if n:
                    spec = {**spec, "save_steps": int(n)}
            return await start(spec, *args, **kw)

        return start_job

    def _write_records(self) -> None:
        """The ledger line (memory across runs) and REPORT.md; neither may break the shutdown."""
        for what, fn in (
            ("ledger", lambda: memory.record_run(self.run)),
            ("REPORT.md", lambda: report.write_report(self.run)),
        ):
            try:
                fn()
            except Exception:
                print(f"writing the {what} failed:", file=sys.stderr)
                traceback.print_exc()

    async def _resume(self, agent, st) -> None:
        """Continue a run whose daemon died (agent_core/daemon/resume.py): ids go on, interrupted jobs
        restart from their latest checkpoint, the agent gets its context back."""
        self.calls = st.calls
        self.approvals._n = st.approvals
        self.submitted = st.submitted
        self.pause_requested = st.pause_requested  # a crash does not undo the person's pause
        self.budget.resume_from(st.spent)
        resume.kill_orphan_workers(self.run)
        for aid in st.undecided:  # the person's pending decisions died with the daemon: asked again
            self.log.emit(
                "approval_decision",
                id=aid,
                decision="veto",
                scope="once",
                by="supervisor",
                reason="the daemon stopped before a decision; the agent asks again if it still wants this",
            )
        resume.restore_jobs(self, st)
        if st.stop_reason:  # the person's (or the budget's) stop was acknowledged: honour it
            self.stop_reason = st.stop_reason
        notes = await resume.restart_interrupted(self, st, restart=not st.submitted and not st.stop_reason)
        note = resume.resume_note(st, notes)
        restore = getattr(agent, "restore", None)
        if st.submitted or st.stop_reason:
            pass  # straight to the harness (a stopped run stops at its first step boundary)
        elif restore is not None:  # the LLM agent: its transcript, compacted by agent_core/agents/context.py
            restore(st.transcript(), note, elapsed_s=float(st.spent.get("wall_s") or 0.0))
        else:  # deterministic agents: replayed over the logged outcomes
            self._first_action = await resume.replay(self, agent, st)
        self.set_state("running", resumed=True, note=note, aliases=dict(self.job_aliases))

    async def _sample_host(self) -> None:
        sampler = HostSampler()
        try:
            while True:
                if not self.run.config_path.exists():  # the run was deleted under us
                    self.request_stop("the run directory was removed")
                    return
                sample = await asyncio.to_thread(sampler.sample)
                self.log.emit("host_sample", **sample)
                if self.budget is not None and not self.budget.gpu_count and sample.get("gpus"):
                    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
                    n = len(sample["gpus"])
                    self.budget.gpu_count = min(n, len(visible.split(","))) if visible else n
                self.flush_alerts()
                if self.agent is not None and self.state != "stopping":
                    spent = self.check_budget()
                    if spent and self.stop_reason is None:
                        self.log.emit(
                            "alert", rule="budget_overrun", severity="high", message=f"{spent}; stopping the run"
                        )
                        self.request_stop(spent)
                await asyncio.sleep(HOST_SAMPLE_S)
        except asyncio.CancelledError:
            sampler.close()
            raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    resuming = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    if len(argv) != 1:
        print("usage: python -m agent_core.daemon.supervisor RUN_DIR [--resume]", file=sys.stderr)
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
    sup = Supervisor(run)
    sup.resume_info = state
    return asyncio.run(sup.main())


if __name__ == "__main__":
    sys.exit(main())
