"""Alerts on their way from the watchdogs (agent_core.oversight.watchdogs) and the budget to the
log, the person and the agent.

The watchdogs read every event as it is written (a log listener: bookkeeping only, under the log's
lock); what they find is collected here and written from the daemon's loop by `flush`. The agent
reads the alerts in its next tool result (`take_for_agent`); a parked `wait` wakes for them. A run
configured with `auto_pause_on` (a severity) pauses after such an alert.
"""

from __future__ import annotations

import time
from typing import Callable

from agent_core.agents.markers import ALERT_MARK, ALERT_SEP
from agent_core.oversight.watchdogs import Watchdogs
from agent_core.record.events import EventLog
from agent_core.training.jobs import Job


class AlertDesk:
    def __init__(self, log: EventLog, pause_on: str | None = None, pause: Callable[[str], None] | None = None):
        self.log = log
        self.watchdogs = Watchdogs()
        self.pause_on = pause_on  # e.g. "high": such an alert pauses the run
        self.pause = pause or (lambda rule: None)  # pause the run, naming the alert's rule
        self.for_agent: list[dict] = []  # in the log, not yet shown to the agent
        self._new: list[dict] = []  # found, not yet in the log
        log.subscribe(lambda ev: self._new.extend(self.watchdogs.feed(ev)))

    def add(self, alerts: list[dict]) -> None:
        self._new += alerts

    def job_planned(self, job: Job) -> None:
        """A job's total steps are known: the schedule watchdogs check its horizon."""
        spec = job.spec
        self._new += self.watchdogs.job_started(
            job.id,
            total_steps=job.total,
            lr_scheduler_type=spec.get("lr_scheduler_type"),
            warmup_steps=spec.get("warmup_steps"),
            learning_rate=spec.get("learning_rate"),
            method=spec.get("method"),
            scheduler_steps=job.schedule_steps,
        )

    def flush(self) -> None:
        """Write what was found (and what the watchdogs' clock finds now)."""
        found, self._new = self._new + self.watchdogs.tick(time.time()), []
        for alert in found:
            self.log.emit("alert", **alert)
            self.for_agent.append(alert)
            if self.pause_on and alert.get("severity") == self.pause_on:
                self.pause(alert["rule"])

    def take_for_agent(self) -> str:
        """The alerts the agent has not seen, as the tail of its next tool result ("" if none)."""
        if not self.for_agent:
            return ""
        lines = [
            f"{a['rule']} ({a['severity']}): {a['message']}" + (f" Check: {a['check']}" if a.get("check") else "")
            for a in self.for_agent
        ]
        self.for_agent = []
        return ALERT_MARK + ALERT_SEP.join(lines)
