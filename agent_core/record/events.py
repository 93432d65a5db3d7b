"""The append-only event log (`events.jsonl`): one JSON object per line.

Every event has `seq` (strictly increasing from 1), `ts` (UTC ISO-8601) and `type`.
Public types and their fields (names are a contract; add new types freely):

    run_state          state: starting|running|paused|waiting_approval|stopping|finished|failed|crashed
    agent_message      text
    tool_call          id, tool, args
    tool_result        id, ok, summary
    approval_request   id, rule, summary, details
    approval_decision  id, decision (approve|veto), scope (once|session), reason, by
    human_nudge        text
    control            cmd (pause|resume), by: a pause or resume the daemon acknowledged
    metric             job, step, values
    host_sample        gpus (list), cpu, memory
    alert              rule, severity, message
    job_state          job, state (JOB_STATES)
    score              split, value, checkpoint
    completions        what the model wrote: job (a training job) or eval (an evaluate / sample
                       worker's name), source (evaluate|sample|grpo), step (grpo: the logging
                       step), items [{prompt, completion, expected (str|null), score (float|null;
                       evaluate) or rewards {fn: float|null} (grpo), clipped (true: the completion
                       hit the token limit), cut {field: characters dropped from the record}}],
                       of (how many the worker sent, when more than were kept). Capped in size by
                       agent_core.training.outputs; at most 16 items (8 for grpo).
    agent_session      agent (claude-code), session_id (the CLI's, continued on resume), model, resumed
    eval_progress      id (the eval's or job's name), what (evaluate), done, total; ended: true
                       when the worker stopped before done reached total (ok: whether it succeeded)

The writer redacts every field of every event (agent_core.record.secrets: key-like strings and the
daemon's own secret values, also when encoded) before it is written or shown to a listener, so
nothing downstream (REPORT.md, the ledger, the UI) ever sees a key. It flushes every event and
fsyncs approval decisions and state changes. Readers tolerate a torn (unterminated) last line and
skip corrupt lines, counting them.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from agent_core.record.secrets import Redactor

RUN_STATES = (
    "starting",
    "running",
    "paused",
    "waiting_approval",
    "stopping",
    "finished",
    "failed",
    "crashed",
)
TERMINAL_STATES = ("finished", "failed", "crashed")
# A training job's states (event `job_state`): the one home for them; every reader imports these.
JOB_STATES = ("queued", "running", "stopping", "stopped", "finished", "failed")
LIVE_JOB_STATES = ("queued", "running", "stopping")  # still holds (or will hold) the GPU
ENDED_JOB_STATES = ("stopped", "finished", "failed")
# What the daemon acknowledges to the person is on disk before the acknowledgement.
SYNCED_TYPES = frozenset({"run_state", "approval_decision", "approval_request", "control", "human_nudge"})


def parse_ts(ts: Any) -> float | None:
    """Seconds since the epoch of an event's `ts` (ISO-8601, 'Z' allowed), or None."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts)
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """Single writer of a run's event log. Thread-safe; reopens an existing log and goes on
    from its last sequence number (used when a run is resumed).

    `redactor` knows the secret values to hide; by default it is built once, here, from the
    environment (the daemon's own keys). `refresh_secrets()` rebuilds it after the environment
    changed."""

    def __init__(self, path: str | os.PathLike[str], redactor: Redactor | None = None):
        self.path = Path(path)
        self.redactor = redactor if redactor is not None else Redactor.from_env()
        self._lock = threading.Lock()
        self._seq = last_seq(self.path)
        self._repair_torn_tail()
        self._fh = open(self.path, "a", encoding="utf-8")
        self._listeners: list = []

    @property
    def seq(self) -> int:
        return self._seq

    def _repair_torn_tail(self) -> None:
        # A crash mid-write leaves a line without "\n"; the next append must not glue onto it.
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")

    def subscribe(self, fn) -> None:
        """fn(event) is called (under the writer lock) after each event is written."""
        self._listeners.append(fn)

    def refresh_secrets(self, env: dict | None = None) -> None:
        """Re-read the secret values from `env` (os.environ when None)."""
        self.redactor = Redactor.from_env(env)

    def _json_default(self, obj: Any) -> str:  # what json cannot write is written as its (redacted) str
        return self.redactor.redact(str(obj))

    def emit(self, type_: str, **fields: Any) -> dict:
        fields = self.redactor.redact_obj(fields)
        with self._lock:
            self._seq += 1
            event = {"seq": self._seq, "ts": utc_now(), "type": type_, **fields}
            line = json.dumps(event, ensure_ascii=False, default=self._json_default)
            self._fh.write(line + "\n")
            self._fh.flush()
            if type_ in SYNCED_TYPES:
                os.fsync(self._fh.fileno())
            for fn in self._listeners:
                try:
                    fn(event)
                except Exception:  # a listener must never break the log
                    pass
            return event

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()


def _parse(line: bytes) -> dict | None:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), int) or "type" not in obj:
        return None
    return obj


@dataclass
class LogReader:
    """Incremental reader: `poll()` returns the complete events appended since the last call.
    A torn last line stays pending until its newline arrives; corrupt lines are skipped."""

    path: Path
    offset: int = 0
    corrupt: int = 0
    last_seq: int = 0
    _pending: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    last_full = False  # the last poll stopped at max_bytes: more is waiting

    def poll(self, max_bytes: int = 64 << 20) -> list[dict]:
        return self._parse_lines(self._read_lines(max_bytes))

    def _read_lines(self, max_bytes: int) -> list[bytes]:
        """The complete, non-blank lines appended since the last call."""
        self.last_full = False
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(max_bytes)
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self.last_full = len(chunk) >= max_bytes
        self.offset += len(chunk)
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()  # b"" when data ended with "\n"
        return [ln for ln in lines if ln.strip()]

    def _parse_lines(self, lines: list[bytes]) -> list[dict]:
        out: list[dict] = []
        for line in lines:
            ev = _parse(line)
            if ev is None or ev["seq"] <= self.last_seq:
                self.corrupt += 1
                continue
            self.last_seq = ev["seq"]
            out.append(ev)
        return out


def read_events(path: str | os.PathLike[str]) -> list[dict]:
    """All complete events of a log (torn tail and corrupt lines skipped)."""
    reader = LogReader(Path(path))
    events: list[dict] = []
    while batch := reader.poll():
        events.extend(batch)
    return events


def iter_events(path: str | os.PathLike[str]) -> Iterator[dict]:
    yield from read_events(path)


def last_seq(path: str | os.PathLike[str]) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    # Scan backwards over the tail for the last parseable event.
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        window = 1 << 16
        while True:
            start = max(0, size - window)
            fh.seek(start)
            lines = fh.read(size - start).split(b"\n")
            if start > 0:
                lines = lines[1:]  # first piece may be cut
            for line in reversed(lines):
                ev = _parse(line) if line.strip() else None
                if ev is not None:
                    return ev["seq"]
            if start == 0:
                return 0
            window *= 4
