"""Trainer callbacks shared by the worker's SFT and GRPO jobs: metric and progress lines, NaN
detection, SIGTERM stop, intermediate checkpoints, periodic dev evaluation, and the check that
the LR schedule spans the job's real number of steps.

This module never writes to stdout itself: the worker passes its `emit` (protocol lines), a
`should_stop()` (SIGTERM seen) and its JobError class in, so the same code serves any process
layout (the worker runs as __main__, so importing it here would load a second copy).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

from transformers import TrainerCallback

from agent_core.record import metrics as m

# Dense bf16/fp16 tensor-core peak, FLOP/s, by a substring of torch.cuda.get_device_name().
# Checked in order: the more specific names first.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 PCIE", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("B200", 2250e12),
    ("B100", 1750e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 6000 ADA", 364e12),
    ("A6000", 155e12),
    ("RTX 5090", 210e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),
    ("T4", 65e12),
)

# TRL's GRPO log keys -> the worker's stable metric names (agent_core.record.metrics, where each
# is described). The aliases written next to them (reward, frac_reward_zero_std,
# completions/clipped_ratio) keep older readers and recorded runs working.
GRPO_KEYS: dict[str, tuple[str, ...]] = {
    "loss": (m.LOSS,),
    "learning_rate": (m.LEARNING_RATE,),
    "grad_norm": (m.GRAD_NORM,),
    "epoch": (m.EPOCH,),
    "num_tokens": (m.NUM_TOKENS,),
    "reward": (m.REWARD_MEAN, m.REWARD),
    "reward_std": (m.REWARD_STD,),
    "frac_reward_zero_std": (m.FRAC_ZERO_STD, m.FRAC_REWARD_ZERO_STD),
    "kl": (m.KL,),
    "entropy": (m.ENTROPY,),
    "completions/mean_length": (m.COMPLETION_LENGTH,),
    "completions/max_length": (m.COMPLETION_LENGTH_MAX,),
    "completions/clipped_ratio": (m.CLIPPED_RATIO, m.COMPLETIONS_CLIPPED_RATIO),
    "clip_ratio/region_mean": (m.CLIP_RATIO,),
}
NAN_KEYS = m.NAN_KEYS


def peak_flops(device_name: str | None) -> float | None:
    if not device_name:
        return None
    name = device_name.upper()
    for key, flops in PEAK_FLOPS:
        if key in name:
            return flops
    return None


def device_peak_flops() -> float | None:
    """Peak FLOP/s of the current CUDA device, None on CPU or an unknown device."""
    import torch

    if not torch.cuda.is_available():
        return None
    try:
        return peak_flops(torch.cuda.get_device_name())
    except Exception:
        return None


def grpo_values(logs: dict) -> dict:
    """Map TRL's GRPO log dict to the stable names (see GRPO_KEYS); per-function reward means
    `rewards/<fn>/mean` become `reward/<fn>`. Other keys are dropped."""
    out: dict[str, Any] = {}
    for key, value in logs.items():
        names = GRPO_KEYS.get(key)
        if names is None and key.startswith("rewards/") and key.endswith("/mean"):
            names = (m.REWARD_FN_PREFIX + key[len("rewards/") : -len("/mean")],)
        for name in names or ():
            out[name] = value
    return out


class CompletionSample:
    """A few completions of the latest GRPO batch with every reward function's value, for the
    `completions` line of each logging step: what a person reads to spot a broken format,
    truncation or reward hacking.

    `wrap(fn)` returns a TRL reward function that calls `fn` and keeps what it scored; TRL calls
    every reward function on the same batch (the same `completions` list), so their values meet
    in one item. `take()` gives the items of a batch once (None when no new batch was scored,
    e.g. steps that reuse a generation). Items: prompt, completion (each cut to `max_chars`, with
    `cut` {field: characters dropped}), expected (the row's reference answer or None), rewards
    {fn: value}, clipped (the completion reached `max_tokens`)."""

    def __init__(self, group: int, max_tokens: int | None = None, per_group: int = 4, size: int = 8, max_chars=2000):
        self.group, self.max_tokens = max(1, group), max_tokens
        self.per_group, self.size, self.max_chars = per_group, size, max_chars
        self._batch: list | None = None  # the completions list of the batch kept (held: compared by identity)
        self._items: list[dict] = []
        self._picks: list[int] = []
        self._taken = True

    def _pick(self, n: int) -> list[int]:
        """Indices to keep: the first `per_group` completions of the first groups (several
        prompts, and the spread inside a group), `size` in all."""
        picks = [g + k for g in range(0, n, self.group) for k in range(min(self.per_group, self.group)) if g + k < n]
        return picks[: self.size]

    def _cut(self, item: dict, key: str, text: str) -> None:
        if len(text) > self.max_chars:
            item.setdefault("cut", {})[key] = len(text) - self.max_chars
            text = text[: self.max_chars]
        item[key] = text

    def record(self, name: str, prompts, completions, completion_ids, fields: dict, rewards) -> None:
        if completions is not self._batch:
            self._batch, self._taken = completions, False
            self._picks = self._pick(len(completions))
            self._items = []
            for i in self._picks:
                item: dict[str, Any] = {}
                self._cut(item, "prompt", _as_text(prompts[i]))
                self._cut(item, "completion", _as_text(completions[i]))
                expected = fields.get("expected")
                item["expected"] = _as_text(expected[i]) if isinstance(expected, list) else None
                item["rewards"] = {}
                ids = completion_ids[i] if completion_ids is not None and i < len(completion_ids) else None
                if self.max_tokens and ids is not None and len(ids) >= self.max_tokens:
                    item["clipped"] = True
                self._items.append(item)
        for item, i in zip(self._items, self._picks):
            value = rewards[i] if i < len(rewards) else None
            item["rewards"][name] = float(value) if isinstance(value, (int, float)) else None

    def take(self) -> list[dict] | None:
        if self._taken or not self._items:
            return None
        self._taken = True
        return self._items

    def wrap(self, fn: Callable) -> Callable:
        name = fn.__name__

        def reward_func(prompts, completions, completion_ids=None, **kwargs):
            rewards = fn(prompts, completions, completion_ids=completion_ids, **kwargs)
            try:
                self.record(name, prompts, completions, completion_ids, kwargs, rewards)
            except Exception:  # the sample is for people to read: it never breaks training
                pass
            return rewards

        reward_func.__name__ = reward_func.__qualname__ = name
        return reward_func


def _as_text(value: Any) -> str:
    """A prompt or completion as text: a chat (a list of {role, content}) as `role: content` lines."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return str(value)


def schedule_horizon(lr_scheduler) -> int | None:
    """num_training_steps the scheduler was built with (transformers' LambdaLR partials), or None."""
    for fn in getattr(lr_scheduler, "lr_lambdas", None) or []:
        kw = getattr(fn, "keywords", None) or {}
        if "num_training_steps" in kw:
            return int(kw["num_training_steps"])
    return None


class ProtocolCallback(TrainerCallback):
    """Streams the job's numbers and obeys stop requests.

    emit:         protocol line writer
    should_stop:  () -> bool, true once SIGTERM arrived: stop at the next step boundary
    job_error:    the worker's JobError class (kind, message, step)
    method:       "sft" (log dict passed through) | "grpo" (mapped with grpo_values)
    flops_per_token: training FLOPs per token for the MFU estimate (6N full, 4N LoRA), or None
    save:         (step) -> path, writes an intermediate checkpoint every `save_steps`
    evaluate:     (model) -> float, dev score every `eval_steps` (if > 0) and at the last step
    extra:        () -> dict of values merged into every metric line (e.g. reward error counts)
    completions:  () -> items or None: a `completions` line (source grpo) after each metric line
    """

    def __init__(
        self,
        *,
        emit: Callable[[dict], None],
        should_stop: Callable[[], bool],
        job_error,
        method: str = "sft",
        flops_per_token: float | None = None,
        save: Callable[[int], str] | None = None,
        save_steps: int = 0,
        evaluate: Callable[[Any], float] | None = None,
        eval_steps: int = 0,
        extra: Callable[[], dict] | None = None,
        completions: Callable[[], list | None] | None = None,
    ):
        self.emit, self.should_stop, self.job_error = emit, should_stop, job_error
        self.method = method
        self.save, self.save_steps = save, save_steps
        self.evaluate, self.eval_steps = evaluate, eval_steps
        self.extra = extra
        self.completions = completions
        self.model = None  # the trainer's (unwrapped) model, set by the caller
        self.trainer = None  # the trainer, set by the caller
        peak = device_peak_flops()
        world = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
        self.mfu_scale = (flops_per_token / (peak * world)) if (flops_per_token and peak) else None
        self.nan_step: int | None = None
        self.final_loss: float | None = None
        self.stopped = False
        self.last_score: float | None = None
        self.horizon: int | None = None
        self.t0 = time.monotonic()
        self._last_tokens: float | None = None
        self._last_time: float | None = None
        self._scored_step: int | None = None

    # -- training start: the schedule must span the whole job ------------------
    def on_train_begin(self, args, state, control, lr_scheduler=None, **kw):
        self.t0 = time.monotonic()
        # the handler's lr_scheduler is the one known when the Trainer was built (None): ask the trainer
        sched = getattr(self.trainer, "lr_scheduler", None) or lr_scheduler
        self.horizon = schedule_horizon(sched)
        if self.horizon is not None and state.max_steps > 0 and self.horizon != state.max_steps:
            raise self.job_error(
                "crash",
                f"internal: LR schedule horizon {self.horizon} != the job's {state.max_steps} "
                f"steps (refusing to train with a schedule that ends early)",
            )
        self.emit(
            {
                "event": "plan",
                "total": state.max_steps,
                "schedule_steps": self.horizon,
                "lr_scheduler_type": str(getattr(args, "lr_scheduler_type", "") or "").split(".")[-1].lower() or None,
            }
        )

    # -- metrics ----------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kw):
        logs = dict(logs or {})
        if m.LOSS not in logs and m.GRAD_NORM not in logs:
            return  # the end-of-training summary (train_runtime, ...)
        values = grpo_values(logs) if self.method == "grpo" else logs
        now = time.monotonic()
        tokens = logs.get("num_tokens")  # TRL's name, the same for both methods
        if isinstance(tokens, (int, float)):
            if self._last_tokens is not None and now > self._last_time:
                values[m.TOKENS_PER_S] = (tokens - self._last_tokens) / (now - self._last_time)
            elif now > self.t0:
                values[m.TOKENS_PER_S] = tokens / (now - self.t0)
            self._last_tokens, self._last_time = tokens, now
        tps = values.get(m.TOKENS_PER_S)
        if self.mfu_scale is not None and isinstance(tps, (int, float)):
            values[m.MFU] = tps * self.mfu_scale
        if self.extra is not None:
            values.update(self.extra())
        # A missing optional number is left out, not written as null: null means NaN to readers.
        values = {k: v for k, v in values.items() if v is not None or k in NAN_KEYS}
        self.emit({"event": "metric", "step": state.global_step, "values": values})
        items = self.completions() if self.completions is not None else None
        if items:
            self.emit({"event": "completions", "source": "grpo", "step": state.global_step, "items": items})
        loss = logs.get("loss")  # TRL's name
        bad = [
            k
            for k in NAN_KEYS
            if k in logs and (logs[k] is None or isinstance(logs[k], (int, float)) and not math.isfinite(logs[k]))
        ]
        if bad and self.nan_step is None:
            self.nan_step = state.global_step
            control.should_training_stop = True
        elif isinstance(loss, (int, float)):
            self.final_loss = float(loss)

    # -- step boundary: progress, stop, save, evaluate ----------------------------
    def on_step_end(self, args, state, control, **kw):
        self.emit({"event": "progress", "step": state.global_step, "total": state.max_steps})
        if self.should_stop():
            self.stopped = True
            control.should_training_stop = True
            return
        step = state.global_step
        if (
            self.save
            and self.save_steps
            and step % self.save_steps == 0
            and step < state.max_steps
            and self.nan_step is None
        ):
            # this step's loss is logged after on_step_end: check the weights instead
            if not self.weights_finite():
                self.nan_step = step
                control.should_training_stop = True
                return
            path = self.save(step)
            self.emit({"event": "checkpoint", "path": str(path), "step": step})
        if (
            self.evaluate
            and self.nan_step is None
            and ((self.eval_steps and step % self.eval_steps == 0) or step >= state.max_steps)
        ):
            self.run_eval(step)

    def run_eval(self, step: int) -> None:
        if self._scored_step == step or self.model is None:
            return
        value = float(self.evaluate(self.model))
        self._scored_step, self.last_score = step, value
        self.emit({"event": "score", "step": step, "split": m.SPLIT_DEV, "value": value})

    def weights_finite(self) -> bool:
        import torch

        return self.model is None or all(torch.isfinite(p).all() for p in self.model.parameters())
