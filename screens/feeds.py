"""Event sources for the run screen. The live screen and the replay screen are one screen
fed by one of these; both post the same `EventsArrived` message (a batch) to it.

    LiveFeed(run_dir)   a thread worker polls the log (`FastLogReader`, LogReader's
                        semantics) every ~100 ms and posts each non-empty batch (at most
                        `chunk_bytes` of log per batch; it polls again at once while more is
                        waiting); also posts `DaemonAlive(alive)` when the daemon appears or
                        goes away.
    ReplayFeed(source)  plays a finished log on a virtual clock: play/pause, speed 1x..100x,
                        step one event either way, seek. Log timestamps drive the clock, and
                        idle gaps longer than `max_gap` seconds are cut down to `max_gap`.
                        `source` is a list of events or the path of a log. A log is indexed
                        (`ReplayLog`), not loaded: a small one at once, a large one in a
                        thread worker while the screen is already up (`loading`; seeks past
                        what is indexed wait for it). Seeking backwards, or far forwards,
                        posts a reset carrying a `ReplayState` (the screen rebuilds from the
                        nearest snapshot) instead of every event since the start.

Feeds never touch widgets: they only post messages; the screen owns all state.
"""

from __future__ import annotations

import sys
import time
from bisect import bisect_right
from pathlib import Path
from typing import Callable, Sequence

from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from agent_core.record.runs import RunDir
from screens.replay_log import FastLogReader, ReplayLog, ReplayState
from screens.state import parse_ts

__all__ = ["EventsArrived", "DaemonAlive", "ReplayProgress", "LiveFeed", "ReplayFeed", "parse_ts", "SPEEDS"]

SPEEDS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


class EventsArrived(Message):
    """A batch of events, in log order. `reset=True`: forget everything shown so far and
    rebuild from `state` (a ReplayState: what events[:state.index] show) when given, then
    apply `events`; without a state, rebuild from `events` alone (they start at the log's
    beginning). A reset supersedes any batch still queued before it."""

    def __init__(self, events: list[dict], reset: bool = False, state: ReplayState | None = None) -> None:
        super().__init__()
        self.events = events
        self.reset = reset or state is not None
        self.state = state

    def can_replace(self, message: Message) -> bool:
        # `message` is queued after this one: a reset makes this batch moot.
        return isinstance(message, EventsArrived) and message.reset


class DaemonAlive(Message):
    """The live run's daemon appeared (alive=True) or went away (alive=False)."""

    def __init__(self, alive: bool) -> None:
        super().__init__()
        self.alive = alive


class ReplayProgress(Message):
    """The replay's log index grew or is complete (for the position/total display)."""


