"""Training watchdogs: turn the event stream into alerts a person (or the agent) can act on.

Pure Python (no torch, no textual). `Watchdogs.feed(event)` takes one event of the run's log at
a time (`metric`, `host_sample`, `score`, `job_state`; others are ignored) and returns the new
alerts as dicts:

    {"rule": str, "severity": "info" | "warning" | "high", "message": str,
     "cause": str (the likely causes), "check": str (what to look at next),
     "job": str | None, "step": int | None}

Each alert fires once per onset: a rule that is still true on the next step stays quiet, and it
re-arms only after the condition has clearly cleared (hysteresis), per job.

Rules (the `alert.rule` ids):

    nan                  NaN / inf (or null: the worker writes non-finite numbers as null) in a metric
    lr_near_zero         learning rate ~0 for several logged steps while training (not in the planned tail)
    schedule_horizon     the LR schedule ends before the job does (estimated from the logged LR, or
                         stated at job start: scheduler_steps < total_steps)
    loss_flat            SFT loss not improving over a window, while the job has made little progress
    reward_flat          GRPO reward not improving over a window, while it has made little progress
    grad_spike           grad_norm far above its robust running median
    reward_collapse      reward fell far below its running peak and stays there
    reward_up_dev_down   training reward rising while the dev score falls (`score` events, split dev)
    reward_up_dev_flat   training reward rising while the last few dev scores stay flat
    length_runaway       completion length doubled since its lowest level
    completions_clipped  a quarter or more of the completions cut at the length limit
                         (clipped_ratio), several logged steps in a row
    zero_variance_groups most GRPO groups have zero reward variance (frac_zero_std), sustained
    gpu_idle             GPU utilisation ~0 while a job runs (never fires without a GPU)
    low_mfu              model FLOPs utilisation below 15%, sustained (only when `mfu` is logged)
    stall                no metric from a running job for too long: call `tick(now)` periodically

How the daemon feeds it
-----------------------
    wd = Watchdogs()                       # or Watchdogs(WatchdogConfig(stall_timeout_s=600))
    pending: list[dict] = []
    log.subscribe(lambda ev: pending.extend(wd.feed(ev)))
        # EventLog calls listeners under its (non-reentrant) lock: never log.emit from the
        # listener itself; emit the pending alerts from the daemon's loop instead
    when a training job starts (and again when the worker's first progress line tells the total):
        pending += wd.job_started(job.id, total_steps=spec max_steps or progress total,
                                  lr_scheduler_type=..., warmup_steps=..., learning_rate=...,
                                  method="sft" | "grpo")
    every ~5 s (e.g. in the host-sampling task):
        for a in pending + wd.tick(time.time()): log.emit("alert", **a)
        pending.clear()

Feed every event (metric, host_sample, score, job_state; the rest is ignored). Feeding, ticking
and job_started are serialised by an internal lock, so they may come from different threads.
`job_state` events are also understood: a live state (queued / running / stopping) starts the
job (fields total_steps / max_steps / total, lr_scheduler_type, warmup_steps, method,
learning_rate, scheduler_steps on the event, or under "spec", are taken as job_started
arguments); finished / stopped / failed (and, in streams from elsewhere, crashed / cancelled /
killed) ends it. Never feed `alert` events back (they are ignored anyway).

Without total_steps the horizon checks are off and lr_near_zero cannot tell a schedule's planned
end from a broken one; pass total_steps when it is known.

Metric names are those of agent_core.record.metrics (the worker's names first, then the aliases
other tools write); job states those of agent_core.record.events.

Modules: `engine` (Watchdogs: feeding, jobs, stall), `alerts` (shared state, firing and
re-arming), `job` (per-job training state), `training` (nan, LR and schedule, grad, loss),
`rewards` (GRPO reward, length and group-variance rules, dev score), `host` (GPU idle, MFU),
`config` (rule ids, severities, thresholds), `stats` (number helpers).
"""

from agent_core.oversight.watchdogs.config import (
    ENDED_STATES,
    HISTORY,
    NO_HORIZON_SCHEDULES,
    RULES,
    SEVERITY,
    WatchdogConfig,
)
from agent_core.oversight.watchdogs.engine import Watchdogs
from agent_core.record.events import parse_ts

__all__ = [
    "ENDED_STATES",
    "HISTORY",
    "NO_HORIZON_SCHEDULES",
    "RULES",
    "SEVERITY",
    "WatchdogConfig",
    "Watchdogs",
    "parse_ts",
]
