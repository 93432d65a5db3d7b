"""A post-training task: what the agent must make the base model better at, the data (generated or
files) and how answers are scored. Where tasks come from: the package docstring."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_core.training.tasks.scorers import scorer_spec


@dataclass
class Task:
    name: str
    description: str
    base_model: str
    level: int
    n_train: int
    n_dev: int
    n_test: int
    seed: int
    scorer: str = "exact"
    scorer_pattern: str | None = None  # regex scorer
    scorer_file: str | None = None  # python scorer (absolute path of the task's file)
    scorer_options: dict[str, Any] = field(default_factory=dict)  # numeric, choice, code (scorers.py)
    budget_s: float | None = None
    data: dict[str, str] = field(default_factory=dict)  # file tasks: split -> absolute path
    source: str | None = None  # the task file
    # How prompts are rendered and answers generated, for training, evaluation, sampling and the
    # harness alike: `template` None = the base model's own chat template when it has one, else
    # the plain format; `generation`: max_new_tokens, stop (list of strings), temperature, top_p.
    template: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name if self.data or not self.level else f"{self.name}:{self.level}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scorer_spec(self, hidden_dir: str | Path | None = None) -> dict[str, Any]:
        """The evaluate worker's "scorer" field; a python scorer is read from hidden_dir."""
        return scorer_spec(self, hidden_dir)
