"""The seeded failure catalog for the watchdog tests: one or more traces per watchdog rule, each
with the index of its onset event recorded (the onset conventions are in traces.py)."""

from __future__ import annotations

import math
import random

from traces import HOST_S, T0, Run, Stream, Trace, finish, iso

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
