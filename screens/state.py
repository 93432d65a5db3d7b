"""What the run screen knows about a run, as plain data (no widgets): `RunView`.

`apply(ev)` folds one event in; `apply_batch(events)` folds a batch in with the same result
but parses timestamps only where the state needs them (the first and last event of a batch
and state changes), which is what makes 50k events/s affordable. Replay keeps copies
(`copy()`) as snapshots to seek from.
"""

from __future__ import annotations

from agent_core.record.events import TERMINAL_STATES, parse_ts

__all__ = ["RunView", "STATE_TYPES", "parse_ts"]

# Types that change RunView beyond count/start/last time (host_sample only sets last_host).
STATE_TYPES = frozenset(
    {"run_state", "approval_request", "approval_decision", "job_state", "score", "host_sample", "alert", "budget"}
)
MAX_ALERTS = 50  # alerts kept for the alerts pane (the newest)


class RunView:
    """What is known about the run from the events seen so far (in order)."""

    def __init__(self, config: dict | None = None) -> None:
        self.config = config or {}
        self.reset()

    def reset(self) -> None:
        self.state = "unknown"
        self.start_ts: float | None = None
        self.last_ts: float | None = None
        self.end_ts: float | None = None
        self.pending: dict[str, dict] = {}
        self.jobs: dict[str, str] = {}
        self.last_score: dict | None = None
        self.last_host: dict | None = None
        self.budget: dict | None = None  # the last `budget` event
        self.alerts: tuple[dict, ...] = ()  # the last MAX_ALERTS alerts, oldest first
        self.alert_count = 0
        self.count = 0

    def copy(self) -> "RunView":
        other = RunView.__new__(RunView)
        other.__dict__.update(self.__dict__)
        other.pending = dict(self.pending)
        other.jobs = dict(self.jobs)
        return other

    def restore(self, other: "RunView") -> None:
        """Take over another view's state (keeps this view's config)."""
        config = self.config
        self.__dict__.update(other.__dict__)
        self.pending = dict(other.pending)
        self.jobs = dict(other.jobs)
        self.config = config

    def apply(self, ev: dict) -> None:
        self.count += 1
        t = parse_ts(ev.get("ts"))
        if t is not None:
            if self.start_ts is None:
                self.start_ts = t
            self.last_ts = t
        self._apply_state(ev, t)

    def _apply_state(self, ev: dict, t: float | None) -> None:
        kind = ev.get("type")
        if kind == "run_state":
            self.state = str(ev.get("state", self.state))
            if self.state in TERMINAL_STATES:
                self.end_ts = t if t is not None else self.last_ts
                self.pending.clear()  # nobody is waiting on a finished run
            else:
                self.end_ts = None
        elif kind == "approval_request":
            self.pending[str(ev.get("id"))] = ev
        elif kind == "approval_decision":
            self.pending.pop(str(ev.get("id")), None)
        elif kind == "job_state":
            self.jobs[str(ev.get("job"))] = str(ev.get("state"))
        elif kind == "score":
            self.last_score = ev
        elif kind == "host_sample":
            self.last_host = ev
        elif kind == "alert":
            self.alerts = (self.alerts + (ev,))[-MAX_ALERTS:]
            self.alert_count += 1
        elif kind == "budget":
            self.budget = ev

    def apply_batch(self, events: list[dict]) -> None:
        """The same as `apply` on each event in order, cheaper."""
        n = len(events)
        if not n:
            return
        if self.start_ts is None:
            for ev in events:
                t = parse_ts(ev.get("ts"))
                if t is not None:
                    self.start_ts = t
                    break
        state_types = STATE_TYPES
        for i, ev in enumerate(events):
            kind = ev.get("type")
            if type(kind) is not str or kind not in state_types:
                continue
            if kind == "host_sample":
                self.last_host = ev
                continue
            t = parse_ts(ev.get("ts"))
            if t is not None:
                self.last_ts = t
            elif kind == "run_state":  # an end without ts ends at the last known time
                prev = self._last_ts_before(events, i)
                if prev is not None:
                    self.last_ts = prev
            self._apply_state(ev, t)
        for ev in reversed(events):
            t = parse_ts(ev.get("ts"))
            if t is not None:
                self.last_ts = t
                break
        self.count += n

    @staticmethod
    def _last_ts_before(events: list[dict], i: int) -> float | None:
        for j in range(i - 1, -1, -1):
            t = parse_ts(events[j].get("ts"))
            if t is not None:
                return t
        return None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def elapsed(self, now: float | None) -> float | None:
        """Run time: up to the end state, else up to `now` (None: up to the last event)."""
        if self.start_ts is None:
            return None
        end = self.end_ts if self.end_ts is not None else (now if now is not None else self.last_ts)
        return max(0.0, (end or self.start_ts) - self.start_ts)
