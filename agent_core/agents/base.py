"""The agent interface the supervisor loop drives."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Brief:
    """What every agent is told at the start of a run."""

    task: str
    description: str
    base_model: str
    budget_s: float | None
    datasets: list[str] = field(default_factory=list)
    recipe: dict = field(default_factory=dict)  # suggested hyperparameters, playbook uses them
    # every budget limit (agent_core/oversight/budget.py): wall_s, gpu_h, tokens, usd; None = no limit
    limits: dict = field(default_factory=dict)
    memory: str = ""  # a short digest of relevant earlier runs (agent_core/daemon/memory.py)
    prior: dict = field(default_factory=dict)  # the best earlier config for this task and base model, by dev


@dataclass
class Say:
    text: str


@dataclass
class Call:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Done:
    text: str = ""


Action = Say | Call | Done


@dataclass
class ToolOutcome:
    """What the agent sees after a tool call: ok, a compact summary and structured data."""

    tool: str
    ok: bool
    summary: str
    data: dict = field(default_factory=dict)
    denied: bool = False  # blocked by policy or vetoed by the person

    def facts(self) -> dict:
        """What the log keeps of `data` (tool_result's `data`): its numbers, flags and short
        strings (a job id, a state, a score), not file contents or lists."""
        return {
            k: v
            for k, v in self.data.items()
            if v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 200)
        }


class Agent:
    """Subclasses implement next_action. Calls happen on a worker thread; one at a time."""

    def __init__(self, brief: Brief):
        self.brief = brief
        self.nudges: list[str] = []

    usage = None  # an LLM agent's cumulative providers.Usage (tokens for the budget)
    model: str | None = None  # the LLM behind the agent, for its price (None: no LLM)
    # On resume a deterministic agent is replayed over the logged outcomes; an agent with its own
    # memory (the LLM agent) restores its transcript instead (`restore`).
    restores_transcript = False

    def cancel(self) -> None:
        """End a request or a retry backoff in flight (the run is stopping). Called from the
        daemon's loop thread."""

    def restore(self, entries: list[dict], note: str, elapsed_s: float = 0.0) -> None:
        raise NotImplementedError(f"{type(self).__name__} is replayed, not restored")

    def control(self, req: dict, gone: threading.Event) -> dict:
        """A control command for the agent itself (record/control.py's AGENT_COMMANDS: an outside
        agent's calls). Called on a worker thread; may block until the call's outcome. `gone` is
        set when the caller hangs up before the reply."""
        return {"ok": False, "error": "this run's agent takes no outside calls (start the run with --agent external)"}

    def call_abandoned(self) -> bool:
        """Whether the call the daemon runs now was given up by its outside caller (a parked
        `wait` then returns at once)."""
        return False

    def on_nudge(self, text: str) -> None:
        self.nudges.append(text)

    def on_budget_spent(self) -> None:
        """The budget is spent: submit at the next chance (the daemon also says so in the next
        tool result). Called from the daemon's loop thread."""

    def next_action(self, last: ToolOutcome | None) -> Action:
        raise NotImplementedError
