"""What the run screen knows about a run, as plain data (no widgets): `RunView`.

The folding of events into run state is `agent_core.record.summary.RunSummary` (the one
reducer the CLI and the home screen use too); `RunView` adds what only the screen needs: the
run's config (the status line's task, model, budget), kept across a replay's `restore`, and
the status line's `StatusInfo` made from both.
"""

from __future__ import annotations

from agent_core.record.events import parse_ts
from agent_core.record.runs import is_external
from agent_core.record.summary import MAX_ALERTS, STATE_TYPES, RunSummary
from screens.widgets.status import StatusInfo

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

    def status_info(self, run_id: str, now: float | None, daemon: bool | None, replay: dict | None) -> StatusInfo:
        """What the status line shows: the run's config, state, elapsed time up to `now` (None:
        up to the end or the last event), approvals waiting and the last spend."""
        cfg = self.config
        budget = cfg.get("budget_s")
        return StatusInfo(
            run_id=run_id,
            task=str(cfg.get("task", "") or ""),
            model=str(cfg.get("model", "") or ""),
            agent=str(cfg.get("agent", "") or ""),
            state=self.state,
            elapsed=self.elapsed(now),
            budget=float(budget) if isinstance(budget, (int, float)) else None,
            pending=len(self.pending),
            daemon=daemon,
            replay=replay,
            spend=self.budget,
            unsandboxed=bool(cfg.get("unsafe_no_sandbox")),
            external=is_external(cfg.get("agent")),
        )
