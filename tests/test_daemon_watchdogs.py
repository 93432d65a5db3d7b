"""The daemon runs the watchdogs over its own event stream: an alert lands in the log and in
the agent's next tool result, and can pause the run by policy."""

from __future__ import annotations

import asyncio

from conftest import cli, events_of

from agent_core.daemon.supervisor import Supervisor
from agent_core.record.runs import new_run


def test_nan_metric_raises_an_alert_for_the_person_and_the_agent(tmp_path):
    run = new_run(tmp_path, {"task": "arithmetic", "model": "tiny", "agent": "playbook", "auto_pause_on": "high"})
    sup = Supervisor(run)
    for step in range(1, 6):
        sup.log.emit("metric", job="job1", step=step, values={"loss": 2.0 - step * 0.1, "learning_rate": 1e-3})
    sup.log.emit("metric", job="job1", step=6, values={"loss": float("nan"), "learning_rate": 1e-3})
    sup.alerts.flush()
    alerts = [e for e in events_of(run.path) if e["type"] == "alert"]
    assert [a["rule"] for a in alerts] == ["nan"] and alerts[0]["job"] == "job1"
    text = sup.alerts.take_for_agent()
    assert "WATCHDOG ALERTS" in text and "nan" in text
    assert sup.alerts.take_for_agent() == ""  # told once
    assert sup.pause_requested, "a high-severity alert pauses the run when the policy says so"
    sup.log.close()


def test_wait_wakes_on_an_alert(tmp_path):
    run = new_run(tmp_path, {"task": "arithmetic", "model": "tiny", "agent": "playbook"})
    sup = Supervisor(run)

    async def scenario():
        from agent_core.training.jobs import Job
        from agent_core.agents.tools import Toolbox

        job = Job("job1", {}, run.path / "jobs" / "job1.json", run.path)
        job.state = "running"
        sup.jobs.jobs["job1"] = job
        asyncio.get_running_loop().call_later(
            0.3, lambda: sup.alerts.for_agent.append({"rule": "stall", "severity": "high", "message": "no metrics"})
        )
        return await Toolbox(sup.tool_ctx).t_wait(job="job1", timeout_s=30)

    out = asyncio.run(scenario())
    assert out.data["woke"] == "a watchdog alert"
    sup.log.close()


def test_check_metrics_from_the_main_cli(tmp_path):
    trace = tmp_path / "metrics.jsonl"
    import json

    lines = [
        {
            "seq": i,
            "ts": f"2026-01-01T00:00:{i:02d}.000Z",
            "type": "metric",
            "job": "j",
            "step": i,
            "values": {"loss": 1.0 / i, "learning_rate": 1e-3},
        }
        for i in range(1, 8)
    ]
    lines.append(
        {
            "seq": 8,
            "ts": "2026-01-01T00:00:08.000Z",
            "type": "metric",
            "job": "j",
            "step": 8,
            "values": {"loss": float("inf"), "learning_rate": 1e-3},
        }
    )
    trace.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    proc = cli(tmp_path, "check", "metrics", str(trace), check=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout.splitlines()[0])["rule"] == "nan"
