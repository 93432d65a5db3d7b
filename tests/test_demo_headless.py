"""The offline demo end to end: `tinker-tui demo --headless` trains the tiny model and wins.

This is also the check on the demo recipe (DEMO_TASK with tasks.sft_recipe): from ~0 to at least
90% exact match on the hidden test split, on 2 CPU cores, within 5 minutes."""

from __future__ import annotations

import pytest
import json
import time

from conftest import cli, events_of

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


def test_demo_headless_improves_the_hidden_test_score(home):
    t0 = time.monotonic()
    proc = cli(home, "demo", "--headless", timeout=540)
    seconds = time.monotonic() - t0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"demo: hidden test exact match {result['score_before']} -> {result['score_after']} in {seconds:.0f}s")
    assert result["state"] == "finished"
    assert result["score_before"] < 0.05
    assert result["score_after"] >= 0.9, result
    assert result["submitted"]
    events = events_of(home / "runs" / result["run"])
    assert result["events"] == len(events)
    types = {e["type"] for e in events}
    assert {
        "run_state",
        "agent_message",
        "tool_call",
        "tool_result",
        "metric",
        "job_state",
        "score",
        "host_sample",
        "approval_request",
        "approval_decision",
    } <= types
    losses = [e["values"]["loss"] for e in events if e["type"] == "metric" and "loss" in e["values"]]
    assert len(losses) >= 5 and losses[-1] < losses[0]
    # The headless demo settles its one flagged action (an outside download) with a veto.
    [decision] = [e for e in events if e["type"] == "approval_decision"]
    assert decision["decision"] == "veto"
    # The hidden split never went through a tool.
    assert not any("hidden" in json.dumps(e.get("args", {})) for e in events if e["type"] == "tool_call")
