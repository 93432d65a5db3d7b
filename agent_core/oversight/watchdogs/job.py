"""Per-job training state of the watchdogs: what one job has logged so far (bounded series),
its plan (total steps, LR schedule, method) and the running references the rules compare with."""

from __future__ import annotations

from collections import deque

from agent_core.oversight.watchdogs.config import GRPO_METHODS, HISTORY
from agent_core.record.events import LIVE_JOB_STATES


class JobState:
    """One training job as the watchdogs see it. `series` holds the values the rules pushed
    ("loss", "reward", "grad_norm", "length"), `first` the first three of each, `counts` the
    rules' consecutive-step counters."""

    def __init__(self, name: str, now: float | None, explicit: bool):
        self.name = name
        self.explicit = explicit  # started by job_started / job_state (else inferred from metrics)
        self.state = "running"
        self.started = now
        self.ended: float | None = None
        self.total_steps: int | None = None
        self.scheduler_steps: int | None = None
        self.lr_scheduler_type: str | None = None
        self.method: str | None = None
        self.warmup_steps: int | None = None
        self.learning_rate: float | None = None
        self.step: int | None = None
        self.n_logs = 0
        self.last_metric_t: float | None = None
        self.intervals: deque = deque(maxlen=20)
        self.series: dict[str, deque] = {}
        self.first: dict[str, list] = {}
        self.counts: dict[str, int] = {}
        # lr
        self.lr_peak = 0.0
        self.lr_peak_step: int | None = None
        self.lr_prev: float | None = None
        self.lr_rose = False
        # running references
        self.reward_peak: float | None = None
        self.length_base: float | None = None

    def push(self, key: str, value: float) -> deque:
        d = self.series.get(key)
        if d is None:
            d = self.series[key] = deque(maxlen=HISTORY)
        d.append(value)
        f = self.first.setdefault(key, [])
        if len(f) < 3:
            f.append(value)
        return d

    def is_grpo(self) -> bool:
        if self.method:
            return self.method.lower() in GRPO_METHODS
        return "reward" in self.series  # pushed by the reward rules

    def running(self) -> bool:
        return self.ended is None and self.state in LIVE_JOB_STATES
