"""What the run screen knows about a run, as plain data (no widgets): `RunView`.

The folding of events into run state is `agent_core.record.summary.RunSummary` (the one
reducer the CLI and the home screen use too); `RunView` adds what only the screen needs: the
run's config (the status line's task, model, budget), kept across a replay's `restore`.
"""

from __future__ import annotations

from agent_core.record.events import parse_ts
from agent_core.record.summary import MAX_ALERTS, STATE_TYPES, RunSummary

__all__ = ["RunView", "STATE_TYPES", "MAX_ALERTS", "parse_ts"]


class RunView(RunSummary):
    """RunSummary of the events seen so far, plus the run's config."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__()
        self.config = config or {}

    def restore(self, other: RunSummary) -> None:
        """Take over another view's state (keeps this view's config)."""
        config = self.config
        super().restore(other)
        self.config = config
