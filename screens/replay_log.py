"""Reading event logs fast enough for the UI, and an index that makes replay seeks cheap.

    parse_lines(lines)      JSON lines -> objects (None for a bad line). One json.loads over
                            the whole batch (about 2x faster than a call per line), with a
                            per-line fallback whenever the batch does not parse cleanly.
    FastLogReader(path)     agent_core.record.events.LogReader with that parser (same semantics:
                            torn last line pending, corrupt lines and non-increasing seq
                            skipped and counted).
    ReplayLog               an index of a finished log, built incrementally (in a worker for a
                            file, at once for a list): line offsets, virtual play time, event
                            types, transcript/host/state-change positions, per-job metric
                            columns and a RunView snapshot every SNAPSHOT_EVERY events. It
                            keeps no parsed events: `events(lo, hi)` reads a range of lines
                            back, and `state_at(i)` gives what the run screen shows after
                            events[:i] in O(SNAPSHOT_EVERY) work, whatever i is.

Nothing here touches widgets; it is shared by the feed's worker thread (which appends) and
the UI thread (which reads), under a lock.
"""

from __future__ import annotations

import json
import math
import threading
from array import array
from functools import partial
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Callable, Iterable, Sequence

from agent_core.record.events import LogReader
from screens.state import STATE_TYPES, RunView, parse_ts
from screens.widgets.chart import LOSS_KEYS, extra_points, metric_point
from screens.widgets.transcript_entries import HIDDEN_TYPES

__all__ = ["parse_lines", "FastLogReader", "ReplayLog", "ReplayState", "SNAPSHOT_EVERY", "HIDDEN_TYPES"]

SNAPSHOT_EVERY = 1000
# Types whose events change RunView beyond count/time and the last host sample (read back
# at seek time): what a seek re-applies from the nearest snapshot.
_STATE_CHANGES = STATE_TYPES - {"host_sample", "completions"}  # the last of each is read back
# Timeline markers: what `[` / `]` jump between.
MARKER_TYPES = frozenset({"approval_request", "approval_decision", "alert", "checkpoint", "human_nudge", "score"})
_NAN = float("nan")


def _loads(line: bytes) -> object:
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None


def parse_lines(lines: Sequence[bytes], group: int = 256) -> list:
    """json.loads of each line (None where it fails), `group` lines per call when it can.

    A group is parsed as one JSON array when every line looks like an object ({...}); the
    result is used only if it has exactly one element per line, else each line of the group
    is parsed on its own. (A torn or garbled line fails that check and its group falls
    back.) Groups stay small because one json.loads call holds the GIL throughout: 256
    lines are ~1-2 ms, a whole 2 MB poll would stall the UI thread for ~50 ms."""
    out: list = []
    for lo in range(0, len(lines), group):
        part = lines[lo : lo + group]
        objs = None
        if all(ln[:1] == b"{" and ln[-1:] == b"}" for ln in part):
            try:
                objs = json.loads(b"[" + b",".join(part) + b"]")
            except (ValueError, UnicodeDecodeError, RecursionError):
                objs = None
        if isinstance(objs, list) and len(objs) == len(part):
            out.extend(objs)
        else:
            out.extend(_loads(ln) for ln in part)
    return out


def valid_events(objs: Iterable[object], last_seq: int) -> tuple[list[tuple[int, dict]], int, int]:
    """(position, event) of the objects LogReader would accept, the last seq, the rejects."""
    out = []
    bad = 0
    for k, obj in enumerate(objs):
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("seq"), int)
            or "type" not in obj
            or obj["seq"] <= last_seq
        ):
            bad += 1
            continue
        last_seq = obj["seq"]
        out.append((k, obj))
    return out, last_seq, bad


class FastLogReader(LogReader):
    """LogReader.poll with `parse_lines`: same results, about half the parsing time.
    `last_full` tells whether the last poll stopped at max_bytes (more is waiting)."""

    def _parse_lines(self, lines: list[bytes]) -> list[dict]:
        good, self.last_seq, bad = valid_events(parse_lines(lines), self.last_seq)
        self.corrupt += bad
        return [ev for _, ev in good]


class _JobSeries:
    """Accepted chart points of one job, as columns (event index, step, value); `resets`
    are the positions where the series started over (a loss key replaced a reward key);
    `missing` the positions whose step was not a number."""

    __slots__ = ("key", "pos", "idx", "step", "value", "reset_pos", "reset_key", "missing")

    def __init__(self, key: str, pos: int) -> None:
        self.key = key
        self.pos = pos  # position in ReplayLog.job_names
        self.idx = array("q")
        self.step: list = []  # as logged (int stays int), None when not a number
        self.value = array("d")
        self.reset_pos = [0]
        self.reset_key = [key]
        self.missing = array("q")

    def add(self, i: int, step, value: float) -> None:
        """Event i's point; a step that is not a number is kept as None and marked missing."""
        if not isinstance(step, (int, float)):
            self.missing.append(len(self.idx))
            step = None
        self.idx.append(i)
        self.step.append(step)
        self.value.append(value)


