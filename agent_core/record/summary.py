"""Reduce an event stream to what a person asks first: state, scores, pending decisions.

Also the one plain-text line per event that `show`, the headless runner and the ledger use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from agent_core.record.events import TERMINAL_STATES


@dataclass
class RunSummary:
    state: str = "unknown"
    reason: str = ""
    events: int = 0
    last_seq: int = 0
    started: str | None = None
    ended: str | None = None
    scores: dict = field(default_factory=dict)  # "test:base" -> value, "dev:<ckpt>" -> value
    score_before: float | None = None
    score_after: float | None = None
    submitted: str | None = None
    pending: dict = field(default_factory=dict)  # approval id -> approval_request event
    decisions: list = field(default_factory=list)
    nudges: int = 0
    alerts: list = field(default_factory=list)
    jobs: dict = field(default_factory=dict)  # job -> state
    tool_calls: int = 0

    def feed(self, ev: dict) -> None:
        self.events += 1
        self.last_seq = ev.get("seq", self.last_seq)
        t = ev.get("type")
        if self.started is None:
            self.started = ev.get("ts")
        if t == "run_state":
            self.state = ev.get("state", self.state)
            self.reason = ev.get("reason", "")
            if self.state in TERMINAL_STATES:
                self.ended = ev.get("ts")
        elif t == "score":
            key = f"{ev.get('split')}:{ev.get('checkpoint') or ev.get('job')}"
            self.scores[key] = ev.get("value")
            if ev.get("split") == "test":
                if ev.get("role") == "base":
                    self.score_before = ev.get("value")
                elif ev.get("role") == "submitted":
                    self.score_after = ev.get("value")
        elif t == "approval_request":
            self.pending[ev.get("id")] = ev
        elif t == "approval_decision":
            self.pending.pop(ev.get("id"), None)
            self.decisions.append(ev)
        elif t == "human_nudge":
            self.nudges += 1
        elif t == "alert":
            self.alerts.append(ev)
        elif t == "job_state":
            self.jobs[ev.get("job")] = ev.get("state")
        elif t == "tool_call":
            self.tool_calls += 1
        elif t == "submitted":
            self.submitted = ev.get("checkpoint")

    def effective_state(self, daemon_alive: bool) -> str:
        """A run whose daemon died without writing a final state has crashed."""
        if self.state not in TERMINAL_STATES and not daemon_alive and self.events:
            return "crashed"
        return self.state


def summarize(events) -> RunSummary:
    s = RunSummary()
    for ev in events:
        s.feed(ev)
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
