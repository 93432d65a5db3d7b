"""The worker's stdout protocol and its process state (agent_core.ml.worker runs as __main__; this
module is never __main__, so every module that imports it shares one stop flag and one stdout).

stdout protocol
---------------
stdout carries ONLY JSON objects, one per line, flushed per line (file descriptor 1 is
re-pointed at stderr at start-up, so library prints and progress bars land on stderr):

    {"event": "metric", "step": int, "values": {"loss", "learning_rate", "grad_norm", "epoch",
        "tokens_per_s", "mfu", "entropy", "mean_token_accuracy", "num_tokens", ...}}
        every `logging_steps` optimizer steps (default: every step), from the trainer's on_log.
        A non-finite loss / grad_norm is written as null; other values that are missing or not
        finite are left out (null reads as NaN to the watchdogs). mfu = tokens_per_s x 6N (4N
        for LoRA; N = base parameters) / (device peak bf16 FLOP/s x processes), only on a GPU
        named in agent_core.ml.callbacks.PEAK_FLOPS (absent on CPU / unknown devices).
        GRPO values (stable names; TRL's key in brackets): loss, learning_rate, grad_norm, epoch,
        num_tokens, tokens_per_s, reward_mean and reward [reward], reward_std [reward_std],
        reward/<fn> [rewards/<fn>/mean], frac_zero_std and frac_reward_zero_std
        [frac_reward_zero_std: fraction of groups whose rewards are all equal], kl [kl, only
        with beta > 0], entropy, completion_length [completions/mean_length],
        completion_length_max, clipped_ratio and completions/clipped_ratio (completions cut at
        max_completion_length), clip_ratio [clip_ratio/region_mean], reward_errors and
        reward_timeouts (cumulative counts of completions scored 0 because the reward raised /
        returned a non-number, or hung). Aliases are what the daemon's watchdogs read.
    {"event": "score", "step": int, "split": "dev", "value": x}  train with an eval_dataset
    {"event": "plan", "total": int, "schedule_steps": int|null, "lr_scheduler_type": str}
        train only, once when training starts: the job's real step count and the horizon its LR
        schedule was built with (null for schedules without one, e.g. constant); the worker fails
        the job rather than train with schedule_steps != total.
    {"event": "progress", "step": int, "total": int}            after every optimizer step
    {"event": "checkpoint", "path": str, "step": int}           train only: after the final save
                                                                (and after each save_steps save)
    {"event": "result", ...}                                    exactly once, on success:
        build_base -> {"path": out_dir, "params": n}
        train      -> {"checkpoint": path, "steps": n, "final_loss": x, "stopped": bool, "seconds": t,
                       "dev_score": last dev score (with an eval_dataset); GRPO adds
                       "reward_calls", "reward_errors", "reward_timeouts", "reward_first_error"}
        evaluate   -> {"score": mean scorer value, "correct": k (rows scored 1.0), "n": n, "scorer": kind,
                       "examples": [{"prompt", "expected", "got", "correct", "score" (not for exact)},
                                    ... first 8],
                       "scorer_errors": count, "scorer_error": first message (only when a
                       python scorer raised, hung or returned a non-number: those rows score 0)}
        sample     -> {"samples": [{"prompt", "completion"}, ...]}
    {"event": "error", "kind": "oom"|"nan"|"bad_input"|"crash", "message": str, "step": int|null}
        on failure, then a non-zero exit: 2 bad_input, 3 nan, 4 oom, 1 crash.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

EXIT_CODES = {"bad_input": 2, "nan": 3, "oom": 4, "crash": 1}


class JobError(Exception):
    """A job that ends with an "error" line: kind is a key of EXIT_CODES."""

    def __init__(self, kind: str, message: str, step: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.step = step


def bad(message: str) -> JobError:
    return JobError("bad_input", message)


class _Channel:
    """The process's protocol state: the real stdout, the stop flag, the last step reported."""

    def __init__(self) -> None:
        self.out = None  # the real stdout, for protocol lines only (set by setup_io)
        self.stop = False  # set by SIGTERM
        self.last_step: int | None = None  # the last step reported, for the error line of a crash


_CHANNEL = _Channel()


def clean(value: Any) -> Any:
    """`value` as JSON: non-finite floats -> None, numpy / torch scalars -> numbers, else str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return clean(value.item())
        except Exception:
            return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def rank() -> int:
    """This process's global rank under a multi-process launcher (accelerate / torchrun), else 0."""
    try:
        return int(os.environ.get("RANK") or 0)
    except ValueError:
        return 0


def is_main_process() -> bool:
    return rank() == 0


def emit(obj: dict[str, Any]) -> None:
    """Write one protocol line. Under a multi-process launcher only rank 0 speaks; the other
    ranks stay silent on stdout (their errors still reach stderr)."""
    if not is_main_process():
        return
    if obj.get("event") == "progress" and isinstance(obj.get("step"), int):
        _CHANNEL.last_step = obj["step"]
    line = json.dumps(clean(obj), allow_nan=False, separators=(",", ":"))
    out = _CHANNEL.out if _CHANNEL.out is not None else sys.stdout
    out.write(line + "\n")
    out.flush()


def last_step() -> int | None:
    """The step of the last progress line written."""
    return _CHANNEL.last_step


def setup_io() -> None:
    """Keep the real stdout for protocol lines; send everything else written to fd 1 to stderr."""
    sys.stdout.flush()
    _CHANNEL.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def flush() -> None:
    sys.stderr.flush()
    if _CHANNEL.out is not None:
        _CHANNEL.out.flush()


def on_sigterm(signum, frame) -> None:  # noqa: ARG001
    """The SIGTERM handler during training: stop at the next step boundary."""
    _CHANNEL.stop = True


def should_stop() -> bool:
    """True once a stop was asked for (SIGTERM). Under a multi-process launcher every rank gets
    the signal, not necessarily before the same step: the flag is all-reduced (max) so that all
    ranks stop at the same step boundary and none waits forever in a collective. Call it at
    every step boundary on every rank."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            flag = torch.tensor([1 if _CHANNEL.stop else 0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            return bool(flag.item())
    except ImportError:
        pass
    return _CHANNEL.stop


def callback_kwargs() -> dict[str, Any]:
    """emit / should_stop / job_error for agent_core.ml.callbacks.ProtocolCallback."""
    return {"emit": emit, "should_stop": should_stop, "job_error": JobError}
