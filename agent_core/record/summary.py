"""The one log reducer: `RunSummary` folds a run's events into what is known about the run
(state and stop reason, start/end time, approvals pending, jobs and their states, scores,
alerts, the last cost and host samples, tool calls, nudges, the latest completions and the
latest evaluation progress). The CLI (`ls`, `show`, the
headless runner), the home screen and the run screen (`screens.state.RunView`, a thin layer on
top) all use it, so they cannot disagree.

`apply(ev)` folds one event in; `apply_batch(events)` folds a batch in with the same result
but parses timestamps only where the state needs them (the first and last event of a batch
and state changes), which is what makes 50k events/s affordable. `copy()` gives an
independent copy (replay keeps them as snapshots to seek from).

Also the one plain-text line per event that `show`, the headless runner and the ledger use.
"""

from __future__ import annotations

import copy as _copy
import json

from agent_core.record.events import TERMINAL_STATES, parse_ts

__all__ = ["RunSummary", "summarize", "format_event", "STATE_TYPES", "MAX_ALERTS"]

# Types folded without their time: they change counters or the last sample only.
UNTIMED_TYPES = frozenset({"host_sample", "tool_call", "human_nudge", "submitted", "completions", "eval_progress"})
# Types that change a RunSummary beyond count and start/last time.
STATE_TYPES = (
    frozenset({"run_state", "approval_request", "approval_decision", "job_state", "score", "alert", "budget"})
    | UNTIMED_TYPES
)
MAX_ALERTS = 50  # alerts kept (the newest); `alert_count` counts them all


class RunSummary:
    """What is known about a run from the events seen so far (in order)."""

    def __init__(self) -> None:
        self.state = "unknown"
        self.reason = ""  # of the last run_state
        self.count = 0  # events seen
        self.start_ts: float | None = None  # first parseable ts
        self.last_ts: float | None = None
        self.end_ts: float | None = None  # when it reached a terminal state (None: not ended)
        self.pending: dict[str, dict] = {}  # approval id -> its approval_request (none once ended)
        self.jobs: dict[str, str] = {}  # job -> its last state (JOB_STATES)
        self.scores: dict[str, object] = {}  # "test:base" -> value, "dev:<ckpt>" -> value
        self.last_score: dict | None = None  # the last score event, any split
        self.last_test_score: dict | None = None  # the last score event on the held-out test split
        self.score_before: float | None = None  # test score of the base model
        self.score_after: float | None = None  # test score of the submission
        self.submitted: str | None = None  # the submitted checkpoint
        self.last_host: dict | None = None  # the last host_sample event
        self.budget: dict | None = None  # the last `budget` event (spend and limits)
        self.alerts: tuple[dict, ...] = ()  # the last MAX_ALERTS alerts, oldest first
        self.alert_count = 0
        self.tool_calls = 0
        self.nudges = 0
        self.last_completions: dict | None = None  # the last `completions` event (the Outputs pane)
        self.eval_progress: dict | None = None  # the last `eval_progress` event

    # -- copies -----------------------------------------------------------------------------
    def copy(self) -> "RunSummary":
        other = _copy.copy(self)
        other.pending = dict(self.pending)
        other.jobs = dict(self.jobs)
        other.scores = dict(self.scores)
        return other

    def restore(self, other: "RunSummary") -> None:
        """Take over another summary's state (a copy of it)."""
        self.__dict__.update(other.copy().__dict__)

    def reset(self) -> None:
        self.restore(RunSummary())

    # -- folding ----------------------------------------------------------------------------
    def apply(self, ev: dict) -> None:
        self.count += 1
        t = parse_ts(ev.get("ts"))
        if t is not None:
            if self.start_ts is None:
                self.start_ts = t
            self.last_ts = t
        kind = ev.get("type")
        if type(kind) is str and kind in UNTIMED_TYPES:
            self._apply_untimed(ev, kind)
        else:
            self._apply_state(ev, t)

    def _apply_untimed(self, ev: dict, kind: str) -> None:
        if kind == "host_sample":
            self.last_host = ev
        elif kind == "tool_call":
            self.tool_calls += 1
        elif kind == "human_nudge":
            self.nudges += 1
        elif kind == "submitted":
            self.submitted = ev.get("checkpoint")
        elif kind == "completions":
            self.last_completions = ev
        elif kind == "eval_progress":
            self.eval_progress = ev

    def _apply_state(self, ev: dict, t: float | None) -> None:
        kind = ev.get("type")
        if kind == "run_state":
            self.state = str(ev.get("state", self.state))
            self.reason = ev.get("reason") or ""
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
            self._apply_score(ev)
        elif kind == "alert":
            self.alerts = (self.alerts + (ev,))[-MAX_ALERTS:]
            self.alert_count += 1
        elif kind == "budget":
            self.budget = ev

    def _apply_score(self, ev: dict) -> None:
        split, value = ev.get("split"), ev.get("value")
        self.last_score = ev
        self.scores[f"{split}:{ev.get('checkpoint') or ev.get('job')}"] = value
        if split == "test":
            self.last_test_score = ev
            if ev.get("role") == "base":
                self.score_before = value
            elif ev.get("role") == "submitted":
                self.score_after = value

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
        state_types, untimed = STATE_TYPES, UNTIMED_TYPES
        for i, ev in enumerate(events):
            kind = ev.get("type")
            if type(kind) is not str or kind not in state_types:
                continue
            if kind in untimed:
                self._apply_untimed(ev, kind)
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

    # -- reading ----------------------------------------------------------------------------
    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def effective_state(self, daemon_alive: bool) -> str:
        """A run whose daemon died without writing a final state has crashed."""
        if self.state not in TERMINAL_STATES and not daemon_alive and self.count:
            return "crashed"
        return self.state

    def elapsed(self, now: float | None) -> float | None:
        """Run time: up to the end state, else up to `now` (None: up to the last event)."""
        if self.start_ts is None:
            return None
        end = self.end_ts if self.end_ts is not None else (now if now is not None else self.last_ts)
        return max(0.0, (end or self.start_ts) - self.start_ts)


