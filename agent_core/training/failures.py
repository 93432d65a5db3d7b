"""Failure messages a person and an agent can act on: what ran out of memory and what to change
in the spec (largest saving first), and a crash in one line. Standard library only: the
daemon (which never imports torch) and the worker both use it."""

from __future__ import annotations

import os
import re
import traceback


def oom_advice(spec: dict, detail: str = "") -> str:
    """The message of an out-of-memory failure: what ran out (from the exception text, e.g.
    torch's "Tried to allocate 2.00 GiB ... 1.10 GiB is free") and concrete changes to the spec
    that lower peak memory, largest saving first."""
    mode = spec.get("mode", "train")
    where = "GPU" if "cuda" in detail.lower() or "gpu" in detail.lower() else "host"
    cause = f"out of {where} memory"
    asked = re.search(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]i?B)", detail)
    total = re.search(r"total capacity of ([\d.]+ ?[KMGT]i?B)", detail)
    free = re.search(r"([\d.]+ ?[KMGT]i?B) is free", detail)
    if asked:
        cause += f" while allocating {asked.group(1)}"
    if total:
        cause += f" (device {total.group(1)}" + (f", {free.group(1)} free)" if free else ")")
    tips: list[str] = []
    if mode == "train":
        batch = spec.get("per_device_train_batch_size") or 16
        accum = spec.get("gradient_accumulation_steps") or 1
        if isinstance(batch, int) and batch > 1:
            tips.append(
                f"per_device_train_batch_size {batch} -> {max(1, batch // 2)} with "
                f"gradient_accumulation_steps {accum} -> {accum * 2} (same effective batch)"
            )
        if not spec.get("lora"):
            tips.append("LoRA (lora: true) instead of a full fine-tune: no optimizer state for the base weights")
        max_length = spec.get("max_length") or 256
        if isinstance(max_length, int) and max_length > 64:
            tips.append(f"shorter sequences: max_length {max_length} -> {max_length // 2}")
    else:
        batch = spec.get("batch_size") or 64
        tips.append(f"a smaller batch_size ({batch} -> {max(1, int(batch) // 2)})")
        tips.append("fewer max_new_tokens")
    return f"{cause}; try: " + "; ".join(tips)


def crash_summary(exc: BaseException) -> str:
    """One line for a crash: the exception and the innermost frame it was raised in."""
    msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        f = frames[-1]
        msg += f" (at {os.path.basename(f.filename)}:{f.lineno} in {f.name})"
    return msg if len(msg) <= 300 else msg[:297] + "..."
