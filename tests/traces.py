"""Synthetic training event streams for the watchdog tests: healthy runs (SFT and GRPO, noisy,
several seeds) and a catalog of seeded failures, one or more per watchdog rule, each with the
index of its onset event recorded.

A trace is a list of event dicts as they appear in events.jsonl (`metric`, `host_sample`,
`score`, `job_state`), plus pseudo-events {"type": "tick", "now": t} where the daemon would call
`Watchdogs.tick(now)`. Time runs at `dt` seconds per logged step, host samples every 2 s (the
daemon's cadence), ticks every 5 s.

Onset conventions (what "caught within 3 log steps of onset" is measured from):
    point failures (nan, grad_spike, reward_collapse, zero_variance_groups, low_mfu,
        completions_clipped, lr set to 0): the first logged step showing the failure;
    lr_near_zero: the first logged step whose LR is under 1% of the peak;
    schedule_horizon: the job's first logged step when the scheduler type is known (the LR is
        already on the wrong curve), the job_state event when the horizon is stated, else the
        first step with the LR under half its peak;
    loss_flat / reward_flat: the step that completes the first flat window (flat_window steps);
    length_runaway: the first step whose noise-free length reaches 2x its baseline;
    reward_up_dev_down: the first dev score 0.05 or more below the best dev score;
    reward_up_dev_flat: the dev score that makes three in a row within 0.03 of each other while
        the reward rose meanwhile;
    gpu_idle: the first idle host sample (delay counted in logged steps, also reported in samples);
    stall: the first tick past the stall limit (delay reported in seconds).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

T0 = 1_760_000_000.0
HOST_S = 2.0
TICK_S = 5.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lr_lambda(sched: str, s: int, warmup: int, horizon: int) -> float:
    if sched == "constant":
        return 1.0
    if s < warmup:
        return s / max(1, warmup)
    if sched == "constant_with_warmup":
        return 1.0
    p = (s - warmup) / max(1, horizon - warmup)
    if sched == "linear":
        return max(0.0, 1.0 - p)
    if sched == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, p))))
    raise ValueError(sched)


@dataclass
class Trace:
    name: str
    rule: str | None  # the seeded failure; None for a healthy trace
    events: list[dict]
    onset: int | None = None  # index into events
    unit: str = "metric"  # delay counted in: metric | seconds
    note: str = ""
    trouble: int | None = None  # where the trace stops being healthy (default: onset);
    # no alert may fire before it

    def __post_init__(self) -> None:
        if self.trouble is None:
            self.trouble = self.onset


@dataclass
class Run:
    """Per-step values of one job, edited by the failure injectors before rendering."""

    seed: int
    method: str = "sft"
    T: int = 200
    sched: str = "cosine"
    warmup: int = 10
    horizon: int | None = None  # the scheduler's real horizon (None: T)
    peak_lr: float = 2e-4
    dt: float = 6.0
    job: str = "job1"
    announce: dict | None = None  # job_state fields; None: the real ones
    steps: list[dict] = field(default_factory=list)
    util: list[float] = field(default_factory=list)  # per host sample, while the job runs

    def __post_init__(self) -> None:
        rng = random.Random(self.seed * 7919 + (1 if self.method == "sft" else 2))
        H = self.horizon or self.T
        loss_floor = rng.uniform(0.4, 0.9)
        loss0 = loss_floor + rng.uniform(1.2, 2.0)
        tau = self.T * rng.uniform(0.15, 0.3)
        loss_noise = rng.uniform(0.02, 0.06)
        g_inf, g0 = rng.uniform(0.5, 1.5), rng.uniform(3.0, 8.0)
        r0, rmax = rng.uniform(0.05, 0.35), rng.uniform(0.7, 0.9)
        r_tau = self.T * rng.uniform(0.2, 0.35)
        r_noise = rng.uniform(0.02, 0.06)
        len0 = rng.uniform(40, 120)
        mfu0 = rng.uniform(0.25, 0.42)
        for s in range(1, self.T + 1):
            v: dict = {}
            v["learning_rate"] = self.peak_lr * lr_lambda(self.sched, s, self.warmup, H)
            v["grad_norm"] = (g_inf + (g0 - g_inf) * math.exp(-s / 15)) * math.exp(rng.gauss(0, 0.25))
            v["epoch"] = round(s / self.T * 2, 4)
            v["tokens_per_s"] = rng.gauss(5200, 300)
            v["num_tokens"] = s * 65536
            v["mfu"] = max(0.0, rng.gauss(0.08 if s == 1 else mfu0, 0.02))
            if self.method == "sft":
                v["loss"] = (loss_floor + (loss0 - loss_floor) * math.exp(-s / tau)) * math.exp(
                    rng.gauss(0, loss_noise)
                )
                v["mean_token_accuracy"] = min(1.0, 0.4 + 0.5 * (1 - math.exp(-s / tau)) + rng.gauss(0, 0.01))
                v["entropy"] = max(0.1, 1.8 * math.exp(-s / (2 * tau)) + 0.4 + rng.gauss(0, 0.03))
            else:
                r = r0 + (rmax - r0) * (1 - math.exp(-s / r_tau))
                reward = min(1.0, max(0.0, r + rng.gauss(0, r_noise)))
                v["loss"] = rng.gauss(0.0, 0.02)
                v["reward"] = reward
                v["reward_std"] = max(0.0, 0.35 + rng.gauss(0, 0.04))
                v["rewards/correct/mean"] = reward
                v["frac_reward_zero_std"] = min(1.0, max(0.0, r**8 + (1 - r) ** 8 + 0.1 + rng.gauss(0, 0.04)))
                v["kl"] = 0.002 * (1 - math.exp(-s / 50)) + abs(rng.gauss(0, 0.0005))
                v["entropy"] = max(0.05, 0.9 - 0.3 * s / self.T + rng.gauss(0, 0.03))
                v["completions/mean_length"] = len0 * (1 + 0.2 * s / self.T) * math.exp(rng.gauss(0, 0.06))
                v["completions/clipped_ratio"] = min(1.0, abs(rng.gauss(0.02, 0.02)))
            self.steps.append(v)
        n_samples = int(self.T * self.dt / HOST_S) + 1
        self.util = [min(100.0, max(0.0, rng.gauss(88, 7))) for _ in range(n_samples)]
        # checkpoint saves: a couple of short dips (<= 2 samples)
        for k in range(1, 4):
            i = int(n_samples * k / 4)
            self.util[i] = 0.0
            if i + 1 < n_samples and k % 2:
                self.util[i + 1] = 1.0
        self.rng = rng


@dataclass
class Stream:
    """Renders one or more Runs into a timed event list."""

    t: float = T0
    events: list[dict] = field(default_factory=list)
    gpus: int = 1
    next_host: float = T0
    next_tick: float = T0
    ticks: bool = True

    def _clock_to(self, t: float, util: Callable[[float], float | None]) -> None:
        while min(self.next_host, self.next_tick) <= t:
            if self.next_host <= self.next_tick:
                u = util(self.next_host)
                gpus = (
                    []
                    if self.gpus == 0
                    else [
                        {
                            "index": i,
                            "name": "NVIDIA H100 80GB HBM3",
                            "util": u,
                            "mem_used": 40e9,
                            "mem_total": 80e9,
                            "power": 300.0,
                            "temp": 60,
                        }
                        for i in range(self.gpus)
                    ]
                )
                self.events.append(
                    {
                        "type": "host_sample",
                        "ts": iso(self.next_host),
                        "gpus": gpus,
                        "cpu": 35.0,
                        "memory": {"used": 30e9, "total": 128e9, "percent": 23.0},
                    }
                )
                self.next_host += HOST_S
            else:
                if self.ticks:
                    self.events.append({"type": "tick", "now": self.next_tick})
                self.next_tick += TICK_S
        self.t = t

    def idle(self, seconds: float, util: float = 0.0) -> None:
        self._clock_to(self.t + seconds, lambda _t: util)

    def job(
        self,
        run: Run,
        startup_s: float = 30.0,
        end: str | None = "finished",
        stop_after: int | None = None,
        dev: Callable[[int], float | None] | None = None,
        hang_s: float = 0.0,
        gap: tuple[int, float] | None = None,
    ) -> dict[int, int]:
        """Append a job's events; returns {step: index of its metric event}."""
        fields_ = (
            run.announce
            if run.announce is not None
            else {
                "method": run.method,
                "total_steps": run.T,
                "lr_scheduler_type": run.sched,
                "warmup_steps": run.warmup,
                "learning_rate": run.peak_lr,
            }
        )
        self.events.append({"type": "job_state", "ts": iso(self.t), "job": run.job, "state": "queued"})
        self.events.append({"type": "job_state", "ts": iso(self.t), "job": run.job, "state": "running", **fields_})
        start = self.t
        first_step_t = start + startup_s

        def util(t: float) -> float:
            if t < first_step_t:
                return 0.0  # loading the model
            i = int((t - first_step_t) / HOST_S)
            return run.util[min(i, len(run.util) - 1)]

        where: dict[int, int] = {}
        t = first_step_t
        for s, values in enumerate(run.steps, start=1):
            if stop_after is not None and s > stop_after:
                break
            t += run.dt
            if gap is not None and s == gap[0]:
                t += gap[1]
            self._clock_to(t, util)
            where[s] = len(self.events)
            self.events.append({"type": "metric", "ts": iso(t), "job": run.job, "step": s, "values": dict(values)})
            if dev is not None:
                d = dev(s)
                if d is not None:
                    self.events.append(
                        {
                            "type": "score",
                            "ts": iso(t),
                            "split": "dev",
                            "value": d,
                            "checkpoint": f"{run.job}/step-{s}",
                            "role": "dev",
                        }
                    )
        if hang_s:
            self._clock_to(t + hang_s, util)
        if end:
            self.events.append(
                {"type": "job_state", "ts": iso(self.t), "job": run.job, "state": end, "detail": "checkpoint out/ckpt"}
            )
        return where


