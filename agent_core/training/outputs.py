"""What a worker reports about its outputs, as events: `completions` lines (the prompts, what the
model wrote, the expected answer and its score or rewards) and evaluation `progress` lines, for
training jobs and one-shot workers alike (agent_core.training.jobs hands them here).

The sizes are capped here, whatever the worker sent, so a long run's log does not balloon:
at most MAX_ITEMS items an event (MAX_GRPO_ITEMS during GRPO), texts cut to MAX_PROMPT /
MAX_COMPLETION / MAX_EXPECTED characters (an item's `cut` says how many characters of which
field were dropped, so a reader can mark it), and once a training job has logged JOB_BUDGET
characters of completions, only every THIN_EVERY-th completions line of it is kept. Evaluation
progress is logged at most every PROGRESS_EVERY_S seconds, and always its first and last line.
The event fields are documented in agent_core.record.events.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

MAX_ITEMS = 16
MAX_GRPO_ITEMS = 8
MAX_PROMPT = 1000
MAX_COMPLETION = 2000
MAX_EXPECTED = 500
MAX_REWARD_FNS = 8
JOB_BUDGET = 2_000_000  # characters of completions text one job logs in full
THIN_EVERY = 10
PROGRESS_EVERY_S = 0.5
SOURCES = ("evaluate", "sample", "grpo")


def _text(value: Any) -> str | None:
    """A prompt or completion as text: a chat (a list of {role, content}) as `role: content` lines."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def clean_item(raw: Any) -> dict | None:
    """One item as logged: prompt, completion, expected (str or None), score (float or None) or
    rewards {fn: float or None}, clipped (the completion hit the token limit) and cut
    {field: characters dropped} where a text was cut for the record."""
    if not isinstance(raw, dict):
        return None
    item: dict[str, Any] = {}
    cut: dict[str, int] = dict(raw["cut"]) if isinstance(raw.get("cut"), dict) else {}
    for key, limit in (("prompt", MAX_PROMPT), ("completion", MAX_COMPLETION), ("expected", MAX_EXPECTED)):
        text = _text(raw.get(key))
        if text is not None and len(text) > limit:
            cut[key] = int(cut.get(key, 0) or 0) + len(text) - limit
            text = text[:limit]
        item[key] = text
    if item["prompt"] is None and item["completion"] is None:
        return None
    if "score" in raw:
        item["score"] = _number(raw.get("score"))
    if isinstance(raw.get("rewards"), dict):
        item["rewards"] = {str(k)[:60]: _number(v) for k, v in list(raw["rewards"].items())[:MAX_REWARD_FNS]}
    if raw.get("clipped"):
        item["clipped"] = True
    cut = {k: n for k, n in cut.items() if k in ("prompt", "completion", "expected") and isinstance(n, int) and n > 0}
    if cut:
        item["cut"] = cut
    return item


def item_chars(item: dict) -> int:
    return sum(len(item.get(k) or "") for k in ("prompt", "completion", "expected"))


class OutputsRecorder:
    """Turns one worker's completions and progress lines into capped events.

    `emit(type, **fields)` writes an event (EventLog.emit); `owner` is the field that names the
    worker in the events: {"job": id} for a training job, {"eval": name} for a one-shot worker."""

    def __init__(self, emit: Callable[..., Any], owner: dict, clock: Callable[[], float] = time.monotonic):
        self.emit = emit
        self.owner = owner
        self.clock = clock
        self.chars = 0  # completions text logged so far
        self.lines = 0  # completions lines seen
        self._progress_at: float | None = None
        self._progress: tuple[int, int] | None = None  # (done, total) last logged
        self._what = "evaluate"

    def completions(self, msg: dict) -> dict | None:
        """Log a `completions` line (capped); returns the event, None when it was dropped."""
        raw = msg.get("items")
        if not isinstance(raw, list):
            return None
        source = msg.get("source") if msg.get("source") in SOURCES else "sample"
        self.lines += 1
        if self.chars >= JOB_BUDGET and (self.lines - 1) % THIN_EVERY:
            return None
        limit = MAX_GRPO_ITEMS if source == "grpo" else MAX_ITEMS
        items = [it for it in (clean_item(r) for r in raw[: limit * 2]) if it is not None][:limit]
        if not items:
            return None
        self.chars += sum(item_chars(it) for it in items)
        fields: dict[str, Any] = {**self.owner, "source": source, "items": items}
        step = msg.get("step")
        if isinstance(step, int) and not isinstance(step, bool):
            fields["step"] = step
        if len(raw) > len(items):
            fields["of"] = len(raw)  # the worker sent more than were kept
        return self.emit("completions", **fields)

    def progress(self, msg: dict) -> dict | None:
        """Log an evaluation `progress` line ({"what", "done", "total"}), throttled."""
        done, total = msg.get("done"), msg.get("total")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (done, total)) or total <= 0:
            return None
        now = self.clock()
        first = self._progress is None
        if not (first or done >= total or now - (self._progress_at or 0.0) >= PROGRESS_EVERY_S):
            return None
        self._progress_at, self._progress = now, (done, total)
        self._what = str(msg.get("what") or "evaluate")
        return self._progress_event(self._what, done, total)

    def _progress_event(self, what: str, done: int, total: int, **extra: Any) -> dict:
        ident = next(iter(self.owner.values()))
        return self.emit("eval_progress", id=ident, what=what, done=done, total=total, **extra)

    def ended(self, ok: bool) -> None:
        """The worker ended: a progress bar it left unfinished is closed (ended: true)."""
        if self._progress is not None and self._progress[0] < self._progress[1]:
            done, total = self._progress
            self._progress_event(self._what, done, total, ended=True, ok=ok)
            self._progress = (total, total)
