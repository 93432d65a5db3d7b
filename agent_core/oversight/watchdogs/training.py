"""Rules on the optimisation itself, for every job: non-finite values (nan), the learning rate
and its schedule (lr_near_zero, schedule_horizon), gradient spikes (grad_spike) and an SFT loss
that stopped improving (loss_flat)."""

from __future__ import annotations

import math
from statistics import median

from agent_core.oversight.watchdogs.alerts import AlertBase
from agent_core.oversight.watchdogs.config import NO_HORIZON_SCHEDULES
from agent_core.oversight.watchdogs.job import JobState
from agent_core.oversight.watchdogs.stats import flat_window, fmt, nonfinite
from agent_core.record.metrics import GRAD_NORM, LEARNING_RATE


class TrainingRules(AlertBase):
    # -- nan
    def _check_nan(self, js: JobState, step: int, values: dict) -> list[dict]:
        bad = [k for k, v in values.items() if nonfinite(v)]
        if not bad:
            self._rearm("nan", js.name)
            return []
        shown = ", ".join(f"{k}={values[k]!r}" if values[k] is not None else f"{k}=null" for k in bad[:5])
        return self._fire(
            "nan",
            js.name,
            step,
            f"{js.name}: non-finite values at step {step}: {shown}",
            "learning rate too high, fp16 overflow, a division by zero in the loss or reward "
            "(e.g. std of a zero-variance group), or corrupt data (empty completions)",
            "lower the learning rate or use bf16; check the inputs of this step; restart from the "
            "last checkpoint (the weights after a NaN step are unusable)",
        )

    # -- learning rate
    def _check_lr(self, js: JobState, step: int, lr: float) -> list[dict]:
        c = self.config
        out: list[dict] = []
        prev = js.lr_prev
        rising = prev is not None and lr > prev * (1 + 1e-6)
        if rising:
            js.lr_rose = True
        if lr >= js.lr_peak:
            js.lr_peak, js.lr_peak_step = lr, step
        js.lr_prev = lr
        ref = js.lr_peak
        if js.learning_rate and js.lr_peak <= js.learning_rate * 1.01:
            ref = js.learning_rate
        in_warmup = js.warmup_steps is not None and step <= js.warmup_steps
        # lr_near_zero
        near_zero = lr <= c.lr_zero_abs or (ref > 0 and lr < c.lr_zero_frac * ref)
        in_tail = js.total_steps is not None and step >= (1 - c.lr_tail_frac) * js.total_steps
        if near_zero and not rising and not in_warmup and not in_tail:
            n = js.counts["lr_zero"] = js.counts.get("lr_zero", 0) + 1
            if n >= c.lr_zero_steps:
                where = f" at step {step} of {js.total_steps}" if js.total_steps else f" at step {step}"
                out += self._fire(
                    "lr_near_zero",
                    js.name,
                    step,
                    f"{js.name}: learning rate {fmt(lr)} (peak {fmt(ref)}) has been ~0 for {n} "
                    f"logged steps{where}: training is not changing the model",
                    "the LR schedule decayed to zero early (its horizon is shorter than the run), "
                    "or the learning rate was set to ~0",
                    "check lr_scheduler_type / max_steps / warmup; stop the job and restart from its "
                    "checkpoint with a constant LR or a schedule spanning the remaining steps",
                )
        else:
            js.counts["lr_zero"] = 0
            if ref > 0 and lr >= 2 * c.lr_zero_frac * ref:
                self._rearm("lr_near_zero", js.name)
        # schedule_horizon, from the logged LR
        out += self._check_horizon(js, step, lr, ref, prev)
        return out

    def _check_horizon(self, js: JobState, step: int, lr: float, ref: float, prev: float | None) -> list[dict]:
        c = self.config
        T = js.total_steps
        sched = js.lr_scheduler_type or ""
        if T is None or ref <= 0 or sched in NO_HORIZON_SCHEDULES or ("schedule_horizon", js.name) in self.active:
            return []
        if js.warmup_steps is not None:
            w = js.warmup_steps
        else:
            w = (js.lr_peak_step or 0) if js.lr_rose else 0
        if step <= w or step >= (1 - c.lr_tail_frac) * T:
            return []
        decreasing = prev is not None and lr < prev * (1 - 1e-9)
        first_log_low = prev is None and js.warmup_steps is not None and lr < ref * 0.999
        if not decreasing and not first_log_low:
            return []
        ratio = lr / ref
        est: float | None = None
        if sched in ("linear", "polynomial") and ratio < 0.995:
            est = (step - ratio * w) / (1 - ratio)
        elif sched in ("cosine",) and ratio < 0.995:
            p = math.acos(max(-1.0, min(1.0, 2 * ratio - 1))) / math.pi
            if p > 0:
                est = w + (step - w) / p
        elif sched in ("constant", "constant_with_warmup") and ratio < 0.9:
            return self._fire(
                "schedule_horizon",
                js.name,
                step,
                f"{js.name}: the learning rate fell to {fmt(lr)} ({ratio:.0%} of {fmt(ref)}) at step "
                f"{step} although the schedule is {sched}",
                "the trainer is not using the schedule the job asked for",
                "check the trainer's lr_scheduler_type and optimizer settings",
            )
        if est is not None and est < c.horizon_min_frac * T:
            return self._fire(
                "schedule_horizon",
                js.name,
                step,
                f"{js.name}: the {sched} LR is at {ratio:.0%} of its peak at step {step}; its "
                f"schedule ends near step {est:.0f} but the job plans {T} steps",
                "the schedule's horizon is shorter than the job (set per call or per chunk, or "
                "from a different max_steps / epoch count)",
                "set the scheduler's total steps to the planned total, or use a constant LR; the "
                "steps after the horizon will train with LR ~0",
            )
        if est is None and step < c.horizon_half_by * T and ratio < 0.5:
            return self._fire(
                "schedule_horizon",
                js.name,
                step,
                f"{js.name}: the learning rate has already decayed to {ratio:.0%} of its peak at "
                f"step {step} of {T} planned steps",
                "the LR schedule's horizon is shorter than the job",
                "check lr_scheduler_type and the step count the scheduler was built with",
            )
        return []

    # -- grad norm
    def _check_grad(self, js: JobState, step: int, g: float) -> list[dict]:
        c = self.config
        hist = js.series.get("grad_norm")
        out: list[dict] = []
        if hist is not None and len(hist) >= c.grad_min_history:
            recent = list(hist)[-c.grad_window :]
            m = median(recent)
            mad = median(abs(x - m) for x in recent)
            if m > 0 and g > c.grad_spike_factor * m and g > m + c.grad_spike_mad_k * 1.4826 * mad:
                out += self._fire(
                    "grad_spike",
                    js.name,
                    step,
                    f"{js.name}: {GRAD_NORM} {fmt(g)} at step {step} is {g / m:.1f}x its running median {fmt(m)}",
                    "a bad batch (very long or corrupt rows), an LR too high for this point, or "
                    "the start of a divergence",
                    "look at the loss of the next steps; inspect this step's batch; lower the LR or "
                    "max_grad_norm if spikes repeat",
                )
            elif g < 2 * m:
                self._rearm("grad_spike", js.name)
        js.push("grad_norm", g)
        return out

    # -- loss (SFT; a GRPO job is judged by its reward)
    def _check_loss(self, js: JobState, step: int, loss: float) -> list[dict]:
        vals = list(js.push("loss", loss))
        c = self.config
        W = c.flat_window
        stats = flat_window(vals, W)
        if stats is None:
            return []
        win, a, b, se = stats
        init = median(js.first.get("loss") or win[:3])
        improvement = a - b
        tol = max(c.loss_flat_rel * abs(b), c.flat_noise_k * se)
        progressed = init > 0 and (init - b) >= c.loss_progress_frac * abs(init)
        if improvement > 2 * tol:
            self._rearm("loss_flat", js.name)
            return []
        if improvement > tol or progressed:
            return []
        return self._fire(
            "loss_flat",
            js.name,
            step,
            f"{js.name}: loss flat at ~{fmt(b)} over the last {W} logged steps (change "
            f"{fmt(-improvement)}; it started at {fmt(init)})",
            "learning rate ~0 or far too low, frozen / unattached parameters (LoRA not applied), "
            "labels masked out, or the data is already learned",
            f"look at {LEARNING_RATE} and {GRAD_NORM}; check trainable parameters and the loss mask; "
            "try a few steps at a higher LR on a small batch",
        )