def finish(events: list[dict]) -> list[dict]:
    for i, ev in enumerate(events, start=1):
        ev["seq"] = i
    return events


# ------------------------------------------------------------------------------ healthy
def healthy_traces() -> list[Trace]:
    out: list[Trace] = []
    configs = [
        ("sft", "cosine", 10, 240),
        ("sft", "linear", 0, 200),
        ("sft", "constant", 0, 160),
        ("sft", "cosine", 0, 300),
        ("sft", "constant_with_warmup", 20, 180),
        ("grpo", "constant", 0, 200),
        ("grpo", "constant_with_warmup", 10, 240),
        ("grpo", "cosine", 5, 200),
        ("grpo", "constant", 0, 300),
    ]
    for seed in range(3):
        for k, (method, sched, warmup, T) in enumerate(configs):
            run = Run(
                seed=seed * 100 + k,
                method=method,
                T=T,
                sched=sched,
                warmup=warmup,
                peak_lr=2e-4 if method == "sft" else 1e-5,
            )
            st = Stream()
            st.idle(20, util=0.0)
            dev = None
            if method == "grpo":
                drng = random.Random(seed * 31 + k)
                base = drng.uniform(0.1, 0.3)

                def dev(s, base=base, drng=drng, T=T):
                    if s % 20:
                        return None
                    return round(min(1.0, base + 0.5 * (1 - math.exp(-s / (0.3 * T))) + drng.gauss(0, 0.012)), 4)

            st.job(run, dev=dev)
            st.idle(60, util=0.0)  # job over: an idle GPU is fine
            out.append(Trace(f"healthy-{method}-{sched}-s{seed}", None, finish(st.events)))
    # two jobs in one run: SFT warm-up, then GRPO from its checkpoint
    for seed in range(2):
        st = Stream()
        st.job(Run(seed=500 + seed, method="sft", T=120, sched="linear", warmup=5, job="job1"))
        st.idle(30)
        st.job(Run(seed=600 + seed, method="grpo", T=150, sched="constant", warmup=0, peak_lr=1e-5, job="job2"))
        out.append(Trace(f"healthy-sft-then-grpo-s{seed}", None, finish(st.events)))
    # no GPU at all: host samples have no GPUs, the job trains on the CPU
    st = Stream(gpus=0)
    st.job(Run(seed=700, method="sft", T=150, sched="constant", warmup=0))
    out.append(Trace("healthy-no-gpu", None, finish(st.events)))
    # metrics only, no job_state, no total steps (a recorded stream; what `check metrics` sees)
    run = Run(seed=800, method="sft", T=200, sched="constant", warmup=0)
    events = [
        {"type": "metric", "ts": iso(T0 + 6 * s), "job": "job1", "step": s, "values": v}
        for s, v in enumerate(run.steps, start=1)
    ]
    out.append(Trace("healthy-metrics-only", None, finish(events)))
    # slow steps (GRPO generation: 90 s per step) must not look like a stall
    st = Stream()
    st.job(Run(seed=900, method="grpo", T=40, sched="constant", warmup=0, dt=90.0, peak_lr=1e-5))
    out.append(Trace("healthy-slow-steps", None, finish(st.events)))
    return out


