"""The palette style (a `Palette` key) of each run state, job state and alert severity: the
one place the UI maps the record's state vocabularies (agent_core.record.events RUN_STATES,
JOB_STATES) to colours. A test checks every state of those constants has a style."""

from __future__ import annotations

__all__ = ["STATE_STYLE", "STATE_ENTRY_STYLE", "JOB_STATE_STYLE", "SEVERITY_STYLE"]

# A run state in the status line and the home screen's table (unknown states: "muted").
STATE_STYLE = {
    "starting": "risk-low",
    "running": "ok",
    "paused": "risk-medium",
    "waiting_approval": "risk-medium",
    "stopping": "risk-medium",
    "finished": "ok",
    "failed": "risk-high",
    "crashed": "risk-high",
}
# A run_state entry in the transcript: a start is an ordinary step there (unknown states: "ok").
STATE_ENTRY_STYLE = {**STATE_STYLE, "starting": "ok"}
# A training job's state in the jobs pane (unknown states: "muted").
JOB_STATE_STYLE = {
    "queued": "risk-low",
    "running": "ok",
    "stopping": "muted",
    "stopped": "muted",
    "finished": "muted",
    "failed": "risk-high",
}
# An alert's severity (transcript, alerts pane; unknown severities: "risk-low").
SEVERITY_STYLE = {
    "critical": "risk-high",
    "error": "risk-high",
    "high": "risk-high",
    "warning": "risk-medium",
    "warn": "risk-medium",
    "medium": "risk-medium",
}
