"""The watchdogs' rule ids, their severities and their thresholds (`WatchdogConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from agent_core.record.events import ENDED_JOB_STATES

RULES = (
    "nan",
    "lr_near_zero",
    "schedule_horizon",
    "loss_flat",
    "reward_flat",
    "grad_spike",
    "reward_collapse",
    "reward_up_dev_down",
    "reward_up_dev_flat",
    "length_runaway",
    "completions_clipped",
    "zero_variance_groups",
    "gpu_idle",
    "low_mfu",
    "stall",
)
SEVERITY = {
    "nan": "high",
    "lr_near_zero": "high",
    "schedule_horizon": "warning",
    "loss_flat": "warning",
    "reward_flat": "warning",
    "grad_spike": "warning",
    "reward_collapse": "high",
    "reward_up_dev_down": "high",
    "reward_up_dev_flat": "warning",
    "length_runaway": "warning",
    "completions_clipped": "warning",
    "zero_variance_groups": "warning",
    "gpu_idle": "warning",
    "low_mfu": "info",
    "stall": "high",
}

# A job_state that ends a job: the job states (agent_core.record.events, the one home), and the
# end states other tools write in recorded streams (`tinker-tui check metrics`).
ENDED_STATES = ENDED_JOB_STATES + ("crashed", "cancelled", "killed")
# Schedules whose LR legitimately falls early or comes back up: no horizon check.
NO_HORIZON_SCHEDULES = ("cosine_with_restarts", "inverse_sqrt", "reduce_lr_on_plateau")
GRPO_METHODS = ("grpo", "rl", "ppo", "rloo", "dpo_online")  # a job of one of these is judged by its reward
HISTORY = 256


@dataclass
class WatchdogConfig:
    # lr_near_zero / schedule_horizon
    lr_zero_frac: float = 0.01  # LR below this fraction of the job's peak LR counts as ~0
    lr_zero_abs: float = 1e-9  # ... and so does any LR at or below this
    lr_zero_steps: int = 3  # consecutive logged steps
    lr_tail_frac: float = 0.10  # the last 10% of planned steps may legitimately sit at ~0
    horizon_min_frac: float = 0.75  # estimated schedule horizon < 75% of planned steps: alert
    horizon_half_by: float = 0.45  # LR under half its peak before 45% of planned steps: alert
    # loss_flat / reward_flat
    flat_window: int = 30  # logged steps; the window is split in two halves
    loss_flat_rel: float = 0.02  # improvement under 2% of the loss level ...
    flat_noise_k: float = 2.0  # ... or under k standard errors of the half-window means
    loss_progress_frac: float = 0.30  # a plateau after the loss fell 30% since job start = converged
    reward_flat_abs: float = 0.02
    reward_progress_abs: float = 0.10  # a plateau after the reward rose this much = saturated
    # grad_spike
    grad_window: int = 50
    grad_min_history: int = 10
    grad_spike_factor: float = 5.0  # grad_norm > 5 x running median ...
    grad_spike_mad_k: float = 10.0  # ... and > median + 10 robust sigmas
    # reward_collapse
    collapse_min_history: int = 10
    collapse_drop_abs: float = 0.15  # drop below the running peak must exceed all three
    collapse_drop_frac: float = 0.40
    collapse_noise_k: float = 5.0
    # reward_up_dev_down
    dev_drop_abs: float = 0.05  # dev score this far below its best ...
    reward_trend_window: int = 30  # ... while the reward's trend over the last 30 logged steps
    reward_rise_abs: float = 0.02  # rises at least this much, with a slope above k standard
    reward_rise_noise_k: float = 2.0  # errors
    # reward_up_dev_flat
    dev_flat_scores: int = 3  # this many dev scores in a row ...
    dev_flat_abs: float = 0.03  # ... within this of each other, while the reward since the first
    reward_flat_dev_rise: float = 0.12  # of them rose at least this much (and k standard errors)
    # length_runaway
    length_factor: float = 2.0
    length_min_increase: float = 32.0  # tokens
    length_min_history: int = 5
    # completions_clipped
    clipped_ratio_max: float = 0.25  # this share of completions cut at max_completion_length ...
    clipped_steps: int = 3  # ... for this many logged steps in a row
    # zero_variance_groups
    zero_std_frac: float = 0.8
    zero_std_steps: int = 3
    # gpu_idle
    gpu_idle_util: float = 5.0  # percent
    gpu_idle_samples: int = 3  # consecutive host samples ...
    gpu_idle_s: float = 12.0  # ... spanning at least this long (when timestamps are known)
    gpu_startup_grace_s: float = 300.0  # model loading: idle GPU is fine until the first metric or this
    # low_mfu
    low_mfu: float = 0.15
    low_mfu_steps: int = 3
    mfu_grace_steps: int = 3  # first logged steps of a job (compilation, warm-up) ignored
    # stall
    stall_timeout_s: float = 300.0  # no metric for this long while a job runs ...
    stall_step_factor: float = 10.0  # ... or 10 x the job's median step interval, whichever is longer
    stall_startup_s: float = 900.0  # allowance before a job's first metric (model load, data prep)

    @classmethod
    def from_dict(cls, data: dict) -> "WatchdogConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown watchdog settings: {', '.join(sorted(unknown))}")
        return cls(**data)
