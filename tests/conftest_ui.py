"""Shared helpers for the UI tests (imported explicitly: `from conftest_ui import ...`).

make_run(home, run_id, events, config)   a synthetic run dir with a fixed-time log
EventWriter(run)                         appends events with seq and fixed timestamps
FakeDaemon(run)                          a real Unix-socket control server that records
                                         requests and answers {"ok": true}
sample_events()                          a whole finished run, fixed timestamps
LIVE                                     the first events of a live run (starting, running)

The app, built the way most tests want it (keyword arguments override the defaults):
home_app(home, **kw)                     the runs table: fixed clock, no background refresh
replay_app(run, **kw)                    a replay of a make_run run: fixed clock, not playing
live_app(run, **kw)                      attached to a make_run run: fixed clock, log polled every 50 ms
run_screen(app)                          the RunScreen in the screen stack (under a modal too)
transcript_text(app)                     the run screen's transcript, plain text

Waiting for what a test means, never for a fixed time (each fails loudly on its timeout):
wait_for(pilot, predicate)               polls the app until predicate() is true
until_screen(pilot, app, cls)            until the top screen is a mounted `cls`
until_armed(pilot, app)                  until the approval prompt on top takes keys (grace over)
until_settled(pilot, app)                until the run screen has drawn all it was fed (no redraw
                                         timer, inbox or dirty chart left)
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
from conftest import SLACK  # noqa: E402

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
        self.replied = 0  # replies sent (a request's effect in the UI comes after its reply)
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
                self.replied += 1

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


async def wait_for(pilot, predicate, timeout: float = 15.0, step: float = 0.05, what: str = "") -> bool:
    """Wait until predicate() holds (True); fail the test loudly when it never does. The timeout is
    generous: it costs nothing when the condition comes, and the suite shares two cores with
    training workers (and it is multiplied by conftest.SLACK)."""
    timeout *= SLACK
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


# -- the app ---------------------------------------------------------------------------------
LIVE = [{"type": "run_state", "state": "starting", "at": 0}, {"type": "run_state", "state": "running", "at": 1}]


def run_home(run: RunDir) -> Path:
    """The runs home a run dir lives in (<home>/runs/<id>)."""
    return run.path.parent.parent


def home_app(home: Path, **kw):
    """The home screen (runs table): a fixed clock (ages), no background refresh of the table."""
    from tinker_tui.app import TinkerApp

    return TinkerApp(home=home, mode="home", **{"clock": fixed_clock, "home_refresh": 0, **kw})


def replay_app(run: RunDir, **kw):
    """A replay of `run`: a fixed clock, paused at the first event (keys or the test play it)."""
    from tinker_tui.app import TinkerApp

    return TinkerApp(
        home=run_home(run), run=run, mode="replay", **{"clock": fixed_clock, "replay_autoplay": False, **kw}
    )


def live_app(run: RunDir, **kw):
    """Attached to `run` (live): a fixed clock, the log polled every 50 ms."""
    from tinker_tui.app import TinkerApp

    return TinkerApp(home=run_home(run), run=run, mode="attach", **{"clock": fixed_clock, "live_interval": 0.05, **kw})


def run_screen(app):
    """The run screen, also while a modal (approval, help, confirm) is over it."""
    from screens.run_screen import RunScreen

    return next(s for s in app.screen_stack if isinstance(s, RunScreen))


def transcript_text(app) -> str:
    from screens.widgets import Transcript

    return "\n".join(run_screen(app).query_one(Transcript).plain_lines())


async def until_screen(pilot, app, cls, timeout: float = 5.0) -> None:
    """Until the top screen is a mounted `cls` (its on_mount done: feeds started, keys bound)."""
    await wait_for(
        pilot, lambda: isinstance(app.screen, cls) and app.screen.is_mounted, timeout, what=f"a {cls.__name__}"
    )


async def until_armed(pilot, app, timeout: float = 5.0) -> None:
    """Until the approval prompt on top takes keys: its grace period over, by its own clock (a busy
    event loop may deliver a key later than the test sent it)."""
    from screens.approval import ApprovalScreen

    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ApprovalScreen) and app.screen.armed,
        timeout,
        what="the approval prompt to take keys",
    )


def settled(screen) -> bool:
    """The run screen has drawn everything it was fed: no batch waiting in its inbox, no
    status/panes redraw timer pending, the chart redrawn, the transcript flushed."""
    from screens.widgets import LossChart, Transcript

    return (
        not screen._inbox
        and screen._drain_timer is None
        and screen._present_timer is None
        and screen._panes_timer is None
        and not screen.query_one(LossChart)._dirty
        and screen.query_one(Transcript)._flush_timer is None
    )


async def until_settled(pilot, app, timeout: float = 5.0) -> None:
    await wait_for(pilot, lambda: settled(run_screen(app)), timeout, what="the run screen to draw what it was fed")
    await pilot.pause()  # and the refresh those redraws asked for (no fixed time: until idle)


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
