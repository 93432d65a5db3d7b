"""One set of metric names (agent_core.record.metrics): what the worker writes is what the
watchdogs, the chart and REPORT.md read, under its stable name alone or with its aliases."""

from __future__ import annotations

import json

from agent_core.daemon.report import build_report
from agent_core.record import metrics
from agent_core.record.events import EventLog
from agent_core.record.runs import new_run
from screens.widgets.chart import CHART_KINDS, extra_points, metric_point


def test_report_draws_one_reward_curve_whatever_names_the_job_logged(tmp_path):
    run = new_run(tmp_path, {"task": "arithmetic", "model": "tiny", "agent": "playbook"})
    (run.jobs / "g1.json").write_text(json.dumps({"method": "grpo"}))
    log = EventLog(run.events_path)
    log.emit("job_state", job="g1", state="running")
    for step in range(1, 11):  # as the worker writes a GRPO step: reward_mean and its alias reward
        r = step / 10
        log.emit("metric", job="g1", step=step, values={"loss": 0.1, "reward_mean": r, "reward": r, "kl": 0.01})
    log.emit("job_state", job="g1", state="finished")
    log.close()
    jobs = build_report(run).split("## Training jobs")[1]
    curves = jobs.split("```")[1].splitlines()
    assert [line.split()[0] for line in curves if line.strip()] == ["loss", "reward", "kl"]
    assert "| step | loss | reward | learning_rate |" not in jobs  # no learning_rate logged
    assert "| step | loss | reward |" in jobs and "reward_mean" not in jobs


def test_chart_reads_the_stable_names():
    only_stable = {"type": "metric", "job": "g1", "step": 3, "values": {"reward_mean": 0.5, "learning_rate": 1e-5}}
    assert metric_point(only_stable) == ("g1", metrics.REWARD_MEAN, 0.5, 3)  # a reward-only job is drawn
    assert dict(extra_points(only_stable["values"])) == {"reward": 0.5, "lr": 1e-5}
    for kind, (_, keys) in CHART_KINDS.items():
        assert all(isinstance(k, str) and k for k in keys), kind
