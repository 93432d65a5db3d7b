"""The watchdogs' engine: `Watchdogs` takes the run's events one at a time, keeps each job's state
and hands every metric to the rules (`training`, `rewards`, `host`); `tick` runs the time-based
stall check. See the package docstring for how the daemon feeds it."""

from __future__ import annotations

import math
import time
from typing import Iterable

from agent_core.oversight.watchdogs.config import ENDED_STATES, NO_HORIZON_SCHEDULES, WatchdogConfig
from agent_core.oversight.watchdogs.host import HostRules
from agent_core.oversight.watchdogs.job import JobState
from agent_core.oversight.watchdogs.rewards import RewardRules
from agent_core.oversight.watchdogs.stats import first
from agent_core.oversight.watchdogs.training import TrainingRules
from agent_core.record.events import LIVE_JOB_STATES
from agent_core.record.metrics import (
    CLIPPED_KEYS,
    GRAD_NORM,
    LEARNING_RATE,
    LENGTH_KEYS,
    LOSS,
    MFU,
    REWARD_KEYS,
    ZERO_STD_KEYS,
)


class Watchdogs(TrainingRules, RewardRules, HostRules):
    """Feed events one at a time; get new alerts back. See the package docstring."""

    def __init__(self, config: WatchdogConfig | None = None):
        super().__init__(config)

    # ------------------------------------------------------------------ jobs
    def job_started(
        self,
        job: str,
        *,
        total_steps: int | None = None,
        lr_scheduler_type: str | None = None,
        method: str | None = None,
        warmup_steps: int | None = None,
        scheduler_steps: int | None = None,
        learning_rate: float | None = None,
        now: float | None = None,
    ) -> list[dict]:
        """A training job starts (or tells more about itself: safe to call again). total_steps:
        the planned optimizer steps; scheduler_steps: the LR schedule's horizon when it differs
        (e.g. the agent drives the trainer step by step); method: "sft" | "grpo"."""
        with self._lock:
            return self._job_started(
                job, total_steps, lr_scheduler_type, method, warmup_steps, scheduler_steps, learning_rate, now
            )

    def _job_started(
        self, job, total_steps, lr_scheduler_type, method, warmup_steps, scheduler_steps, learning_rate, now
    ) -> list[dict]:
        now = now if now is not None else (self.now if self.now is not None else time.time())
        self.now = now if self.now is None else max(self.now, now)
        js = self._job(job, now, explicit=True)
        js.explicit = True
        if js.ended is not None:  # a job name reused: start afresh
            js = self.jobs[job] = JobState(job, now, True)
            self.active = {k for k in self.active if k[1] != job}
        js.state = "running"
        if js.started is None:
            js.started = now
        if total_steps is not None:
            js.total_steps = int(total_steps)
        if scheduler_steps is not None:
            js.scheduler_steps = int(scheduler_steps)
        if lr_scheduler_type:
            js.lr_scheduler_type = str(lr_scheduler_type).lower()
        if method:
            js.method = str(method).lower()
        if warmup_steps is not None:
            js.warmup_steps = int(warmup_steps)
        if learning_rate is not None:
            js.learning_rate = float(learning_rate)
        self.last_job = job
        out: list[dict] = []
        sched = js.lr_scheduler_type or ""
        decays = sched not in ("", "constant", "constant_with_warmup") and sched not in NO_HORIZON_SCHEDULES
        if (
            js.scheduler_steps is not None
            and js.total_steps is not None
            and decays
            and js.scheduler_steps < js.total_steps
        ):
            out += self._fire(
                "schedule_horizon",
                job,
                js.step,
                f"{job}: the {sched} LR schedule spans {js.scheduler_steps} steps but the job plans "
                f"{js.total_steps}; the LR will sit at ~0 for the last "
                f"{js.total_steps - js.scheduler_steps} steps",
                "the schedule's horizon was set per call / per chunk instead of for the whole run",
                "set the scheduler's total steps to the planned total, or use a constant LR "
                "(with warmup) when the horizon is not known",
            )
        return out

    def job_ended(self, job: str, state: str = "finished", now: float | None = None) -> None:
        with self._lock:
            self._job_ended(job, state, now)

    def _job_ended(self, job: str, state: str, now: float | None) -> None:
        js = self.jobs.get(job)
        if js is None:
            return
        js.state = state
        js.ended = now if now is not None else (self.now if self.now is not None else time.time())
        self._rearm("stall", job)
        self._rearm("gpu_idle", job)

    # ------------------------------------------------------------------ entry points
    def feed(self, event: dict, now: float | None = None) -> list[dict]:
        """Consume one event; return the alerts it raised (possibly none)."""
        if not isinstance(event, dict):
            return []
        with self._lock:
            return self._feed(event, now)

    def _feed(self, event: dict, now: float | None) -> list[dict]:
        t = self._clock(event, now)
        kind = event.get("type")
        try:
            if kind == "metric":
                return self._on_metric(event, t)
            if kind == "host_sample":
                return self._on_host(event, t)
            if kind == "score":
                return self._on_score(event)
            if kind == "job_state":
                return self._on_job_state(event, t)
        except (TypeError, ValueError, KeyError):
            return []  # a malformed event must never break the supervisor
        return []

    def feed_many(self, events: Iterable[dict]) -> list[dict]:
        out: list[dict] = []
        for ev in events:
            out += self.feed(ev)
        return out

    def tick(self, now: float | None = None) -> list[dict]:
        """Time-based checks (stall). Call every few seconds with the current time."""
        with self._lock:
            return self._tick(time.time() if now is None else float(now))

    def _tick(self, now: float) -> list[dict]:
        self.now = now if self.now is None else max(self.now, now)
        c = self.config
        out: list[dict] = []
        for js in list(self.jobs.values()):
            if not (js.explicit and js.running()):
                continue
            if js.last_metric_t is None:
                if js.started is None:
                    continue
                limit = max(c.stall_startup_s, c.stall_timeout_s)
                since, what = js.started, "since the job started, and it has logged no step yet"
            else:
                limit = self._stall_limit(js)
                since, what = js.last_metric_t, f"since step {js.step}"
            idle = now - since
            if idle > limit:
                out += self._fire(
                    "stall",
                    js.name,
                    js.step,
                    f"{js.name}: no training metrics for {idle:.0f}s {what} (limit {limit:.0f}s)",
                    "the worker is hung (deadlock, NCCL wait, stuck data loader or generation), "
                    "swapping, or its logging stopped",
                    "look at the job's stderr log and GPU utilisation; py-spy dump the worker; "
                    "stop and restart it from the last checkpoint if it does not move",
                )
        return out

    # ------------------------------------------------------------------ job_state
    def _on_job_state(self, ev: dict, t: float | None) -> list[dict]:
        job, state = ev.get("job"), str(ev.get("state") or "")
        if not job:
            return []
        if state in LIVE_JOB_STATES:
            spec = ev.get("spec") if isinstance(ev.get("spec"), dict) else {}
            info = {**spec, **ev}

            def pick(*names):
                for n in names:
                    if info.get(n) is not None:
                        return info[n]
                return None

            total = pick("total_steps", "max_steps", "total")
            if isinstance(total, (int, float)) and total <= 0:
                total = None
            out = self._job_started(
                job,
                total_steps=total,
                lr_scheduler_type=pick("lr_scheduler_type", "scheduler"),
                method=pick("method"),
                warmup_steps=pick("warmup_steps"),
                scheduler_steps=pick("scheduler_steps"),
                learning_rate=pick("learning_rate"),
                now=t,
            )
            self.jobs[job].state = state
            return out
        if state in ENDED_STATES:
            self._job_ended(job, state, t)
        return []

    # ------------------------------------------------------------------ metrics
    def _on_metric(self, ev: dict, t: float | None) -> list[dict]:
        name = str(ev.get("job") or "job")
        values = ev.get("values")
        if not isinstance(values, dict):
            return []
        js = self._job(name, t)
        if js.ended is not None and not js.explicit:
            js.ended, js.state = None, "running"
        self.last_job = name
        step = ev.get("step")
        step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else ((js.step or 0) + 1)
        out: list[dict] = []
        # stall: metrics flow again, so re-arm. A job known only from its metrics (a recorded
        # stream without job_state events) is not ticked; its stalls show up as gaps here.
        self._rearm("stall", name)
        if t is not None and js.last_metric_t is not None:
            gap = t - js.last_metric_t
            limit = self._stall_limit(js)
            if not js.explicit and gap > limit:
                out += self._fire(
                    "stall",
                    name,
                    step,
                    f"{name}: {gap:.0f}s without training metrics before step {step} (limit {limit:.0f}s)",
                    "the worker hung (deadlock, stuck data loader or generation) or its logging stopped",
                    "look at the job's stderr log around that time",
                )
            if gap >= 0:
                js.intervals.append(gap)
        if t is not None:
            js.last_metric_t = t
        js.step = step
        js.n_logs += 1

        out += self._check_nan(js, step, values)
        clean = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        if LEARNING_RATE in clean:
            out += self._check_lr(js, step, clean[LEARNING_RATE])
        if GRAD_NORM in clean:
            out += self._check_grad(js, step, clean[GRAD_NORM])
        _, reward = first(clean, REWARD_KEYS)
        if reward is not None:
            if self._reward_job != name:
                self._reward_recent.clear()
                self._reward_series.clear()
                self._dev_recent.clear()
                self._reward_n = 0
                self._reward_job = name
            self._reward_recent.append(reward)
            self._reward_series.append(reward)
            self._reward_n += 1
            out += self._check_reward(js, step, reward, clean)
        if LOSS in clean and not js.is_grpo():
            out += self._check_loss(js, step, clean[LOSS])
        _, length = first(clean, LENGTH_KEYS)
        if length is not None:
            out += self._check_length(js, step, length)
        _, clipped = first(clean, CLIPPED_KEYS)
        if clipped is not None:
            out += self._check_clipped(js, step, clipped)
        _, zero_std = first(clean, ZERO_STD_KEYS)
        if zero_std is not None:
            out += self._check_zero_std(js, step, zero_std, reward)
        if MFU in clean:
            out += self._check_mfu(js, step, clean[MFU])
        return out
