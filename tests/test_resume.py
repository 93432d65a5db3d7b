"""Resume after SIGKILL mid-training: the run finishes from the last checkpoint with a submission
and a test score; the log shows the interruption. The same finished run then feeds the memory
digest of a second run and its REPORT.md (one expensive run for all three)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import cli, events_of, last_state, wait_for, wait_run_end, workers_of, write_script

from agent_core.daemon.launch import build_config, launch
from agent_core.daemon.memory import read_ledger

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

STEPS = 60  # the tiny model does a step in ~50 ms: long enough to kill it mid-way
SAVE_STEPS = 10


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    home = tmp_path_factory.mktemp("resume") / "home"
    tmp = home.parent
    agent = write_script(
        tmp / "steps.json",
        [
            {"say": "Training a small SFT job."},
            {
                "tool": "start_training",
                "args": {"dataset": "train", "max_steps": STEPS, "batch_size": 16, "learning_rate": 0.001},
            },
            {"tool": "wait", "args": {"job": "job1", "timeout_s": 600}},
            {"tool": "wait", "args": {"job": "job1", "timeout_s": 600}},  # a watchdog alert may wake the first
            {"tool": "note", "args": {"text": "SFT lr 1e-3 for 60 steps survived a crash"}},
            {"tool": "submit", "args": {"checkpoint": "job1"}},
        ],
    )
    os.environ["TINKER_TUI_HOME"] = str(home)
    try:
        cfg = build_config(agent=agent, budget="30m", home=home)
        cfg["save_steps"] = SAVE_STEPS
        run = launch(home, cfg)
        ckpt = wait_for(
            lambda: [e for e in events_of(run.path) if e["type"] == "checkpoint" and e["job"] == "job1"],
            240,
            0.05,
            what="job1's first intermediate checkpoint",
        )
        cli(home, "nudge", run.id, "keep the learning rate constant")
        pid = run.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        for worker in workers_of(run):
            os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not run.is_live(), 10, what="the daemon gone")
        crashed = json.loads(cli(home, "show", run.id, "--json").stdout)["state"]
        killed_at = max(e["step"] for e in events_of(run.path) if e["type"] == "metric" and e["job"] == "job1")
        out = cli(home, "resume", run.id).stdout
        again = cli(home, "resume", run.id, check=False)  # the new daemon is alive
        wait_run_end(run, 300, what="the resumed run's end")
        ended_again = cli(home, "resume", run.id, check=False)
        second = write_script(tmp / "second.json", [{"say": "hello"}])
        run2 = launch(home, build_config(agent=second, budget="5m", home=home))
        wait_for(lambda: last_state(run2.path) in ("finished", "failed", "crashed"), 60, what="the second run")
    finally:
        os.environ.pop("TINKER_TUI_HOME", None)
    return {
        "home": home,
        "run": run,
        "run2": run2,
        "crashed": crashed,
        "first_ckpt": ckpt[0],
        "killed_at": killed_at,
        "resume_out": out,
        "again": again,
        "ended_again": ended_again,
    }


def test_resume_after_sigkill_finishes_from_the_last_checkpoint(resumed):
    run = resumed["run"]
    assert resumed["crashed"] == "crashed"
    assert "resumed" in resumed["resume_out"]
    assert resumed["again"].returncode == 2 and "nothing to resume" in resumed["again"].stderr
    assert resumed["ended_again"].returncode == 2 and "has ended" in resumed["ended_again"].stderr
    events = events_of(run.path)
    assert last_state(run.path) == "finished"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # one log, appended
    # the interruption and the resume are in the log
    [interrupted] = [e for e in events if e["type"] == "job_state" and e["job"] == "job1" and e["state"] == "failed"]
    assert interrupted["detail"].startswith("interrupted")
    [back] = [e for e in events if e["type"] == "run_state" and e.get("resumed") and e["state"] == "running"]
    assert "job1 restarts as job2 from its step-" in back["note"] and back["aliases"] == {"job1": "job2"}
    assert interrupted["seq"] < back["seq"]
    # job2 continues job1 from its newest complete checkpoint, for the remaining steps
    spec = json.loads((run.jobs / "job2.json").read_text())
    step = spec["resumed_from"]["step"]
    # the newest one on disk: the worker, told by its dying daemon to stop, may have saved one more
    # (at the step it stopped on) after the last metric the daemon logged
    complete = [p for p in (run.checkpoints / "job1").glob("step-*") if (p / "lineage.json").is_file()]
    newest = max(int(p.name.split("-")[1]) for p in complete)
    assert spec["resumed_from"]["job"] == "job1" and step == newest
    assert SAVE_STEPS <= step <= resumed["killed_at"] + SAVE_STEPS and step < STEPS
    assert spec["init_from"].endswith(f"job1/step-{step}") and spec["max_steps"] == STEPS - step
    assert [e["state"] for e in events if e["type"] == "job_state" and e["job"] == "job2"][-1] == "finished"
    # the script was replayed, not re-run: one start_training; its wait on job1 reached job2
    calls = [e for e in events if e["type"] == "tool_call"]
    assert [c["tool"] for c in calls].count("start_training") == 1
    assert len({c["id"] for c in calls}) == len(calls)  # call ids go on after the resume
    waits = [c for c in calls if c["tool"] == "wait"]
    results = {e["id"]: e for e in events if e["type"] == "tool_result"}
    assert waits[-1]["seq"] > back["seq"] and "job ended: job2 finished" in results[waits[-1]["id"]]["summary"]
    # submitted and scored by the harness
    [sub] = [e for e in events if e["type"] == "submitted"]
    assert sub["checkpoint"] == "job2"
    test = {e["role"]: e["value"] for e in events if e["type"] == "score" and e["split"] == "test"}
    assert set(test) == {"base", "submitted"}
    # the budget carried over: wall clock from before the kill is still counted
    budgets = [e for e in events if e["type"] == "budget"]
    before = [b for b in budgets if b["seq"] < back["seq"]]
    assert before and budgets[-1]["spent"]["wall_s"] > before[-1]["spent"]["wall_s"]


def test_the_next_run_starts_with_a_digest_of_the_first(resumed):
    run, run2 = resumed["run"], resumed["run2"]
    [entry] = [e for e in read_ledger(resumed["home"]) if e["run"] == run.id]
    assert entry["task"] == "arithmetic" and entry["base_model"] == "tiny"
    assert entry["test"]["checkpoint"] == "job2" and "submitted" in entry["test"]
    assert [j["job"] for j in entry["jobs"]] == ["job1", "job2"] and entry["jobs"][1]["learning_rate"] == 0.001
    assert entry["notes"] == ["SFT lr 1e-3 for 60 steps survived a crash"]
    assert {"kind": "nudge", "text": "keep the learning rate constant"} in entry["interventions"]
    [brief] = [e for e in events_of(run2.path) if e["type"] == "brief"]
    assert run.id in brief["memory"] and "survived a crash" in brief["memory"]
    assert f"{entry['test']['submitted']:.1%}" in brief["memory"]
    assert "keep the learning rate constant" in brief["memory"]
    assert len(brief["memory"]) <= 1500
    # a run that made no tool call is not worth remembering
    assert not any(e["run"] == run2.id for e in read_ledger(resumed["home"]))


def test_report_of_the_resumed_run(resumed):
    run = resumed["run"]
    text = (run.path / "REPORT.md").read_text()
    test = {e["role"]: e["value"] for e in events_of(run.path) if e["type"] == "score" and e["split"] == "test"}
    assert f"base model **{test['base']:.1%}** → submitted `job2` **{test['submitted']:.1%}**" in text
    assert "Resumed** 1 time(s)" in text
    assert "### job1: failed — interrupted" in text and "continues job1 from step" in text
    assert "keep the learning rate constant" in text.split("## Human interventions")[1].split("##")[0]
    assert "survived a crash" in text.split("## The agent's notes")[1]
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")  # the loss sparkline
    assert "device-hours" in text  # no GPU here
    # regenerable from the log
    (run.path / "REPORT.md").unlink()
    assert "wrote" in cli(resumed["home"], "report", run.id).stdout
    assert (run.path / "REPORT.md").read_text() == text


def test_a_pending_approval_is_asked_again_after_a_resume(home, tmp_path):
    """Killed while a flagged call waited for the person: the old request is closed in the log,
    the replayed script asks again under a new id, and the run goes on once approved."""
    agent = write_script(
        tmp_path / "s.json",
        [
            {"say": "first"},
            {"tool": "list_datasets", "args": {}},
            {"tool": "load_dataset", "args": {"name": "hf:x/more"}},
            {"say": "after the decision"},
        ],
    )
    run = launch(home, build_config(agent=agent, budget="5m", home=home))
    wait_for(lambda: last_state(run.path) == "waiting_approval", 60, what="the approval request")
    os.kill(run.daemon_pid(), signal.SIGKILL)
    wait_for(lambda: not run.is_live(), 10, what="the daemon gone")
    cli(home, "resume", run.id)
    wait_for(
        lambda: len([e for e in events_of(run.path) if e["type"] == "approval_request"]) == 2,
        60,
        what="the request asked again",
    )
    cli(home, "approve", run.id, "a2")
    wait_for(lambda: last_state(run.path) in ("finished", "failed", "crashed"), 60, what="the end")
    events = events_of(run.path)
    decisions = [(e["id"], e["decision"], e["by"]) for e in events if e["type"] == "approval_decision"]
    assert decisions == [("a1", "veto", "supervisor"), ("a2", "approve", "person")]
    calls = [e["tool"] for e in events if e["type"] == "tool_call"]
    assert calls == ["list_datasets", "load_dataset", "load_dataset"]  # list_datasets was not run again
    assert [e["text"] for e in events if e["type"] == "agent_message"] == ["first", "after the decision"]
    assert last_state(run.path) == "finished"


def test_the_playbook_skips_the_steps_it_already_did(tmp_path):
    """Replay (no daemon): the playbook is fed its logged outcomes and its first live action is
    the wait on the job it had started."""
    import asyncio

    from agent_core.agents import Brief, Call
    from agent_core.agents.playbook import PlaybookAgent
    from agent_core.daemon.supervisor import Supervisor
    from agent_core.record.events import EventLog
    from agent_core.daemon.resume import LogState, replay
    from agent_core.agents.tools import Toolbox
    from agent_core.record.runs import new_run

    run = new_run(tmp_path, {"task": "arithmetic", "model": "tiny", "agent": "playbook"})
    (run.workspace / "data").mkdir()
    for split in ("train", "dev"):
        (run.workspace / "data" / f"{split}.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n' * 5)
    log = EventLog(run.events_path)
    # as the daemon logs them: the summary for the reader, the outcome's facts for a resume
    steps = [
        ("list_datasets", {}, "train: 5 rows", {}),
        ("load_dataset", {"name": "train", "limit": 3}, "train: 5 rows", {"rows": 5, "malformed": 0}),
        ("evaluate", {"checkpoint": "base", "split": "dev"}, "base on dev: 0.0% exact match (0/5)", {"score": 0.0}),
        ("start_training", {"dataset": "train"}, "job1 started: SFT on train from base", {"job": "job1"}),
    ]
    log.emit("agent_message", text="plan")
    for i, (tool, args, summary, facts) in enumerate(steps, 1):
        log.emit("tool_call", id=f"c{i}", tool=tool, args=args)
        if tool == "evaluate":
            log.emit("score", split="dev", value=0.0, checkpoint="base", role="agent")
        log.emit("tool_result", id=f"c{i}", ok=True, summary=summary, data=facts)
    log.emit("tool_call", id="c5", tool="wait", args={"job": "job1", "timeout_s": 900})
    log.close()
    sup = Supervisor(run)
    agent = PlaybookAgent(
        Brief(task="arithmetic", description="Add.", base_model="tiny", budget_s=None, recipe={"learning_rate": 1e-3})
    )
    action = asyncio.run(replay(Toolbox(sup.tool_ctx), agent, LogState.read(run)))
    sup.log.close()
    assert isinstance(action, Call) and action.tool == "wait" and action.args["job"] == "job1"
