"""The supervisor daemon: one per run, detached from any terminal.

It owns the event log, the agent loop, the training subprocesses and the control socket.
Start it with `python -m agent_core.daemon RUN_DIR` (agent_core.daemon.launch does this in a new
session, so closing the terminal or the UI leaves the run going).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import traceback
from dataclasses import asdict

from agent_core.agents import Brief, Call, Done, Say, ToolOutcome, agent_options, make_agent
from agent_core.agents.base import Action, Agent
from agent_core.agents.markers import NOTE_PREFIX
from agent_core.agents.tools import Toolbox, ToolContext
from agent_core.daemon.alerts import AlertDesk
from agent_core.daemon.budget_watch import BudgetWatch
from agent_core.daemon.tool_calls import ToolCalls
from agent_core.daemon import control_server, host, report, resume, task_setup
from agent_core.oversight import fence
from agent_core.oversight.approvals import Approvals
from agent_core.oversight.budget import Budget, BudgetError, load_prices
from agent_core.oversight.contamination import HeldOutOverlap
from agent_core.oversight.policy import GateContext, Verdict, gate
from agent_core.oversight.policy_file import Policy
from agent_core.record.control import AGENT_COMMANDS, COMMANDS
from agent_core.record.events import TERMINAL_STATES, EventLog
from agent_core.record.runs import RunDir
from agent_core.training import base_models, tasks
from agent_core.training.jobs import JobManager, WorkerError
from agent_core.training.models import RunModels
from agent_core.training.workspace import Workspace

HOST_SAMPLE_S = 2.0


class StopRun(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Supervisor:
    """The run's daemon: the agent loop, its tools behind the policy gate, the person's commands,
    the jobs, the watchdogs and the budget. Collaborators get what they use, declared in their
    contexts (ToolContext, GateContext) or as callbacks."""

    def __init__(self, run: RunDir, resume_info: resume.LogState | None = None):
        self.run = run
        self.cfg = run.config()
        self.resume_info = resume_info  # the log of the run this daemon resumes, reduced
        self.log = EventLog(run.events_path)
        self.hidden_dir = run.path / "hidden"
        self.files = Workspace(run.workspace, run.path / "frozen", task=self.cfg.get("task", ""))
        self.policy = Policy.from_json(self.cfg.get("policy"))  # agent_core.oversight.policy_file
        self.jobs = JobManager(
            run.path,
            self.log,
            on_planned=lambda job: self.alerts.job_planned(job),
            complete_spec=lambda spec: resume.with_save_steps(spec, self.cfg.get("save_steps")),
        )
        self.models = RunModels(run.path, self.jobs, self.hidden_dir)
        self.contamination = HeldOutOverlap(
            self.files.frozen_dataset,
            self.hidden_dir / "test.jsonl",
            self.policy.contamination,
            self.cfg.get("contamination_threshold", 0.5),
        )
        self.gate_ctx = GateContext(
            files=self.files,
            hidden_dir=self.hidden_dir,
            run_id=run.id,
            checkpoints=self.models.checkpoints,
            checkpoint_path=self.models.checkpoint_path,
            contamination=self.contamination,
            jobs=lambda: [(job.spec, job.state) for job in list(self.jobs.jobs.values())],
        )
        self.approvals = Approvals(
            self.log,
            auto=self.cfg.get("approval_auto"),
            on_waiting=self._waiting_for_person,
            recheck=lambda tool, args: gate(tool, args, self.gate_ctx, self.policy),
        )
        self.tool_ctx = ToolContext(
            run=run,
            log=self.log,
            files=self.files,
            jobs=self.jobs,
            models=self.models,
            model_name=self.cfg.get("model") or "tiny",
            fenced=not self.cfg.get("unsafe_no_sandbox"),
            wake_reason=self._wake_reason,
            submit=self._submit,
        )
        self.state: str | None = None
        self._state_before_approval = "running"
        self.submitted: str | None = None
        self.pause_requested = False
        self.stop_reason: str | None = None
        self._resumed = asyncio.Event()  # set when a pause ends (or a stop comes)
        self._nudges: list[str] = []  # the person's messages, handed to the agent at its next step
        self.t0 = time.time()
        self.agent_task: asyncio.Task | None = None
        self.agent: Agent | None = None
        self.alerts = AlertDesk(self.log, pause_on=self.cfg.get("auto_pause_on"), pause=self._pause_by_policy)
        self.budget: BudgetWatch | None = None  # made at the start (a bad budget fails the run)
        self.job_aliases: dict[str, str] = {}  # an interrupted job -> the job that continues it
        self._first_action: Action | None = None  # a resumed deterministic agent's first live action
        self.tool_calls = ToolCalls(
            self.log, self.gate_ctx, self.policy, self.approvals, self.tool_ctx, self.alerts, self.job_aliases
        )

    # -- state ----------------------------------------------------------------
    def set_state(self, state: str, **fields) -> None:
        if state != self.state:
            self.state = state
            self.log.emit("run_state", state=state, **fields)

    def _waiting_for_person(self, waiting: bool) -> None:
        """A request waits for a person (or was decided): the run's state says so, then goes back."""
        if waiting:
            if self.state != "waiting_approval":
                self._state_before_approval = self.state or "running"
            self.set_state("waiting_approval")
        elif not self.stop_reason:
            self.set_state(self._state_before_approval)

    def _wake_reason(self) -> str | None:
        """Why a parked `wait` returns early: the person paused or stopped the run, wrote to the
        agent, or a watchdog found something."""
        if self.pause_requested or self.stop_reason is not None:
            return "interrupted by the person (pause or stop)"
        if self._nudges:
            return "a message from the person arrived (read it before you go on)"
        if self.alerts.for_agent:
            return "a watchdog alert"
        if self.agent is not None and self.agent.call_abandoned():
            return "its caller gave up on it"
        return None

    def _job_processes(self, job_id: str) -> int:
        job = self.jobs.jobs.get(job_id)
        procs = (job.spec.get("num_processes") if job else None) or 1
        return procs if isinstance(procs, int) else 1

    def _submit(self, checkpoint: str) -> None:
        self.submitted = checkpoint

    def budget_s(self) -> float | None:
        return self.cfg.get("budget_s")

    def check_budget(self, step: bool = False) -> str | None:
        """The stop reason once the budget's grace is over; the agent hears when it is spent."""
        if self.budget is None:
            return None
        stop, spent_now = self.budget.check(self.agent.usage if self.agent else None, step)
        if spent_now and self.agent is not None:
            self.agent.on_budget_spent()
        return stop

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
            decision = await self.approvals.ask("base", "load_base_model", {"model": model}, verdict)
            if not decision.approved:
                raise StopRun(
                    f"downloading the base model {model!r} was vetoed"
                    + (f": {decision.reason}" if decision.reason else "")
                )

    def _pause_by_policy(self, rule: str) -> None:
        if not self.pause_requested:
            self.pause_requested = True
            self.log.emit("agent_message", text=f"{NOTE_PREFIX} run paused by policy after the {rule} alert")

    # -- control commands -------------------------------------------------------
    async def command(self, req: dict, gone: threading.Event | None = None) -> dict:
        """One control request; `gone` is set when its client hangs up before the reply."""
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
        if (self.state in TERMINAL_STATES or self.state == "stopping") and cmd != "stop":
            return {"ok": False, "error": f"the run is {self.state}"}
        if cmd in AGENT_COMMANDS:  # an outside agent's calls (`tinker-tui mcp`): the agent answers them
            return (
                await asyncio.to_thread(self.agent.control, req, gone or threading.Event())
                if self.agent
                else {"ok": False, "error": "the agent has not started yet"}
            )
        if cmd == "pause":
            self.log.emit("control", cmd="pause", by="person")  # on disk before the reply: a crash keeps it
            self.pause_requested = True
            return {"ok": True, "note": "the agent pauses at its next step boundary"}
        if cmd == "resume":
            self.log.emit("control", cmd="resume", by="person")
            self.pause_requested = False
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
        if self.agent is not None:  # end an LLM request or retry backoff in flight
            self.agent.cancel()
        self._resumed.set()
        loop = asyncio.get_running_loop()
        loop.call_later(3.0, self._cancel_agent)

    def _cancel_agent(self) -> None:
        if self.agent_task and not self.agent_task.done():
            self.agent_task.cancel()

    # -- the agent loop ---------------------------------------------------------
    async def step_boundary(self) -> None:
        if self.stop_reason:
            raise StopRun(self.stop_reason)
        spent = self.check_budget(step=True)
        if spent:
            self.log.emit("alert", rule="budget_overrun", severity="high", message=f"{spent}; stopping the agent")
            raise StopRun(spent)
        if self.pause_requested:
            self._resumed.clear()
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
                last = await self.tool_calls.execute(action.tool, action.args)
                if action.tool == "submit" and last.ok:
                    return
            elif isinstance(action, Done):
                if action.text:
                    self.log.emit("agent_message", text=action.text)
                return
            else:
                raise TypeError(f"agent returned {action!r}")

    # -- lifecycle --------------------------------------------------------------
    async def prepare(self) -> Brief:
        try:  # a pack task's data must still be there (`tinker-tui tasks fetch NAME`)
            task = tasks.get_task(self.cfg.get("task") or "arithmetic", home=self.run.path.parent.parent)
        except ValueError as exc:
            raise StopRun(f"could not start: {exc}") from None
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
        models = self.models
        try:
            if self.resume_info is None or not self.resume_info.installed:
                models.scorer, models.hidden_hashes = task_setup.install(task, self.run, self.hidden_dir, self.log)
            else:
                models.scorer, models.hidden_hashes = task_setup.reinstate(task, self.run, self.hidden_dir)
        except ValueError as exc:
            if str(exc).startswith("cannot resume"):
                raise StopRun(str(exc)) from None
            raise
        model = self.cfg.get("model") or "tiny"
        try:
            models.set_base(base_models.resolve(model, self.run.path), task)  # built on first use; the task's rendering
        except ValueError as exc:
            raise StopRun(str(exc)) from None
        if models.base_source.kind == "download" and not (models.base_path / "config.json").is_file():
            await self._approve_base_download(model)
        return task_setup.brief(
            task, self.run, self.cfg, list(self.files.datasets()), self.budget.budget.limits() if self.budget else None
        )

    async def finalize(self) -> None:
        """The harness scores the submission; a run that submitted nothing has nothing to score."""
        if self.submitted and not (self.resume_info is not None and self.resume_info.scored):
            await task_setup.score_submission(self.models, self.hidden_dir, self.submitted, self.log)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, "the daemon got a termination signal")
        # The pid file first, whole (written aside, then renamed): whoever sees the socket (the
        # launcher waits for it) must also see a live pid, or it would take the run for dead.
        staged = self.run.pid_path.with_name(f".{self.run.pid_path.name}.{os.getpid()}")
        staged.write_text(str(os.getpid()))
        os.replace(staged, self.run.pid_path)
        server = await control_server.start(self.run.socket_path, self.command)
        sampler = loop.create_task(host.sample_forever(self.log, self._host_sampled, HOST_SAMPLE_S))
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
                self.budget = BudgetWatch(Budget.from_config(self.cfg), self.log, self.alerts, self._job_processes)
                prices = load_prices(home, self.cfg.get("prices"))
                brief = await self.prepare()
                agent = self.agent = make_agent(
                    self.cfg.get("agent") or "playbook", brief, **agent_options(self.cfg, self.run, self.log)
                )
            except (ValueError, OSError, WorkerError, BudgetError) as exc:
                raise StopRun(f"could not start: {getattr(exc, 'message', exc)}") from exc
            self.budget.set_model(agent.model, prices)
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
            # a stop (the person's, the budget's) can end the agent's loop before the loop sees it:
            # the run ends for the stop's reason all the same
            reason = (
                reason
                or self.stop_reason
                or ("submitted " + self.submitted if self.submitted else "the agent ended without submitting")
            )
        except StopRun as exc:
            final, reason = "failed", exc.reason
        except Exception as exc:
            traceback.print_exc()
            final, reason = "crashed", f"daemon error: {exc!r}"
        finally:
            sampler.cancel()
            if self.agent is not None:  # an outside agent's waiting callers are released
                self.agent.cancel()
            await self.jobs.stop_all()
            if self.budget is not None:
                self.budget.final(self.agent.usage if self.agent else None)
            self.set_state(final, reason=reason)
            report.write_records(self.run)  # the ledger line and REPORT.md; neither breaks the shutdown
            server.close()
            for p in (self.run.socket_path, self.run.pid_path):
                try:
                    p.unlink()
                except OSError:
                    pass
            self.log.close()
        return 0

    async def _resume(self, agent, st) -> None:
        """Continue a run whose daemon died (agent_core/daemon/resume.py): ids go on, interrupted jobs
        restart from their latest checkpoint, the agent gets its context back."""
        self.tool_calls.count = st.calls
        self.approvals.continue_numbering(st.approvals)
        self.submitted = st.submitted
        self.pause_requested = st.pause_requested  # a crash does not undo the person's pause
        self.budget.budget.resume_from(st.spent)
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
        resume.restore_jobs(self.jobs, st, self.job_aliases)
        if st.stop_reason:  # the person's (or the budget's) stop was acknowledged: honour it
            self.stop_reason = st.stop_reason
        notes = await resume.restart_interrupted(
            self.jobs, self.models, self.job_aliases, st, restart=not st.submitted and not st.stop_reason
        )
        note = resume.resume_note(st, notes)
        if st.submitted or st.stop_reason:
            pass  # straight to the harness (a stopped run stops at its first step boundary)
        elif agent.restores_transcript:  # the LLM agent: its transcript, compacted by agents/context.py
            agent.restore(st.transcript(), note, elapsed_s=float(st.spent.get("wall_s") or 0.0))
        else:  # deterministic agents: replayed over the logged outcomes
            self._first_action = await resume.replay(Toolbox(self.tool_ctx), agent, st)
        self.set_state("running", resumed=True, note=note, aliases=dict(self.job_aliases))

    def _host_sampled(self, sample: dict) -> bool:
        """Every host sample: the GPUs for the budget, the watchdogs' clock, the budget's stop."""
        if not self.run.config_path.exists():  # the run was deleted under us
            self.request_stop("the run directory was removed")
            return False
        if self.budget is not None:
            self.budget.saw_host(sample)
        self.alerts.flush()
        if self.agent is not None and self.state != "stopping":
            spent = self.check_budget()
            if spent and self.stop_reason is None:
                self.log.emit("alert", rule="budget_overrun", severity="high", message=f"{spent}; stopping the run")
                self.request_stop(spent)
        return True
