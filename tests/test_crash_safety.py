"""What the daemon acknowledged survives a kill -9: an acknowledged stop is honoured by `resume`
(the run does not train on), an acknowledged pause stays, a nudge reaches the resumed agent, a
run killed before its agent started resumes and does its work, and no worker outlives its
daemon."""

from __future__ import annotations

import pytest
import os
import signal
import time

from conftest import cli, events_of, last_state, wait_for, workers_of, write_script

from agent_core.record.events import EventLog
from agent_core.daemon.launch import build_config
from agent_core.record.runs import RunDir, list_runs, new_run

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

LONG_JOB = {
    "tool": "start_training",
    "args": {"dataset": "train", "max_steps": 5000, "batch_size": 8, "learning_rate": 0.001},
}
SHORT_JOB = {
    "tool": "start_training",
    "args": {"dataset": "train", "max_steps": 8, "batch_size": 8, "learning_rate": 0.001},
}


def _kill(run: RunDir) -> None:
    os.kill(run.daemon_pid(), signal.SIGKILL)
    wait_for(lambda: not run.is_live(), 10, what="the daemon gone")


def _metrics(run: RunDir, job: str) -> list[dict]:
    return [e for e in events_of(run.path) if e["type"] == "metric" and e["job"] == job]


def test_an_acknowledged_pause_then_stop_survive_crashes_and_no_worker_outlives_the_daemon(home, tmp_path):
    agent = write_script(
        tmp_path / "steps.json",
        [
            LONG_JOB,
            {"tool": "wait", "args": {"job": "job1"}},
            {"say": "after the wait"},
            {"tool": "submit", "args": {"checkpoint": "job1"}},
        ],
    )
    cli(home, "run", "--agent", agent, "--detach")
    [run] = list_runs(home)
    wait_for(lambda: len(_metrics(run, "job1")) >= 3, 120, what="job1 training")
    # a pause acknowledged while the agent is parked in wait (not paused yet) survives kill -9
    assert "pause: ok" in cli(home, "pause", run.id).stdout
    _kill(run)
    wait_for(lambda: not workers_of(run), 90, what="the workers dying with their daemon")
    cli(home, "resume", run.id)
    wait_for(lambda: last_state(run.path) == "paused", 60, what="the resumed run holding its pause")
    assert not any(e.get("text") == "after the wait" for e in events_of(run.path))
    # a stop acknowledged right before kill -9 is honoured: the run does not train on
    assert "stop: ok" in cli(home, "stop", run.id).stdout
    _kill(run)
    wait_for(lambda: not workers_of(run), 90, what="the workers dying with their daemon")
    steps = {e["job"]: e["step"] for e in events_of(run.path) if e["type"] == "metric"}
    cli(home, "resume", run.id)
    wait_for(lambda: last_state(run.path) in ("finished", "failed"), 120, what="the resumed run ending")
    events = events_of(run.path)
    final = [e for e in events if e["type"] == "run_state"][-1]
    assert final["state"] == "finished" and "stopped by the person" in final["reason"]
    assert {e["job"]: e["step"] for e in events if e["type"] == "metric"} == steps  # no step after the stop
    started = [e["job"] for e in events if e["type"] == "job_state" and e["state"] == "running"]
    assert len(started) <= 2 and not any(e["type"] == "submitted" for e in events)
    assert not workers_of(run)


def test_a_nudge_acknowledged_before_a_crash_reaches_the_resumed_agent(home, tmp_path):
    # the nudge wakes the first wait at once; the second one waits for the job
    agent = write_script(
        tmp_path / "steps.json",
        [
            SHORT_JOB,
            {"tool": "wait", "args": {"job": "job1"}},
            {"tool": "wait", "args": {"job": "job1"}},
            {"tool": "wait", "args": {"job": "job1"}},
            {"tool": "submit", "args": {"checkpoint": "job1"}},
        ],
    )
    cli(home, "run", "--agent", agent, "--detach")
    [run] = list_runs(home)
    wait_for(
        lambda: any(e["type"] == "tool_call" and e["tool"] == "wait" for e in events_of(run.path)),
        60,
        what="the agent parked in wait",
    )
    assert "nudge: ok" in cli(home, "nudge", run.id, "use the dev split to pick the checkpoint").stdout
    _kill(run)
    cli(home, "resume", run.id)
    wait_for(lambda: last_state(run.path) in ("finished", "failed"), 180, what="the resumed run ending")
    events = events_of(run.path)
    assert [e["text"] for e in events if e["type"] == "human_nudge"] == ["use the dev split to pick the checkpoint"]
    final = [e for e in events if e["type"] == "run_state"][-1]
    assert final["state"] == "finished"
    scores = {e["role"] for e in events if e["type"] == "score" and e.get("split") == "test"}
    assert scores == {"base", "submitted"}  # it did its work: trained, submitted, was scored


def test_a_run_killed_before_its_agent_started_resumes_and_does_its_work(home, tmp_path):
    agent = write_script(
        tmp_path / "steps.json",
        [SHORT_JOB, {"tool": "wait", "args": {"job": "job1"}}, {"tool": "submit", "args": {"checkpoint": "job1"}}],
    )
    # what a daemon killed right after its first event leaves: run.json and one `starting` event
    run = new_run(home, build_config(agent=agent, budget="30m", home=home))
    EventLog(run.events_path).emit("run_state", state="starting", pid=999999, config=run.config())
    cli(home, "resume", run.id)
    wait_for(lambda: last_state(run.path) in ("finished", "failed"), 180, what="the resumed run ending")
    events = events_of(run.path)
    assert [e for e in events if e["type"] == "run_state"][-1]["state"] == "finished"
    assert any(e["type"] == "brief" for e in events) and any(e["type"] == "hidden_installed" for e in events)
    scores = {e["role"] for e in events if e["type"] == "score" and e.get("split") == "test"}
    assert scores == {"base", "submitted"}
    time.sleep(0.1)