class LiveFeed:
    """Follows a run's `events.jsonl` from the start. `start(target)` runs the polling loop in
    a Textual thread worker owned by `target` (the screen)."""

    live = True

    def __init__(
        self,
        run_dir: RunDir | Path | str,
        interval: float = 0.1,
        liveness_every: float = 2.0,
        chunk_bytes: int = 2 << 20,
    ) -> None:
        self.run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        self.interval = interval
        self.liveness_every = liveness_every
        self.chunk_bytes = chunk_bytes
        self.reader = FastLogReader(self.run.events_path)
        self._worker: Worker | None = None

    def start(self, target: MessagePump) -> None:
        self._worker = target.run_worker(
            lambda: self._loop(target),
            thread=True,
            group="feed",
            exclusive=True,
            name=f"live-feed:{self.run.id}",
            exit_on_error=False,
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
                events = self.reader.poll(self.chunk_bytes)
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
            if not self.reader.last_full:  # more is waiting: read on at once
                time.sleep(self.interval)


class ReplayFeed:
    """Plays a list of events or a log file. All control methods are called on the UI thread
    (the screen's handlers); the playback clock is a timer on the target. The log index is
    built by a thread worker for a large file and read under its lock."""

    live = False
    FORWARD_BATCH = 256  # a seek further ahead than this rebuilds from a snapshot
    TICK_MAX = 5000  # at most this many events per playback tick
    SYNC_BYTES = 2 << 20  # logs up to this size are indexed before the first frame

    def __init__(
        self,
        source: Sequence[dict] | Path | str,
        *,
        speed: float = 10.0,
        playing: bool = True,
        max_gap: float = 2.0,
        tick: float = 0.05,
        run: RunDir | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(source, (str, Path)):
            self.log = ReplayLog.of_file(source, max_gap)
            try:
                size = Path(source).stat().st_size
            except OSError:
                size = 0
            if size <= self.SYNC_BYTES:
                self.log.scan()
        else:
            self.log = ReplayLog.of_list(source, max_gap)
        self.run = run
        self.max_gap = max_gap
        self.tick = tick
        self._monotonic = monotonic
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))
        self.playing = playing and (self.log.count > 0 or not self.log.done)
        self.position = 0  # events[:position] have been shown
        self.vtime = 0.0  # virtual (gap-compressed) seconds since the first event
        self._target: MessagePump | None = None
        self._timer: Timer | None = None
        self._worker: Worker | None = None
        self._last_tick = 0.0
        self._pending_seek: int | None = None
        self._progress_at = 0.0
        self._progress_seen: tuple[int, bool] = (self.log.count, self.log.done)

    # -- timeline -------------------------------------------------------------------------
    @property
    def offsets(self) -> list[float]:
        """Virtual time of each indexed event (a copy)."""
        return self.log.vt.tolist()

    @property
    def total(self) -> int:
        """Events known so far (all of them once `loading` is false)."""
        return self.log.count

    @property
    def loading(self) -> bool:
        return not self.log.done

    @property
    def finished(self) -> bool:
        return self.log.done and self.position >= self.log.count

    def status(self) -> dict:
        return {
            "position": self.position,
            "total": self.total,
            "playing": self.playing,
            "speed": self.speed,
            "loading": self.loading,
        }

    # -- wiring ---------------------------------------------------------------------------
    def start(self, target: MessagePump) -> None:
        self._target = target
        self._last_tick = self._monotonic()
        if not self.log.done:
            self._worker = target.run_worker(
                self._scan, thread=True, group="replay-index", exclusive=True, name="replay-index", exit_on_error=False
            )
        self._timer = target.set_interval(self.tick, self._on_tick, name="replay-feed")

    def _scan(self) -> None:
        worker = get_current_worker()
        self.log.scan(cancelled=lambda: worker.is_cancelled)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._target = None
        self.log.close()

    def _post(self, events: list[dict], reset: bool = False, state: ReplayState | None = None) -> None:
        if self._target is not None and (events or reset or state is not None):
            self._target.post_message(EventsArrived(events, reset=reset, state=state))

    def _on_tick(self) -> None:
        now = self._monotonic()
        dt, self._last_tick = now - self._last_tick, now
        log = self.log
        if self._progress_seen != (log.count, log.done):
            if log.done or now - self._progress_at >= 0.25:
                self._progress_seen, self._progress_at = (log.count, log.done), now
                if self._target is not None:
                    self._target.post_message(ReplayProgress())
        if self._pending_seek is not None and (log.done or log.count >= self._pending_seek):
            self.seek(self._pending_seek)
        if not self.playing:
            return
        n = log.count
        if self.position >= n:
            if log.done:
                self.playing = False
            return
        self.vtime += dt * self.speed
        end = bisect_right(log.vt, self.vtime, self.position, n)
        end = min(end, self.position + self.TICK_MAX)
        if end >= n and log.done:
            self.playing = False
        batch = log.events(self.position, end)
        self.position = end
        self._post(batch)

    # -- controls -------------------------------------------------------------------------
    def play(self) -> None:
        if self.log.done and not self.log.count:
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
        self._pending_seek = None
        end = min(self.position + max(n, 0), self.log.count)
        batch = self.log.events(self.position, end)
        self.position = end
        self._sync_vtime()
        self._post(batch)

    def step_back(self, n: int = 1) -> None:
        """Go back n events (pauses playback)."""
        self.playing = False
        self.seek(max(self.position - max(n, 0), 0))

    def seek(self, index: int) -> None:
        """Show exactly events[:index]. Past what is indexed so far, the seek happens when
        the index gets there (to the end of the log at most)."""
        index = max(0, index)
        log = self.log
        if not log.done and index > log.count:
            self._pending_seek = index
            return
        self._pending_seek = None
        index = min(index, log.count)
        if self.position <= index <= self.position + self.FORWARD_BATCH:
            batch = log.events(self.position, index)
            self.position = index
            self._sync_vtime()
            self._post(batch)
            return
        self.position = index
        self._sync_vtime()
        self._post([], state=log.state_at(index))

    def seek_fraction(self, fraction: float) -> None:
        """Seek to `fraction` (0..1) of the log (of what is indexed while loading)."""
        fraction = max(0.0, min(1.0, fraction))
        self.seek(round(fraction * self.log.count))

    def seek_by(self, fraction: float) -> None:
        """Move by `fraction` of the log (e.g. -0.01: back 1%), at least one event."""
        n = self.log.count
        delta = round(fraction * n) or (1 if fraction > 0 else -1 if fraction < 0 else 0)
        self.seek(max(0, min(n, self.position + delta)))

    def next_marker(self) -> int | None:
        """Seek just past the next marker event (approval, alert, checkpoint, nudge, score)
        after the position, so it is the last event shown; None (no move) if there is none."""
        log = self.log
        with log.lock:
            k = bisect_right(log.markers, self.position - 1)
            target = log.markers[k] if k < len(log.markers) else None
        if target is None:
            return None
        self.seek(target + 1)
        return target

    def prev_marker(self) -> int | None:
        """Seek back so the previous marker (before the one last shown) is the last event."""
        log = self.log
        with log.lock:
            k = bisect_right(log.markers, self.position - 2) - 1
            target = log.markers[k] if k >= 0 else None
        if target is None:
            return None
        self.seek(target + 1)
        return target

    def to_end(self) -> None:
        self.playing = False
        self.seek(sys.maxsize)

    def _sync_vtime(self) -> None:
        self.vtime = self.log.vt[self.position - 1] if self.position else 0.0
