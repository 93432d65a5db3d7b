"""An agent whose steps come from outside the daemon's loop: a coding-agent CLI driven in-process
(agents/claude_code.py) or an outside MCP client (`tinker-tui mcp`, `--agent external`).

The outside calls `submit(action)` from its own thread; the daemon's loop takes the actions one at a
time through `next_action` (as it does for every agent: step boundary, pause, stop, gate, approvals)
and the outcome of a call goes back to the `submit` that is waiting for it, when the loop next asks
for an action. So a paused run holds the next tool call, and a stop releases every waiting caller
with None. A call that was running when the person paused finishes, and its result is handed back
on resume: the CLI cannot send the model a request while paused (its SDK tool calls have no
timeout). ExternalAgent hands results back as soon as they are logged instead: an outside client's
model is beyond our pause, so holding its result would only make its own tool timeout fire.

The person's nudges: an agent that cannot take them in its live session gets them at the head of
its next tool result (`NUDGE_PREFIX`).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from agent_core.agents.base import Action, Agent, Brief, Call, Done, ToolOutcome
from agent_core.agents.markers import SUPERVISOR_PREFIX


@dataclass
class _Step:
    action: Action
    gone: threading.Event | None = None  # set when its caller gives up (hangs up before the reply)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: ToolOutcome | None = None

    def given_up(self) -> bool:
        """Its caller gave up: never run if still queued (checked when the loop takes it, so a call
        that arrives already given up never runs); a running wait returns."""
        return self.gone is not None and self.gone.is_set()


class BridgeAgent(Agent):
    restores_transcript = True  # its memory is outside: a resumed run just goes on taking steps

    def __init__(self, brief: Brief):
        super().__init__(brief)
        self._inbox: queue.Queue[_Step | None] = queue.Queue()
        self._current: _Step | None = None  # the call the daemon is running
        self._closed = threading.Event()
        self._lock = threading.Lock()

    # -- the outside (any thread but the daemon's loop) ---------------------------------------
    def submit(self, action: Action, gone: threading.Event | None = None) -> ToolOutcome | None:
        """Hand the daemon one step. For a Call, wait for its outcome; None once the run is stopping
        or once `gone` is set (the caller gave up: the call is dropped if the daemon has not taken
        it yet, a `wait` it is parked in returns, anything else runs to its end)."""
        if self._closed.is_set():
            return None
        step = _Step(action, gone)
        self._inbox.put(step)
        if not isinstance(action, Call):
            return None
        while not step.done.wait(0.2):
            if self._closed.is_set() or step.given_up():
                return None
        return step.outcome

    def call_abandoned(self) -> bool:
        with self._lock:
            return self._current is not None and self._current.given_up()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def restore(self, entries: list[dict], note: str, elapsed_s: float = 0.0) -> None:
        """A resumed run: the outside keeps its own memory; it is told what the resume did."""
        self.on_nudge(note)

    # -- the daemon's side ----------------------------------------------------------------------
    def next_action(self, last: ToolOutcome | None) -> Action:
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            self._answer(current, last)
        while True:
            step = self._inbox.get()
            if step is None or self._closed.is_set():
                return Done("")
            with self._lock:
                if not step.given_up():
                    if isinstance(step.action, Call):
                        self._current = step
                    return step.action
            self.dropped(step.action)

    def _answer(self, step: _Step, outcome: ToolOutcome | None) -> None:
        """The outcome goes back to the waiting caller, with the person's messages at its head;
        a caller that gave up reads nothing, so the messages wait for the next call."""
        with self._lock:
            given_up = step.given_up()
        step.outcome = outcome if given_up else self._with_nudges(outcome)
        step.done.set()

    def dropped(self, action: Action) -> None:
        """A call its caller gave up on before the daemon took it: it never runs."""

    def _with_nudges(self, outcome: ToolOutcome | None) -> ToolOutcome | None:
        if outcome is None or not self.nudges:
            return outcome
        said = " ".join(f"{SUPERVISOR_PREFIX} {text}" for text in self.nudges)
        self.nudges = []
        return ToolOutcome(outcome.tool, outcome.ok, f"{said}\n\n{outcome.summary}", outcome.data, outcome.denied)

    def cancel(self) -> None:
        """The run is stopping: every waiting caller gets None, the loop gets Done."""
        self._closed.set()
        self._inbox.put(None)
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.done.set()