# ------------------------------------------------------------------------------ failures


def failure_traces(offset: int = 0) -> list[Trace]:
    """The seeded catalog; `offset` shifts every random seed (robustness sweeps)."""
    out: list[Trace] = []

    # nan: the worker writes NaN as null; grad_norm NaN as a float too
    for seed in range(2):
        run = Run(seed=offset + seed, method="sft", T=120, sched="cosine", warmup=5)
        run.steps[69]["loss"] = None
        run.steps[69]["grad_norm"] = float("nan")
        st = Stream()
        where = st.job(run, stop_after=70, end="failed")
        out.append(Trace(f"nan-s{seed}", "nan", finish(st.events), where[70]))

    # lr_near_zero: cosine with a 60-step horizon in a 300-step job
    for seed in range(2):
        run = Run(seed=offset + 10 + seed, method="sft", T=300, sched="cosine", warmup=0, horizon=60)
        onset = next(s for s, v in enumerate(run.steps, 1) if v["learning_rate"] < 0.01 * run.peak_lr)
        st = Stream()
        where = st.job(run, stop_after=onset + 10, end=None)
        out.append(
            Trace(f"lr_near_zero-horizon-s{seed}", "lr_near_zero", finish(st.events), where[onset], trouble=where[1])
        )
    # lr_near_zero: the agent set the LR to 0 half way (e.g. a resumed job with lr 0)
    run = Run(seed=offset + 12, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
    for v in run.steps[79:]:
        v["learning_rate"] = 0.0
    st = Stream()
    where = st.job(run, stop_after=100, end=None)
    out.append(Trace("lr_near_zero-set-to-zero", "lr_near_zero", finish(st.events), where[80]))
    # lr_near_zero: LR 0 from the start, nothing announced
    run = Run(seed=offset + 13, method="sft", T=100, sched="constant", warmup=0, announce={})
    for v in run.steps:
        v["learning_rate"] = 0.0
    st = Stream()
    where = st.job(run, stop_after=20, end=None)
    out.append(Trace("lr_near_zero-from-start", "lr_near_zero", finish(st.events), where[1]))

    # schedule_horizon: known cosine, horizon 30 of 300 (the Tinkerer failure)
    for seed in range(2):
        run = Run(seed=offset + 20 + seed, method="grpo", T=300, sched="cosine", warmup=0, horizon=30, peak_lr=1e-5)
        st = Stream()
        where = st.job(run, stop_after=40, end=None)
        out.append(Trace(f"schedule_horizon-cosine-s{seed}", "schedule_horizon", finish(st.events), where[1]))
    # known linear with warmup, horizon 60 of 400
    run = Run(seed=offset + 22, method="sft", T=400, sched="linear", warmup=5, horizon=60)
    st = Stream()
    where = st.job(run, stop_after=40, end=None)
    out.append(Trace("schedule_horizon-linear-warmup", "schedule_horizon", finish(st.events), where[6]))
    # scheduler type not announced: caught when the LR is under half its peak
    run = Run(
        seed=offset + 23, method="sft", T=300, sched="cosine", warmup=0, horizon=50, announce={"total_steps": 300}
    )
    onset = next(s for s, v in enumerate(run.steps, 1) if v["learning_rate"] < 0.5 * run.peak_lr)
    st = Stream()
    where = st.job(run, stop_after=onset + 5, end=None)
    out.append(Trace("schedule_horizon-type-unknown", "schedule_horizon", finish(st.events), where[onset]))
    # stated at job start: scheduler built for 50 steps, job plans 300
    run = Run(
        seed=offset + 24,
        method="sft",
        T=300,
        sched="cosine",
        warmup=0,
        horizon=50,
        announce={"total_steps": 300, "scheduler_steps": 50, "lr_scheduler_type": "cosine"},
    )
    st = Stream()
    st.job(run, stop_after=5, end=None)
    idx = next(i for i, e in enumerate(st.events) if e["type"] == "job_state" and e["state"] == "running")
    out.append(Trace("schedule_horizon-stated", "schedule_horizon", finish(st.events), idx))

    from agent_core.oversight.watchdogs import WatchdogConfig

    W = WatchdogConfig().flat_window
    # loss_flat: LR far too low, loss flat from the start
    for seed in range(3):
        run = Run(seed=offset + 30 + seed, method="sft", T=200, sched="constant", warmup=0, peak_lr=1e-7)
        rng = random.Random(offset + seed)
        level = rng.uniform(1.5, 2.5)
        for v in run.steps:
            v["loss"] = level * math.exp(rng.gauss(0, 0.04))
        st = Stream()
        where = st.job(run, stop_after=W + 10, end=None)
        out.append(Trace(f"loss_flat-from-start-s{seed}", "loss_flat", finish(st.events), where[W], trouble=where[1]))
    # loss_flat: learning for 40 steps (2.6 -> 2.0, under the 30% "converged" mark), then stuck
    # (the agent froze the parameters / LoRA not attached on the next job's resume)
    run = Run(seed=offset + 33, method="sft", T=200, sched="constant", warmup=0)
    rng = random.Random(offset + 7)
    for s, v in enumerate(run.steps, 1):
        level = 2.6 - 0.6 * min(s, 40) / 40
        v["loss"] = level * math.exp(rng.gauss(0, 0.03))
    st = Stream()
    where = st.job(run, stop_after=40 + W + 10, end=None)
    out.append(Trace("loss_flat-stuck-after-40", "loss_flat", finish(st.events), where[40 + W], trouble=where[41]))

    # reward_flat: GRPO reward flat around 0.35 (no signal, LR too low)
    for seed in range(3):
        run = Run(seed=offset + 40 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 40 + seed)
        level = rng.uniform(0.2, 0.5)
        for v in run.steps:
            v["reward"] = v["rewards/correct/mean"] = min(1.0, max(0.0, level + rng.gauss(0, 0.04)))
        st = Stream()
        where = st.job(run, stop_after=W + 10, end=None)
        out.append(Trace(f"reward_flat-s{seed}", "reward_flat", finish(st.events), where[W], trouble=where[1]))

    # grad_spike: one step 12x
    for seed in range(3):
        run = Run(
            seed=offset + 50 + seed,
            method="sft" if seed % 2 else "grpo",
            T=150,
            sched="constant",
            warmup=0,
            peak_lr=1e-5,
        )
        run.steps[89]["grad_norm"] *= 12
        st = Stream()
        where = st.job(run, stop_after=100, end=None)
        out.append(Trace(f"grad_spike-s{seed}", "grad_spike", finish(st.events), where[90]))

    # reward_collapse: reward climbs, then falls to ~0.05 and stays
    for seed in range(3):
        run = Run(seed=offset + 60 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 60 + seed)
        for v in run.steps[99:]:
            v["reward"] = v["rewards/correct/mean"] = max(0.0, 0.05 + rng.gauss(0, 0.03))
        st = Stream()
        where = st.job(run, stop_after=110, end=None)
        out.append(Trace(f"reward_collapse-s{seed}", "reward_collapse", finish(st.events), where[100]))

    # reward_up_dev_down: reward keeps rising (0.005 per step), dev peaks at step 60 then falls
    # 0.06 per eval (every 10 steps)
    for seed in range(2):
        run = Run(seed=offset + 70 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 70 + seed)
        for s, v in enumerate(run.steps, 1):
            v["reward"] = v["rewards/correct/mean"] = min(1.0, 0.25 + 0.005 * s + rng.gauss(0, 0.04))

        def dev(s):
            if s % 10:
                return None
            return 0.30 + 0.04 * (s // 10) if s <= 60 else 0.54 - 0.06 * ((s - 60) // 10)

        st = Stream()
        st.job(run, stop_after=110, end=None, dev=dev)
        idx = next(
            i for i, e in enumerate(st.events) if e["type"] == "score" and e["checkpoint"].endswith("step-70")
        )  # 0.48: the first 0.05 under the best
        out.append(Trace(f"reward_up_dev_down-s{seed}", "reward_up_dev_down", finish(st.events), idx))

    # reward_up_dev_flat: reward keeps rising (0.01 per step), dev climbs to 0.55 by step 50
    # then stays there (evaluated every 10 steps)
    for seed in range(2):
        run = Run(seed=offset + 75 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 75 + seed)
        for s, v in enumerate(run.steps, 1):
            v["reward"] = v["rewards/correct/mean"] = min(1.0, 0.1 + 0.01 * s + rng.gauss(0, 0.04))

        def dev(s, rng=rng):
            if s % 10:
                return None
            return round(min(0.30 + 0.05 * (s // 10), 0.55) + rng.gauss(0, 0.005), 4)

        st = Stream()
        st.job(run, stop_after=100, end=None, dev=dev)
        idx = next(
            i for i, e in enumerate(st.events) if e["type"] == "score" and e["checkpoint"].endswith("step-70")
        )  # the third dev score at ~0.55 (50, 60, 70)
        out.append(Trace(f"reward_up_dev_flat-s{seed}", "reward_up_dev_flat", finish(st.events), idx))

    # length_runaway: lengths grow 6% per step from step 80
    for seed in range(2):
        run = Run(seed=offset + 80 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 80 + seed)
        base = 60.0
        onset = None
        for s, v in enumerate(run.steps, 1):
            true = base * (1.06 ** max(0, s - 80))
            if onset is None and true >= 2 * base:
                onset = s
            v["completions/mean_length"] = true * math.exp(rng.gauss(0, 0.05))
        st = Stream()
        where = st.job(run, stop_after=onset + 10, end=None)
        out.append(
            Trace(
                f"length_runaway-growth-s{seed}", "length_runaway", finish(st.events), where[onset], trouble=where[81]
            )
        )
    # completions_clipped: most completions hit the length limit from step 100 (looping), or a
    # third of them from the start (a limit too small for the task's answers)
    run = Run(seed=offset + 82, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
    for v in run.steps[99:]:
        v["completions/clipped_ratio"] = 0.85
    st = Stream()
    where = st.job(run, stop_after=110, end=None)
    out.append(Trace("completions_clipped-looping", "completions_clipped", finish(st.events), where[100]))
    run = Run(seed=offset + 83, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
    rng = random.Random(offset + 83)
    for v in run.steps:
        v["completions/clipped_ratio"] = min(1.0, max(0.3, 0.35 + rng.gauss(0, 0.03)))
    st = Stream()
    where = st.job(run, stop_after=15, end=None)
    out.append(Trace("completions_clipped-from-start", "completions_clipped", finish(st.events), where[1]))

    # zero_variance_groups: reward saturates, groups all-correct
    for seed in range(2):
        run = Run(seed=offset + 90 + seed, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
        rng = random.Random(offset + 90 + seed)
        for v in run.steps[119:]:
            v["frac_reward_zero_std"] = min(1.0, 0.9 + abs(rng.gauss(0, 0.03)))
            v["reward"] = v["rewards/correct/mean"] = min(1.0, 0.97 + rng.gauss(0, 0.01))
        st = Stream()
        where = st.job(run, stop_after=130, end=None)
        out.append(Trace(f"zero_variance_groups-s{seed}", "zero_variance_groups", finish(st.events), where[120]))
    # zero_variance_groups: all-wrong from the start (task too hard)
    run = Run(seed=offset + 92, method="grpo", T=200, sched="constant", warmup=0, peak_lr=1e-5)
    rng = random.Random(offset + 92)
    for v in run.steps:
        v["frac_reward_zero_std"] = min(1.0, 0.93 + abs(rng.gauss(0, 0.02)))
        v["reward"] = v["rewards/correct/mean"] = max(0.0, 0.01 + rng.gauss(0, 0.005))
    st = Stream()
    where = st.job(run, stop_after=15, end=None)
    out.append(Trace("zero_variance_groups-all-wrong", "zero_variance_groups", finish(st.events), where[1]))

    # gpu_idle: at step 100 the GPU goes to 0% while metrics keep coming (e.g. fell back to CPU)
    for seed in range(2):
        run = Run(seed=offset + 100 + seed, method="sft", T=200, sched="constant", warmup=0)
        first_idle = int(100 * run.dt / HOST_S)
        for i in range(first_idle, len(run.util)):
            run.util[i] = 0.0
        st = Stream()
        where = st.job(run, stop_after=110, end=None)
        # the first idle host sample
        t_idle = T0 + 30.0 + first_idle * HOST_S
        idx = next(
            i
            for i, e in enumerate(st.events)
            if e["type"] == "host_sample" and e["ts"] >= iso(t_idle) and e["gpus"][0]["util"] == 0.0
        )
        out.append(Trace(f"gpu_idle-s{seed}", "gpu_idle", finish(st.events), idx))

    # low_mfu: MFU drops to ~7% at step 60 (data loader bottleneck)
    for seed in range(2):
        run = Run(seed=offset + 110 + seed, method="sft", T=200, sched="constant", warmup=0)
        rng = random.Random(offset + 110 + seed)
        for v in run.steps[59:]:
            v["mfu"] = max(0.0, 0.07 + rng.gauss(0, 0.01))
        st = Stream()
        where = st.job(run, stop_after=70, end=None)
        out.append(Trace(f"low_mfu-s{seed}", "low_mfu", finish(st.events), where[60]))

    # stall: metrics stop after step 50 while the job stays "running"; ticks go on
    for dt in (6.0, 45.0):
        run = Run(seed=offset + 120, method="sft", T=200, sched="constant", warmup=0, dt=dt)
        st = Stream()
        st.job(run, stop_after=50, end=None, hang_s=1200.0)
        last = max(i for i, e in enumerate(st.events) if e["type"] == "metric")
        last_t = T0 + 30.0 + 50 * dt
        limit = max(300.0, 10 * dt)
        idx = next(i for i, e in enumerate(st.events) if e["type"] == "tick" and e["now"] - last_t > limit)
        assert idx > last
        out.append(
            Trace(f"stall-dt{int(dt)}", "stall", finish(st.events), idx, unit="seconds", note=f"limit {limit:.0f}s")
        )
    return out


# ------------------------------------------------------------------------------ runner
def run_trace(trace: Trace, wd=None) -> list[tuple[int, dict]]:
    """Feed a trace through Watchdogs; return [(event index, alert)]."""
    from agent_core.oversight.watchdogs import Watchdogs

    wd = wd or Watchdogs()
    fired: list[tuple[int, dict]] = []
    for i, ev in enumerate(trace.events):
        if ev["type"] == "tick":
            alerts = wd.tick(ev["now"])
        else:
            alerts = wd.feed(ev)
        fired += [(i, a) for a in alerts]
    return fired


def delay(trace: Trace, index: int) -> float:
    """Detection delay of an alert raised at event `index`, in the trace's unit."""
    assert trace.onset is not None
    if trace.unit == "seconds":
        onset_ev, ev = trace.events[trace.onset], trace.events[index]
        return ev["now"] - onset_ev["now"]
    return sum(1 for e in trace.events[trace.onset + 1 : index + 1] if e["type"] == "metric")


def samples_between(trace: Trace, index: int) -> int:
    return sum(1 for e in trace.events[trace.onset + 1 : index + 1] if e["type"] == "host_sample")
