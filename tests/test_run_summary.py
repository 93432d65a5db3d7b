"""The one log reducer (agent_core.record.summary.RunSummary): the CLI (`show --json`, `ls`),
the home screen's run index and the run screen's RunView (live, batched, and a replay seek)
fold the same events into the same run state."""

from __future__ import annotations

import json

from conftest_ui import make_run
from agent_core.record.events import read_events
from agent_core.record.summary import MAX_ALERTS, RunSummary, summarize
from screens.home import RunIndex
from screens.replay_log import SNAPSHOT_EVERY, ReplayLog
from screens.state import RunView
from tinker_tui.cli import main as cli_main

EVENTS = [
    {"type": "run_state", "state": "starting"},
    {"type": "run_state", "state": "running"},
    {"type": "agent_message", "text": "let me look"},
    {"type": "tool_call", "id": "c1", "tool": "list_files", "args": {}},
    {"type": "tool_result", "id": "c1", "ok": True, "summary": "3 files"},
    {"type": "approval_request", "id": "a1", "rule": "shell", "summary": "ls", "details": {}},
    {"type": "job_state", "job": "job1", "state": "queued"},
    {"type": "job_state", "job": "job1", "state": "running"},
    {"type": "metric", "job": "job1", "step": 1, "values": {"loss": 2.0}},
    {"type": "host_sample", "gpus": [], "cpu": 50, "memory": 1},
    {"type": "alert", "rule": "flat_loss", "severity": "warning", "message": "flat"},
    {"type": "score", "split": "dev", "value": 0.3, "job": "job1", "step": 1},
    {"type": "budget", "spent": {"usd": 1.5}, "limits": {"usd": 10}},
    {"type": "human_nudge", "text": "try a lower lr"},
    {"type": "approval_decision", "id": "a1", "decision": "approve", "scope": "once", "by": "cli"},
    {"type": "tool_call", "id": "c2", "tool": "train", "args": {}},
    {"type": "approval_request", "id": "a2", "rule": "network", "summary": "fetch", "details": {}},
    {"type": "job_state", "job": "job1", "state": "finished"},
    {"type": "submitted", "checkpoint": "job1/final"},
    {"type": "score", "split": "test", "role": "base", "value": 0.2, "checkpoint": "base"},
    {"type": "score", "split": "test", "role": "submitted", "value": 0.6, "checkpoint": "job1/final"},
]
SHARED = (
    "state",
    "reason",
    "count",
    "start_ts",
    "last_ts",
    "end_ts",
    "pending",
    "jobs",
    "scores",
    "score_before",
    "score_after",
    "submitted",
    "last_score",
    "last_test_score",
    "last_host",
    "budget",
    "alerts",
    "alert_count",
    "tool_calls",
    "nudges",
)


def fields(s: RunSummary) -> dict:
    return {k: getattr(s, k) for k in SHARED}


def test_every_reader_folds_the_same_run_state(tmp_path, capsys):
    for end in ("running", "finished"):  # mid-run: one approval waits; ended: none does
        home = tmp_path / end
        events = EVENTS + ([{"type": "run_state", "state": end, "reason": "done"}] if end == "finished" else [])
        run = make_run(home, "r1", events)
        logged = read_events(run.events_path)
        cli = summarize(logged)
        one, batched = RunView(), RunView()
        for ev in logged:
            one.apply(ev)
        batched.apply_batch(logged)
        replayed = ReplayLog.of_list(logged).state_at(len(logged)).view()
        assert fields(one) == fields(cli) == fields(batched)
        assert {k: v for k, v in fields(replayed).items() if k != "last_host"} == {
            k: v for k, v in fields(cli).items() if k != "last_host"
        }
        assert replayed.last_host == cli.last_host  # read back from the log: equal, not the same object

        assert cli_main(["--home", str(home), "show", "r1", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["state"] == cli.effective_state(False) == ("finished" if end == "finished" else "crashed")
        assert [p["id"] for p in shown["pending"]] == list(one.pending) == (["a2"] if end == "running" else [])
        assert (shown["score_before"], shown["score_after"], shown["submitted"]) == (0.2, 0.6, "job1/final")
        assert shown["jobs"] == one.jobs == {"job1": "finished"}
        assert shown["alerts"] == one.alert_count == 1 and shown["events"] == one.count == len(logged)
        assert shown["reason"] == one.reason == ("done" if end == "finished" else "")

        [row] = RunIndex().scan(home)
        assert row.state == one.state and row.pending == len(one.pending)
        assert (row.alerts, row.last_alert, row.score) == (one.alert_count, "flat_loss", "0.6 test")
        assert (one.tool_calls, one.nudges) == (2, 1)


def test_a_long_log_seeks_to_the_same_state_as_folding_it():
    events = []
    for i in range(3 * SNAPSHOT_EVERY + 7):
        kind = ("tool_call", "alert", "human_nudge", "agent_message", "job_state")[i % 5]
        events.append({"seq": i + 1, "ts": 1_750_000_000 + i, "type": kind, "job": f"j{i % 3}", "state": "running"})
    log = ReplayLog.of_list(events)
    for cut in (0, SNAPSHOT_EVERY - 1, 2 * SNAPSHOT_EVERY + 5, len(events)):
        assert fields(log.state_at(cut).view()) == fields(summarize(events[:cut]))
    assert len(summarize(events).alerts) == MAX_ALERTS


def test_a_new_state_after_an_end_reopens_the_run():
    s = summarize(
        [
            {"type": "run_state", "state": "crashed", "ts": 10},
            {"type": "run_state", "state": "running", "ts": 20},
        ]
    )
    assert (s.state, s.end_ts, s.terminal, s.effective_state(True)) == ("running", None, False, "running")
    assert s.effective_state(False) == "crashed"
