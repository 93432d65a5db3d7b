"""The offline demo end to end: `tinker-tui demo --headless` trains the tiny model and wins."""
from __future__ import annotations

import json

from conftest import cli, events_of


def test_demo_headless_improves_the_hidden_test_score(home):
    proc = cli(home, "demo", "--headless", timeout=540)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "finished"
    assert result["score_after"] > result["score_before"]
    assert result["submitted"]
    events = events_of(home / "runs" / result["run"])
    assert result["events"] == len(events)
    types = {e["type"] for e in events}
    assert {"run_state", "agent_message", "tool_call", "tool_result", "metric", "job_state",
            "score", "host_sample", "approval_request", "approval_decision"} <= types
    losses = [e["values"]["loss"] for e in events if e["type"] == "metric" and "loss" in e["values"]]
    assert len(losses) >= 5 and losses[-1] < losses[0]
    # The headless demo settles its one flagged action (an outside download) with a veto.
    [decision] = [e for e in events if e["type"] == "approval_decision"]
    assert decision["decision"] == "veto"
    # The hidden split never went through a tool.
    assert not any("hidden" in json.dumps(e.get("args", {})) for e in events if e["type"] == "tool_call")
