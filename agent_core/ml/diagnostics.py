"""What a failed worker job says: the kind of an unexpected exception (oom or crash) and its
message (agent_core.training.failures: the memory advice for the spec, or the crash in a line)."""

from __future__ import annotations

from agent_core.training.failures import crash_summary, oom_advice


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except Exception:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def failure(exc: BaseException, spec: object) -> tuple[str, str]:
    """(kind, message) of an exception no job code caught: "oom" with advice for `spec` (the spec
    file's JSON object, when it was read), else "crash" with the exception and its frame."""
    if is_oom(exc):
        return "oom", oom_advice(spec if isinstance(spec, dict) else {}, str(exc))
    return "crash", crash_summary(exc)
