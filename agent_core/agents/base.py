"""The agent interface the supervisor loop drives."""
from __future__ import annotations

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


class Agent:
    """Subclasses implement next_action. Calls happen on a worker thread; one at a time."""

    def __init__(self, brief: Brief):
        self.brief = brief
        self.nudges: list[str] = []

    def on_nudge(self, text: str) -> None:
        self.nudges.append(text)

    def next_action(self, last: ToolOutcome | None) -> Action:
        raise NotImplementedError
