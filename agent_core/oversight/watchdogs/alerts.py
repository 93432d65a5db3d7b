"""The watchdogs' shared state and alert plumbing: `AlertBase` holds the jobs, the alerts raised
and the (rule, job) pairs that fired and are not re-armed yet; the rule classes build on it."""

from __future__ import annotations

import threading
from collections import deque
from statistics import median

from agent_core.oversight.watchdogs.config import HISTORY, SEVERITY, WatchdogConfig
from agent_core.oversight.watchdogs.job import JobState
from agent_core.record.events import parse_ts


class AlertBase:
    """State and plumbing shared by the rule classes (`Watchdogs` combines them)."""

    def __init__(self, config: WatchdogConfig | None = None):
        self.config = config or WatchdogConfig()
        self.jobs: dict[str, JobState] = {}
        self.active: set[tuple[str, str | None]] = set()  # (rule, job) fired and not yet re-armed
        self.alerts: list[dict] = []  # every alert raised so far
        self.now: float | None = None  # latest time seen (event ts or tick)
        self.last_job: str | None = None
        self._reward_recent: deque = deque(maxlen=self.config.reward_trend_window)
        self._reward_job: str | None = None
        self._reward_series: deque = deque(maxlen=HISTORY)  # the latest job's rewards
        self._reward_n = 0  # rewards the latest job logged
        self._dev_recent: deque = deque(maxlen=self.config.dev_flat_scores)  # (dev score, _reward_n then)
        self._dev_best: float | None = None
        self._gpu_idle_n = 0
        self._gpu_idle_since: float | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ alert plumbing
    def _fire(
        self,
        rule: str,
        job: str | None,
        step: int | None,
        message: str,
        cause: str,
        check: str,
        severity: str | None = None,
        variant: str = "",
    ) -> list[dict]:
        key = (rule + variant, job)
        if key in self.active:
            return []
        self.active.add(key)
        alert = {
            "rule": rule,
            "severity": severity or SEVERITY[rule],
            "message": message,
            "cause": cause,
            "check": check,
            "job": job,
            "step": step,
        }
        self.alerts.append(alert)
        return [alert]

    def _rearm(self, rule: str, job: str | None, variant: str = "") -> None:
        self.active.discard((rule + variant, job))

    def _clock(self, event: dict | None, now: float | None) -> float | None:
        t = parse_ts(event.get("ts")) if event else None
        if t is None:
            t = now
        if t is not None:
            self.now = t if self.now is None else max(self.now, t)
        return t

    # ------------------------------------------------------------------ jobs
    def _job(self, name: str, now: float | None, explicit: bool = False) -> JobState:
        js = self.jobs.get(name)
        if js is None:
            js = self.jobs[name] = JobState(name, now, explicit)
        return js

    def _stall_limit(self, js: JobState) -> float:
        c = self.config
        step_s = median(js.intervals) if len(js.intervals) >= 3 else 0.0
        return max(c.stall_timeout_s, c.stall_step_factor * step_s)
