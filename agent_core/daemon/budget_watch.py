"""The run's budget (agent_core.oversight.budget) kept current by the daemon: job running time from
the log (GPU-hours), the agent's token usage, the GPUs the host sampler sees; a `budget` event at
every step boundary (and at most every EVENT_S otherwise); its 50/80/95/100% alerts go through the
alert desk to the log and the agent."""

from __future__ import annotations

import os
import time
from typing import Callable

from agent_core.daemon.alerts import AlertDesk
from agent_core.oversight.budget import Budget
from agent_core.record.events import ENDED_JOB_STATES, EventLog

EVENT_S = 5.0


class BudgetWatch:
    def __init__(self, budget: Budget, log: EventLog, alerts: AlertDesk, job_processes: Callable[[str], int]):
        self.budget = budget
        self.log = log
        self.alerts = alerts
        self.job_processes = job_processes  # job id -> how many processes (devices) it runs
        self._emitted = 0.0
        log.subscribe(self._job_event)

    def _job_event(self, ev: dict) -> None:
        """Log listener (runs under the log's lock: bookkeeping only)."""
        if ev.get("type") != "job_state":
            return
        job = str(ev.get("job"))
        if ev.get("state") == "running":
            self.budget.job_started(job, processes=self.job_processes(job))
        elif ev.get("state") in ENDED_JOB_STATES:
            self.budget.job_ended(job)

    def set_model(self, model: str | None, prices: dict) -> None:
        """The agent's LLM, for its price; an unknown price is said once."""
        self.budget.set_model(model, prices)
        if model and self.budget.price is None:
            self.log.emit(
                "alert",
                rule="budget_overrun",
                severity="warning" if self.budget.usd else "info",
                message=f"no price known for model {model!r}: its dollars count as 0 (add it to "
                f"prices.toml in the runs home)",
            )

    def saw_host(self, sample: dict) -> None:
        """A host sample: the first GPUs seen set how many devices a job counts as."""
        if not self.budget.gpu_count and sample.get("gpus"):
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            n = len(sample["gpus"])
            self.budget.gpu_count = min(n, len(visible.split(","))) if visible else n

    def check(self, usage, step: bool = False) -> tuple[str | None, bool]:
        """(the stop reason once the grace after 100% is over, whether 100% was reached just now)."""
        self.budget.set_usage(usage)
        now = time.time()
        if step or now - self._emitted >= EVENT_S:
            self._emitted = now
            self.log.emit("budget", **self.budget.event())
        alerts, stop = self.budget.check(step)
        if alerts:
            self.alerts.add(alerts)
            self.alerts.flush()
        return stop, any(a["level"] >= 1.0 for a in alerts)

    def final(self, usage) -> None:
        self.budget.set_usage(usage)
        self.log.emit("budget", **self.budget.event())