class ReplayLog:
    """Index of a finished log. Build it with `add_events` (in order) then `finish()`; or
    `ReplayLog.of_list(events)`, or `ReplayLog.of_file(path)` + `scan()` (in a worker).

    Readers use indexes < `count`; `done` is set once the whole log is indexed."""

    def __init__(self, max_gap: float = 2.0, path: Path | None = None, events: list[dict] | None = None) -> None:
        self.max_gap = max_gap
        self.path = Path(path) if path is not None else None
        self._list = events  # in-memory source (tests, small logs)
        self.lock = threading.RLock()  # readers in other modules take it too (feeds, timeline)
        self._fh = None  # UI-thread reader of the file
        self.count = 0
        self.done = False
        self.corrupt = 0
        self.error: str | None = None
        self.starts = array("q")  # byte offset of each event's line (file source)
        self.lengths = array("l")  # its length in bytes, without the newline
        self.vt = array("d")  # virtual (gap-compressed) seconds of each event
        self.tsf = array("d")  # last parseable ts at or before each event (nan)
        self.codes = bytearray()  # type code of each event
        self.type_names: list[str] = []
        self._type_codes: dict[str, int] = {}
        self.shown = array("q")  # events the transcript shows
        self.hosts = array("q")  # host_sample events
        self.outputs = array("q")  # completions events (the Outputs pane shows the last one)
        self.changes = array("q")  # events that change RunView state
        self.snapshots: list[RunView] = []  # snapshots[k]: RunView after events[:k*N]
        self.jobs: dict[str, _JobSeries] = {}  # in order of first accepted metric
        self.m_idx = array("q")  # accepted metric events, all jobs
        self.m_job = array("l")  # their job (position in job_names)
        self.job_names: list[str] = []
        self.first_ts: float | None = None
        self.markers = array("q")  # events of MARKER_TYPES (timeline, [ and ])
        self.job_metrics: dict[str, array] = {}  # job -> its metric events (jobs pane)
        self.extra: dict[tuple[str, str], _JobSeries] = {}  # (chart kind, job) -> points
        self.dev_scores: list[tuple[int, str, object, float]] = []  # (i, job, step, value)
        self._view = RunView()
        self._prev_t: float | None = None
        self._acc = 0.0
        self._last_seq = 0

    # -- sources ----------------------------------------------------------------------------
    @classmethod
    def of_list(cls, events: Sequence[dict], max_gap: float = 2.0) -> "ReplayLog":
        events = list(events)
        log = cls(max_gap, events=events)
        log.add_events(events)
        log.finish()
        return log

    @classmethod
    def of_file(cls, path: Path | str, max_gap: float = 2.0) -> "ReplayLog":
        return cls(max_gap, path=Path(path))

    def scan(
        self,
        cancelled: Callable[[], bool] = lambda: False,
        chunk_bytes: int = 1 << 20,
        progress: Callable[[], None] | None = None,
    ) -> None:
        """Index the file (call once, from a worker thread). Same events as read_events:
        a torn last line and corrupt lines are skipped."""
        assert self.path is not None
        try:
            with open(self.path, "rb") as fh:
                base = 0  # file offset of `pending`
                pending = b""
                while not cancelled():
                    chunk = fh.read(chunk_bytes)
                    if not chunk:
                        break
                    data = pending + chunk
                    lines = data.split(b"\n")
                    pending = lines.pop()
                    starts, keep = [], []
                    pos = base
                    for ln in lines:
                        if ln.strip():
                            starts.append(pos)
                            keep.append(ln)
                        pos += len(ln) + 1
                    base = pos
                    for lo in range(0, len(keep), 500):
                        if cancelled():
                            return
                        part = keep[lo : lo + 500]
                        good, self._last_seq, bad = valid_events(parse_lines(part), self._last_seq)
                        with self.lock:
                            self.corrupt += bad
                            self.add_events([ev for _, ev in good], [(starts[lo + k], len(part[k])) for k, _ in good])
                    if progress is not None:
                        progress()
        except OSError as exc:
            self.error = str(exc)
        finally:
            if not cancelled():
                self.finish()
                if progress is not None:
                    progress()

    def close(self) -> None:
        with self.lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    # -- building ---------------------------------------------------------------------------
    def add_events(self, events: Sequence[dict], spans: Sequence[tuple[int, int]] | None = None) -> None:
        """Index the next events (in log order); `spans`: (offset, length) of each line."""
        with self.lock:
            n = self.count
            vt, tsf, codes = self.vt, self.tsf, self.codes
            view = self._view
            max_gap = self.max_gap
            for k, ev in enumerate(events):
                i = n + k
                if i % SNAPSHOT_EVERY == 0:
                    self.snapshots.append(view.copy())
                t = parse_ts(ev.get("ts"))
                if t is not None:
                    if self._prev_t is not None:
                        self._acc += min(max(t - self._prev_t, 0.0), max_gap)
                    self._prev_t = t
                    if self.first_ts is None:
                        self.first_ts = t
                vt.append(self._acc)
                last = tsf[-1] if i else _NAN
                tsf.append(t if t is not None else last)
                kind = ev.get("type")
                if type(kind) is not str:  # not a type the UI knows (and maybe unhashable)
                    kind = repr(kind)
                code = self._type_codes.get(kind)
                if code is None:
                    code = len(self.type_names) if len(self.type_names) < 255 else 255
                    if code < 255:
                        self.type_names.append(kind)
                    self._type_codes[kind] = code
                codes.append(code)
                if kind == "metric":
                    self._add_metric(i, ev)
                    continue
                if kind == "host_sample":
                    self.hosts.append(i)  # RunView.last_host is read back at seek time
                    continue
                if kind == "completions":
                    self.outputs.append(i)  # RunView.last_completions is read back at seek time
                    continue
                if kind not in HIDDEN_TYPES:
                    self.shown.append(i)
                if kind in MARKER_TYPES:
                    self.markers.append(i)
                    if kind == "score" and ev.get("split") == "dev":
                        value = ev.get("value")
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            self.dev_scores.append((i, str(ev.get("job") or "run"), ev.get("step"), float(value)))
                if kind in _STATE_CHANGES:
                    self.changes.append(i)
                    view.last_ts = None if math.isnan(last) else last
                    view.apply(ev)
            if spans is not None:
                for start, length in spans:
                    self.starts.append(start)
                    self.lengths.append(length)
            self.count = n + len(events)

    def _add_metric(self, i: int, ev: dict) -> None:
        job_name = ev.get("job", "?")
        if type(job_name) is not str:
            job_name = str(job_name)
        jm = self.job_metrics.get(job_name)
        if jm is None:
            jm = self.job_metrics[job_name] = array("q")
        jm.append(i)
        values = ev.get("values")
        if isinstance(values, dict):
            for kind, value in extra_points(values):
                xs = self.extra.get((kind, job_name))
                if xs is None:
                    xs = self.extra[(kind, job_name)] = _JobSeries(kind, 0)
                xs.add(i, ev.get("step"), value)
        point = metric_point(ev)
        if point is None:
            return
        job, key, value, step = point
        js = self.jobs.get(job)
        if js is None:
            js = self.jobs[job] = _JobSeries(key, len(self.job_names))
            self.job_names.append(job)
        elif js.key not in LOSS_KEYS and key in LOSS_KEYS:
            js.key = key
            js.reset_pos.append(len(js.idx))
            js.reset_key.append(key)
        if key != js.key:
            return
        js.add(i, step, value)
        self.m_idx.append(i)
        self.m_job.append(js.pos)

    def finish(self) -> None:
        self.done = True

    # -- reading ----------------------------------------------------------------------------
    def event(self, i: int) -> dict:
        if self._list is not None:
            return self._list[i]
        return self.events(i, i + 1)[0]

    def size(self, i: int) -> int | None:
        """Length in bytes of event i's line (None for an in-memory source)."""
        return self.lengths[i] if self._list is None else None

    def sizes(self, refs: list[int]) -> list[int] | None:
        """Line lengths of these events (None for an in-memory source)."""
        if self._list is not None:
            return None
        lengths = self.lengths
        return [lengths[i] for i in refs]

    def events(self, lo: int, hi: int) -> list[dict]:
        """events[lo:hi] (parsed again from the file for a file source)."""
        with self.lock:
            hi = min(hi, self.count)
            if lo >= hi:
                return []
            if self._list is not None:
                return self._list[lo:hi]
            base = self.starts[lo]
            end = self.starts[hi - 1] + self.lengths[hi - 1]
            if self._fh is None:
                self._fh = open(self.path, "rb")  # type: ignore[arg-type]
            self._fh.seek(base)
            data = self._fh.read(end - base)
            starts, lengths = self.starts, self.lengths
            lines = [data[starts[j] - base : starts[j] - base + lengths[j]] for j in range(lo, hi)]
        objs = parse_lines(lines)
        return [o if isinstance(o, dict) else {"seq": 0, "type": "unreadable"} for o in objs]

    def type_of(self, i: int) -> str:
        code = self.codes[i]
        return self.type_names[code] if code < len(self.type_names) else "?"

    def state_at(self, i: int) -> "ReplayState":
        return ReplayState(self, max(0, min(i, self.count)))


