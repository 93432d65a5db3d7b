"""Event sources for the run screen. The live screen and the replay screen are one screen
fed by one of these; both post the same `EventsArrived` message (a batch) to it.

    LiveFeed(run_dir)   a thread worker polls `LogReader` every ~100 ms and posts each
                        non-empty batch; also posts `DaemonAlive(alive)` when the daemon
                        appears or goes away.
    ReplayFeed(events)  plays a finished log on a virtual clock: play/pause, speed 1x..100x,
                        step one event either way, seek. Log timestamps drive the clock, and
                        idle gaps longer than `max_gap` seconds are cut down to `max_gap`.

Feeds never touch widgets: they only post messages; the screen owns all state.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from agent_core.events import LogReader
from agent_core.runs import RunDir

__all__ = ["EventsArrived", "DaemonAlive", "LiveFeed", "ReplayFeed", "parse_ts", "SPEEDS"]

SPEEDS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


class EventsArrived(Message):
    """A batch of events, in log order. `reset=True`: forget everything shown so far and
    rebuild from `events` (used by replay when stepping backwards or seeking)."""

    def __init__(self, events: list[dict], reset: bool = False) -> None:
        super().__init__()
        self.events = events
        self.reset = reset


class DaemonAlive(Message):
    """The live run's daemon appeared (alive=True) or went away (alive=False)."""

    def __init__(self, alive: bool) -> None:
        super().__init__()
        self.alive = alive


def parse_ts(ts: object) -> float | None:
    """Seconds since the epoch of an event's `ts` (ISO-8601, 'Z' allowed), or None."""
    if isinstance(ts, (int, float)):
        return float(ts)
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class LiveFeed:
    """Follows a run's `events.jsonl` from the start. `start(target)` runs the polling loop in
    a Textual thread worker owned by `target` (the screen)."""

    live = True

    def __init__(self, run_dir: RunDir | Path | str, interval: float = 0.1,
                 liveness_every: float = 2.0) -> None:
        self.run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        self.interval = interval
        self.liveness_every = liveness_every
        self.reader = LogReader(self.run.events_path)
        self._worker: Worker | None = None

    def start(self, target: MessagePump) -> None:
        self._worker = target.run_worker(
            lambda: self._loop(target), thread=True, group="feed", exclusive=True,
            name=f"live-feed:{self.run.id}", exit_on_error=False,
        )

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    def _loop(self, target: MessagePump) -> None:
        worker = get_current_worker()
        alive: bool | None = None
        next_check = 0.0
        while not worker.is_cancelled:
            try:
                events = self.reader.poll()
            except OSError:
                events = []
            if events:
                target.post_message(EventsArrived(events))
            now = time.monotonic()
            if now >= next_check:
                next_check = now + self.liveness_every
                is_live = self.run.is_live()
                if is_live != alive:
                    alive = is_live
                    target.post_message(DaemonAlive(is_live))
            time.sleep(self.interval)


class ReplayFeed:
    """Plays a list of events. All control methods are called on the UI thread (the screen's
    handlers); the playback clock is a timer on the target, so no locking is needed."""

    live = False

    def __init__(self, events: Sequence[dict], *, speed: float = 10.0, playing: bool = True,
                 max_gap: float = 2.0, tick: float = 0.05, run: RunDir | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.events = list(events)
        self.run = run
        self.max_gap = max_gap
        self.tick = tick
        self._monotonic = monotonic
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))
        self.playing = playing and bool(self.events)
        self.position = 0          # events[:position] have been shown
        self.vtime = 0.0           # virtual (gap-compressed) seconds since the first event
        self.offsets = self._offsets(self.events, max_gap)
        self._target: MessagePump | None = None
        self._timer: Timer | None = None
        self._last_tick = 0.0

    # -- timeline -------------------------------------------------------------------------
    @staticmethod
    def _offsets(events: list[dict], max_gap: float) -> list[float]:
        out: list[float] = []
        prev: float | None = None
        acc = 0.0
        for ev in events:
            t = parse_ts(ev.get("ts"))
            if t is not None and prev is not None:
                acc += min(max(t - prev, 0.0), max_gap)
            if t is not None:
                prev = t
            out.append(acc)
        return out

    @property
    def total(self) -> int:
        return len(self.events)

    @property
    def finished(self) -> bool:
        return self.position >= len(self.events)

    def status(self) -> dict:
        return {"position": self.position, "total": self.total, "playing": self.playing,
                "speed": self.speed}

    # -- wiring ---------------------------------------------------------------------------
    def start(self, target: MessagePump) -> None:
        self._target = target
        self._last_tick = self._monotonic()
        self._timer = target.set_interval(self.tick, self._on_tick, name="replay-feed")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._target = None

    def _post(self, events: list[dict], reset: bool = False) -> None:
        if self._target is not None and (events or reset):
            self._target.post_message(EventsArrived(events, reset=reset))

    def _on_tick(self) -> None:
        now = self._monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if not self.playing or self.finished:
            return
        self.vtime += dt * self.speed
        end = self.position
        while end < len(self.events) and self.offsets[end] <= self.vtime:
            end += 1
        if end >= len(self.events):
            self.playing = False
        batch = self.events[self.position:end]
        self.position = end
        self._post(batch)

    # -- controls -------------------------------------------------------------------------
    def play(self) -> None:
        if not self.events:
            return
        if self.finished:
            self.seek(0)
        self.playing = True
        self._last_tick = self._monotonic()

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> bool:
        self.pause() if self.playing else self.play()
        return self.playing

    def faster(self) -> float:
        i = SPEEDS.index(self.speed)
        self.speed = SPEEDS[min(i + 1, len(SPEEDS) - 1)]
        return self.speed

    def slower(self) -> float:
        i = SPEEDS.index(self.speed)
        self.speed = SPEEDS[max(i - 1, 0)]
        return self.speed

    def step(self, n: int = 1) -> None:
        """Show the next n events (pauses playback)."""
        self.playing = False
        end = min(self.position + max(n, 0), len(self.events))
        batch = self.events[self.position:end]
        self.position = end
        self._sync_vtime()
        self._post(batch)

    def step_back(self, n: int = 1) -> None:
        """Go back n events (pauses playback); the screen is rebuilt from the start."""
        self.playing = False
        self.seek(max(self.position - max(n, 0), 0))

    def seek(self, index: int) -> None:
        """Show exactly events[:index] (rebuilds the screen)."""
        index = max(0, min(index, len(self.events)))
        if index >= self.position:
            batch = self.events[self.position:index]
            self.position = index
            self._sync_vtime()
            self._post(batch)
            return
        self.position = index
        self._sync_vtime()
        self._post(self.events[:index], reset=True)

    def to_end(self) -> None:
        self.playing = False
        self.seek(len(self.events))

    def _sync_vtime(self) -> None:
        self.vtime = self.offsets[self.position - 1] if self.position else 0.0