def summarize(events) -> RunSummary:
    s = RunSummary()
    s.apply_batch(list(events))
    return s


def _short(value, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_event(ev: dict, *, metrics: bool = False) -> str | None:
    """One line of plain text for an event, or None for events not shown in a transcript."""
    t = ev.get("type")
    ts = str(ev.get("ts", ""))[11:19]
    if t == "run_state":
        extra = f" ({ev['reason']})" if ev.get("reason") else ""
        body = f"== run {ev.get('state')}{extra}"
    elif t == "agent_message":
        body = f"agent: {ev.get('text', '')}"
    elif t == "tool_call":
        body = f"-> {ev.get('tool')}({_short(ev.get('args', {}), 100)})  [{ev.get('id')}]"
    elif t == "tool_result":
        mark = "ok" if ev.get("ok") else "FAILED"
        body = f"<- {mark}: {_short(ev.get('summary', ''), 300)}"
    elif t == "approval_request":
        body = f"?? approval {ev.get('id')} [{ev.get('rule')}]: {ev.get('summary')}"
    elif t == "approval_decision":
        reason = f" - {ev.get('reason')}" if ev.get("reason") else ""
        body = f"!! {ev.get('decision')} {ev.get('id')} ({ev.get('scope')}, by {ev.get('by')}){reason}"
    elif t == "human_nudge":
        body = f"person: {ev.get('text', '')}"
    elif t == "alert":
        body = f"ALERT [{ev.get('severity')}] {ev.get('rule')}: {ev.get('message')}"
    elif t == "job_state":
        extra = f" - {ev['detail']}" if ev.get("detail") else ""
        body = f"job {ev.get('job')}: {ev.get('state')}{extra}"
    elif t == "score":
        what = ev.get("checkpoint") or (f"{ev.get('job')} step {ev.get('step')}" if ev.get("job") else "?")
        value = ev.get("value")
        body = f"score {ev.get('split')} {what}: " + (f"{value:.3f}" if isinstance(value, (int, float)) else "n/a")
    elif t == "submitted":
        body = f"submitted {ev.get('checkpoint')}"
    elif t == "metric" and metrics:
        vals = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (ev.get("values") or {}).items()
        )
        body = f"metric {ev.get('job')} step {ev.get('step')}: {vals}"
    else:
        return None
    return f"{ts} {body}"
