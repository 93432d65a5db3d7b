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