class ReplayState:
    """What the run screen shows after events[:index] of a ReplayLog, computed on demand
    from the nearest snapshot (the screen calls these while handling a reset)."""

    def __init__(self, log: ReplayLog, index: int) -> None:
        self.log = log
        self.index = index

    def view(self, config: dict | None = None) -> RunView:
        log, i = self.log, self.index
        with log.lock:
            k = min(i // SNAPSHOT_EVERY, len(log.snapshots) - 1) if log.snapshots else -1
            view = log.snapshots[k].copy() if k >= 0 else RunView()
            lo = max(k, 0) * SNAPSHOT_EVERY
            a, b = bisect_left(log.changes, lo), bisect_left(log.changes, i)
            todo = list(log.changes[a:b])
            h = bisect_left(log.hosts, i)
            host_i = log.hosts[h - 1] if h else None
            o = bisect_left(log.outputs, i)
            outputs_i = log.outputs[o - 1] if o else None
            tsf = log.tsf
            last = tsf[i - 1] if i else _NAN
            first_ts = log.first_ts
        for j in todo:
            prev = tsf[j - 1] if j else _NAN
            view.last_ts = None if math.isnan(prev) else prev
            view.apply(log.event(j))
        view.config = config or {}
        view.count = i
        view.last_ts = None if math.isnan(last) else last
        view.start_ts = first_ts if view.last_ts is not None else None
        view.last_host = log.event(host_i) if host_i is not None else None
        view.last_completions = log.event(outputs_i) if outputs_i is not None else None
        return view

    def chart(self, maxlen: int) -> tuple[dict[str, tuple[str, Callable[[], list]]], str | None]:
        """(job -> (key, function returning its points)) as LossChart would hold them, in
        order of first metric, and the latest job. Points are made only when asked for."""
        log, i = self.log, self.index
        series: dict[str, tuple[str, Callable[[], list]]] = {}
        with log.lock:
            for job, js in log.jobs.items():
                if not js.idx or js.idx[0] >= i:
                    continue
                p = bisect_left(js.idx, i)
                r = bisect_right(js.reset_pos, p - 1) - 1
                series[job] = (js.reset_key[r], partial(self._points, js, p, js.reset_pos[r], maxlen))
            m = bisect_left(log.m_idx, i)
            latest = log.job_names[log.m_job[m - 1]] if m else None
        return series, latest

    def _points(self, js: _JobSeries, p: int, r0: int, maxlen: int) -> list:
        with self.log.lock:
            lo = max(r0, p - maxlen)
            pts = list(zip(js.step[lo:p], js.value[lo:p]))
            a, b = bisect_left(js.missing, lo), bisect_left(js.missing, p)
            for q in js.missing[a:b]:  # LossChart uses the series length for these
                pts[q - lo] = (min(q - r0, maxlen), pts[q - lo][1])
        return pts

    def transcript(self, max_entries: int) -> list[int]:
        """Event indexes of the last `max_entries` transcript entries before index."""
        log = self.log
        with log.lock:
            p = bisect_left(log.shown, self.index)
            return list(log.shown[max(0, p - max_entries) : p])

    def extra_chart(self, maxlen: int) -> dict[str, dict[str, Callable[[], list]]]:
        """kind -> job -> function returning the last `maxlen` points of that chart kind
        (reward, lr, kl, entropy) before index, as LossChart.extra holds them."""
        log, i = self.log, self.index
        out: dict[str, dict[str, Callable[[], list]]] = {}
        with log.lock:
            for (kind, job), xs in log.extra.items():
                if not xs.idx or xs.idx[0] >= i:
                    continue
                p = bisect_left(xs.idx, i)
                out.setdefault(kind, {})[job] = partial(self._points, xs, p, 0, maxlen)
        return out

    def dev_scores(self) -> list[tuple[str, object, float]]:
        """(job, step, value) of the dev scores before index."""
        log, i = self.log, self.index
        with log.lock:
            return [(job, step, value) for j, job, step, value in log.dev_scores if j < i]

    def job_metrics(self, window: int = 50) -> dict[str, tuple[dict | None, dict]]:
        """job -> (an earlier metric event, its last metric event) before index: what the
        jobs pane shows (step, tokens/s, MFU) and its rate for the ETA."""
        log, i = self.log, self.index
        picks: dict[str, tuple[int | None, int]] = {}
        with log.lock:
            for job, idx in log.job_metrics.items():
                p = bisect_left(idx, i)
                if p:
                    picks[job] = (idx[max(0, p - window)] if p > 1 else None, idx[p - 1])
        out = {}
        for job, (a, b) in picks.items():
            out[job] = (log.event(a) if a is not None else None, log.event(b))
        return out
