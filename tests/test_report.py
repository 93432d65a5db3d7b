"""REPORT.md from a synthetic event log: scores against the base model, interventions, curves, budget."""

from __future__ import annotations

import json

from agent_core.record.events import EventLog
from agent_core.daemon.report import build_report, sparkline
from agent_core.record.runs import new_run


def test_sparkline_scales_and_downsamples():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▁▁▁"
    assert len(sparkline(list(range(1000)), width=40)) == 40
    assert sparkline([None, float("nan")]) == ""


def test_report_holds_what_a_person_asks_after_a_run(tmp_path):
    run = new_run(tmp_path, {"task": "arithmetic", "model": "tiny", "agent": "anthropic:claude-x"})
    (run.jobs / "job1.json").write_text(json.dumps({"method": "grpo", "learning_rate": 1e-5, "max_steps": 20}))
    log = EventLog(run.events_path)
    log.emit("run_state", state="starting")
    log.emit("brief", task="arithmetic", description="Add two numbers.", base_model="tiny")
    log.emit("agent_message", text="I will measure the base model first because I need a baseline.")
    log.emit("tool_call", id="c1", tool="evaluate", args={"checkpoint": "base"})
    log.emit("score", split="dev", value=0.12, checkpoint="base", role="agent")
    log.emit("tool_result", id="c1", ok=True, summary="base on dev: 12.0% exact match")
    log.emit("human_nudge", text="use a constant learning rate")
    log.emit("approval_request", id="a1", rule="outside_download", summary="download hf:x/y", details={})
    log.emit("approval_decision", id="a1", decision="veto", scope="once", reason="local data only", by="person")
    log.emit("job_state", job="job1", state="running")
    for step in range(1, 21):
        log.emit("metric", job="job1", step=step, values={"loss": 2.0 / step, "reward": step / 20})
    log.emit("job_state", job="job1", state="finished")
    log.emit("note", text="GRPO at lr 1e-5 lifted the reward steadily")
    log.emit(
        "budget",
        spent={"wall_s": 600.0, "gpu_h": 0.1, "tokens": 123456, "usd": 1.5},
        limits={"wall_s": 1800.0, "gpu_h": None, "tokens": None, "usd": 20.0},
        frac=0.333,
    )
    log.emit("submitted", checkpoint="job1")
    log.emit("score", split="test", value=0.1, checkpoint="base", role="base")
    log.emit("score", split="test", value=0.55, checkpoint="job1", role="submitted")
    log.emit("run_state", state="finished", reason="submitted job1")
    log.close()
    text = build_report(run)
    assert "**Task:** arithmetic — Add two numbers." in text and "**Agent:** anthropic:claude-x" in text
    assert "base model **10.0%** → submitted `job1` **55.0%** (+45.0%)" in text
    interventions = text.split("## Human interventions")[1].split("\n## ")[0]
    assert "**message** to the agent: use a constant learning rate" in interventions
    assert "**veto** (once, by person) [outside_download] download hf:x/y — reason: local data only" in interventions
    assert "| 10.0 min | 30.0 min |" in text and "123,456" in text and "$1.50 | $20.00" in text
    assert "device-hours" in text  # no host sample with a GPU
    jobs = text.split("## Training jobs")[1]
    assert "method grpo" in jobs and "reward ▁" in jobs and "loss █" in jobs  # loss falls, reward rises
    assert "first 2 min 0.1 last 0.1" in jobs
    did = text.split("## What the agent did and why")[1]
    assert "because I need a baseline" in did and '`evaluate({"checkpoint": "base"})` → ok' in did
    assert "lifted the reward steadily" in text.split("## The agent's notes")[1]
