"""Shared helpers for the UI tests (imported explicitly: `from conftest_ui import ...`).

make_run(home, run_id, events, config)   a synthetic run dir with a fixed-time log
EventWriter(run)                         appends events with seq and fixed timestamps
FakeDaemon(run)                          a real Unix-socket control server that records
                                         requests and answers {"ok": true}
wait_for(pilot, predicate)               polls the app until predicate() is true
sample_events()                          a whole finished run, fixed timestamps
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from agent_core.record.control import sock_address  # noqa: E402
from agent_core.record.runs import RunDir  # noqa: E402

BASE = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
BASE_EPOCH = BASE.timestamp()
FIXED_NOW = BASE_EPOCH + 3600.0


def fixed_clock() -> float:
    return FIXED_NOW


def ts_at(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


CONFIG = {
    "id": "r1",
    "task": "gsm8k",
    "model": "Qwen3-0.6B",
    "agent": "claude",
    "budget_s": 7200,
    "created": BASE_EPOCH,
}


def make_run(home: Path, run_id: str = "r1", events: list[dict] | None = None, config: dict | None = None) -> RunDir:
    run = RunDir(Path(home) / "runs" / run_id)
    run.path.mkdir(parents=True, exist_ok=True)
    cfg = {**CONFIG, **(config or {}), "id": run_id}
    run.write_config(cfg)
    writer = EventWriter(run)
    for ev in events or []:
        ev = dict(ev)
        writer.append(ev.pop("type"), **ev)
    run.events_path.touch()
    return run


class EventWriter:
    """Appends events to a run's log, one second apart unless `at` is given."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.seq = 0
        self.t = 0.0
        if run.events_path.exists():
            for line in run.events_path.read_text().splitlines():
                if line.strip():
                    obj = json.loads(line)
                    self.seq = obj["seq"]
                    self.t = (datetime.fromisoformat(obj["ts"].replace("Z", "+00:00")) - BASE).total_seconds()

    def append(self, type_: str, at: float | None = None, **fields) -> dict:
        self.seq += 1
        self.t = self.t + 1.0 if at is None else at
        ev = {"seq": self.seq, "ts": ts_at(self.t), "type": type_, **fields}
        with open(self.run.events_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(ev) + "\n")
        return ev


class FakeDaemon:
    """A real control socket in the run dir; records every request, answers {"ok": true}
    (or `fail_with` as an error). Writes daemon.pid so the run reads as live.
    `on_request(req)` runs before the reply (e.g. to write the decision to the log first,
    as the real daemon does)."""

    def __init__(self, run: RunDir, fail_with: str | None = None, on_request=None) -> None:
        self.run = run
        self.fail_with = fail_with
        self.on_request = on_request  # called with each request before the reply
        self.requests: list[dict] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "FakeDaemon":
        path = self.run.socket_path
        if path.exists():
            path.unlink()
        addr, fd = sock_address(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(addr)
        if fd is not None:
            os.close(fd)
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self.run.pid_path.write_text(str(os.getpid()))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                buf = b""
                try:
                    while not buf.endswith(b"\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    req = json.loads(buf)
                except (OSError, ValueError):
                    continue
                self.requests.append(req)
                if self.on_request is not None:
                    self.on_request(req)
                if self.fail_with:
                    reply = {"ok": False, "error": self.fail_with}
                elif req.get("cmd") == "pending":
                    reply = {"ok": True, "pending": []}
                else:
                    reply = {"ok": True}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
        for p in (self.run.socket_path, self.run.pid_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def cmds(self) -> list[str]:
        return [r.get("cmd") for r in self.requests]


async def wait_for(pilot, predicate, timeout: float = 5.0, step: float = 0.05, what: str = "") -> bool:
    """Wait until predicate() holds (True); fail the test loudly when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    if predicate():
        return True
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or getattr(predicate, '__name__', 'a condition')}"
    )


def sample_events() -> list[dict]:
    """A whole run: 2 jobs of metrics, a GPU host, a tool failure, an approval, a nudge."""
    evs: list[dict] = [
        {"type": "run_state", "state": "starting", "at": 0},
        {"type": "run_state", "state": "running", "at": 1},
        {"type": "agent_message", "text": "Plan: look at the data, then SFT a LoRA on gsm8k.", "at": 3},
        {
            "type": "tool_call",
            "id": "c1",
            "tool": "read_file",
            "args": {"path": "data/train.jsonl", "limit": 5},
            "at": 4,
        },
        {"type": "tool_result", "id": "c1", "ok": True, "summary": "5 lines, 2.1 KB", "at": 5},
        {
            "type": "host_sample",
            "gpus": [
                {
                    "name": "NVIDIA H100 80GB HBM3",
                    "util": 3,
                    "mem_used": 1200,
                    "mem_total": 81559,
                    "power": 70,
                    "temp": 31,
                }
            ],
            "cpu": 12.5,
            "memory": {"used": 17179869184, "total": 137438953472},
            "at": 6,
        },
        {"type": "tool_call", "id": "c2", "tool": "shell", "args": {"cmd": "pip list | grep trl"}, "at": 7},
        {"type": "tool_result", "id": "c2", "ok": False, "summary": "exit 1: grep found nothing", "at": 8},
        {
            "type": "approval_request",
            "id": "a1",
            "rule": "network",
            "summary": "download the gsm8k dataset from the hub",
            "details": {"url": "https://huggingface.co/datasets/gsm8k", "risk": "medium"},
            "at": 10,
        },
        {
            "type": "approval_decision",
            "id": "a1",
            "decision": "approve",
            "scope": "once",
            "reason": "",
            "by": "person",
            "at": 14,
        },
        {"type": "job_state", "job": "j1", "state": "running", "at": 20},
    ]
    t = 21
    for step in range(40):
        evs.append(
            {
                "type": "metric",
                "job": "j1",
                "step": step,
                "values": {"loss": 2.0 * (0.95**step) + 0.1 * ((step * 7) % 3)},
                "at": t,
            }
        )
        t += 2
    evs += [
        {
            "type": "host_sample",
            "gpus": [
                {
                    "name": "NVIDIA H100 80GB HBM3",
                    "util": 91,
                    "mem_used": 61234,
                    "mem_total": 81559,
                    "power": 612,
                    "temp": 67,
                }
            ],
            "cpu": 43.0,
            "memory": {"used": 34359738368, "total": 137438953472},
            "at": t,
        },
        {"type": "human_nudge", "text": "try a lower learning rate next", "at": t + 1},
        {
            "type": "alert",
            "rule": "loss_plateau",
            "severity": "warning",
            "message": "loss flat for 10 steps",
            "at": t + 2,
        },
        {"type": "job_state", "job": "j1", "state": "finished", "at": t + 3},
        {"type": "score", "split": "test", "value": 0.4125, "checkpoint": "ckpt-1", "at": t + 600},
        {"type": "agent_message", "text": "Done: test accuracy 41.2%.\nCheckpoint ckpt-1 is the best.", "at": t + 601},
        {"type": "run_state", "state": "finished", "at": t + 602},
    ]
    return evs
