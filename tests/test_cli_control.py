"""The CLI verbs against a real detached daemon, driven by `--agent script:` runs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from conftest import ENDED, ROOT, cli, events_of, last_state, wait_for, wait_run_end, write_script

from agent_core.record.runs import RunDir, RunNotFound, new_run, resolve_run
from tinker_tui.cli import CliError, parse_budget

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

FLAGGED = {"tool": "load_dataset", "args": {"name": "hf:someone/more-arithmetic"}}


def start(home, tmp_path, steps, *extra) -> RunDir:
    agent = write_script(tmp_path / "steps.json", steps)
    out = cli(home, "run", "--agent", agent, "--detach", *extra).stdout
    run_id = out.split()[1]
    return RunDir(home / "runs" / run_id)


def wait_state(run: RunDir, *states, timeout=60):
    if set(states) <= set(ENDED):
        return wait_run_end(run, timeout, states, what=f"state in {states}")
    return wait_for(lambda: last_state(run.path) in states, timeout, what=f"state in {states}")


def test_parse_budget():
    assert parse_budget("30m") == 1800
    assert parse_budget("10h") == 36000
    assert parse_budget("1h30m") == 5400
    assert parse_budget("90") == 90
    with pytest.raises(CliError):
        parse_budget("soon")


def test_resolve_run_by_prefix_suffix_and_latest(tmp_path):
    a = new_run(tmp_path, {"task": "t"})
    b = new_run(tmp_path, {"task": "t"})
    assert resolve_run(tmp_path, None) == b
    assert resolve_run(tmp_path, a.id) == a
    assert resolve_run(tmp_path, a.id.rsplit("-", 1)[1]) == a
    with pytest.raises(RunNotFound):
        resolve_run(tmp_path, "nope")
    if a.id[:8] == b.id[:8]:
        with pytest.raises(RunNotFound, match="ambiguous"):
            resolve_run(tmp_path, a.id[:8])


def test_a_launched_run_is_live_as_soon_as_launch_returns(home, tmp_path):
    """Whoever follows a run it just launched (`run --headless`, the UI) never takes the starting
    daemon for a dead one: its pid file is there, whole, before its socket."""
    from agent_core.daemon.launch import build_config, launch

    agent = write_script(tmp_path / "steps.json", [{"say": "start"}, FLAGGED])
    run = launch(home, build_config(agent=agent, budget="5m", home=home))
    assert run.is_live() and run.socket_path.exists()
    assert not list(run.path.glob(".daemon.pid*")), "no staged pid file left behind"
    cli(home, "stop", run.id)
    wait_state(run, "finished")
    assert not run.is_live()


def test_flagged_action_waits_and_veto_reason_reaches_the_agent(home, tmp_path):
    run = start(home, tmp_path, [{"say": "start"}, FLAGGED, {"say": "after the decision"}])
    wait_state(run, "waiting_approval")
    assert stat.S_IMODE(os.stat(run.socket_path).st_mode) == 0o600
    shown = json.loads(cli(home, "show", run.id, "--json").stdout)
    assert shown["state"] == "waiting_approval"
    [pending] = shown["pending"]
    assert pending["rule"] == "outside_download"
    # Nothing happens while the decision waits.
    assert not any(e["type"] == "agent_message" and e["text"] == "after the decision" for e in events_of(run.path))
    out = cli(home, "veto", run.id[-4:], pending["id"], "--reason", "use the local data only").stdout
    assert "veto: ok" in out
    wait_state(run, "finished", timeout=120)
    events = events_of(run.path)
    [decision] = [e for e in events if e["type"] == "approval_decision"]
    assert decision["decision"] == "veto" and decision["reason"] == "use the local data only"
    [result] = [e for e in events if e["type"] == "tool_result" and e["id"] == pending["details"]["call"]]
    assert not result["ok"] and "use the local data only" in result["summary"]
    assert any(e["type"] == "agent_message" and e["text"] == "after the decision" for e in events)
    # Finished runs cannot be controlled, and say so.
    proc = cli(home, "pause", run.id, check=False)
    assert proc.returncode == 2 and "not running" in proc.stderr


def test_the_server_decides_who_decided(home, tmp_path):
    """A request's own "by" is ignored: whatever reaches the control socket is the person."""
    from agent_core.record.control import send_command

    run = start(home, tmp_path, [FLAGGED, {"say": "done"}])
    wait_state(run, "waiting_approval")
    reply = send_command(run.socket_path, {"cmd": "approve", "id": None, "scope": "once", "by": "--approve-flagged"})
    assert reply["ok"], reply
    wait_state(run, "finished", timeout=120)
    [decision] = [e for e in events_of(run.path) if e["type"] == "approval_decision"]
    assert decision["decision"] == "approve" and decision["by"] == "person"


def test_pause_resume_nudge_and_approve_from_the_cli(home, tmp_path):
    run = start(home, tmp_path, [FLAGGED, {"say": "step after approval"}, FLAGGED, {"say": "done"}])
    wait_state(run, "waiting_approval")
    assert "pause: ok" in cli(home, "pause").stdout  # no RUN: the latest run
    assert "nudge: ok" in cli(home, "nudge", "look at the dev split first").stdout
    cli(home, "approve", "--session")  # no ID: the oldest pending
    wait_state(run, "paused")
    events = events_of(run.path)
    assert not any(e.get("text") == "step after approval" for e in events), "pause must hold at the boundary"
    assert any(e["type"] == "human_nudge" and e["text"] == "look at the dev split first" for e in events)
    cli(home, "resume", run.id)
    wait_state(run, "finished", timeout=120)
    events = events_of(run.path)
    decisions = [e for e in events if e["type"] == "approval_decision"]
    # The second identical request was approved by the session rule, without waiting.
    assert [d["scope"] for d in decisions] == ["session", "session"]
    assert decisions[1]["by"] == "session rule"
    assert any(e.get("text") == "step after approval" for e in events)
    states = [e["state"] for e in events if e["type"] == "run_state"]
    assert states[:4] == ["starting", "running", "waiting_approval", "running"]
    assert "paused" in states and states[-1] == "finished"


def test_stop_ends_a_waiting_run(home, tmp_path):
    run = start(home, tmp_path, [FLAGGED, {"say": "never said"}])
    wait_state(run, "waiting_approval")
    cli(home, "stop", run.id)
    wait_state(run, "finished", timeout=120)
    events = events_of(run.path)
    assert not any(e.get("text") == "never said" for e in events)
    [dec] = [e for e in events if e["type"] == "approval_decision"]
    assert dec["decision"] == "veto" and dec["by"] == "supervisor"
    assert not run.socket_path.exists() and not run.pid_path.exists()


def test_malformed_calls_and_escapes_do_not_stop_the_run(home, tmp_path):
    steps = [
        {"tool": "no_such_tool", "args": {}},
        {"tool": "load_dataset", "args": {"name": 7}},
        {"tool": "read_file", "args": {"path": "../hidden/test.jsonl"}},
        {"tool": "read_file", "args": {"path": "/etc/passwd"}},
        {"tool": "evaluate", "args": {"checkpoint": "base", "split": "test"}},
        {"tool": "write_file", "args": {"path": "notes/plan.md", "content": "plan"}},
        {"tool": "read_file", "args": {"path": "notes/plan.md"}},
        {"say": "still here"},
    ]
    run = start(home, tmp_path, steps)
    wait_state(run, "finished", timeout=120)
    results = [e for e in events_of(run.path) if e["type"] == "tool_result"]
    assert [r["ok"] for r in results] == [False, False, False, False, False, True, True]
    assert "unknown tool" in results[0]["summary"]
    assert "must be a string" in results[1]["summary"]
    assert "eval_access" in results[2]["summary"]
    assert "workspace_escape" in results[3]["summary"]
    assert "eval_access" in results[4]["summary"]
    assert any(e.get("text") == "still here" for e in events_of(run.path))


def test_bad_script_is_refused_before_a_run_starts(home, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"tool": 3}]')
    proc = cli(home, "run", "--agent", f"script:{bad}", "--detach", check=False)
    assert proc.returncode == 2 and "step 1" in proc.stderr
    assert "no runs yet" in cli(home, "ls").stdout


def test_killed_daemon_shows_as_crashed(home, tmp_path):
    run = start(home, tmp_path, [FLAGGED])
    wait_state(run, "waiting_approval")
    os.kill(run.daemon_pid(), signal.SIGKILL)
    wait_for(lambda: not run.is_live(), 10, what="daemon gone")
    assert json.loads(cli(home, "show", run.id, "--json").stdout)["state"] == "crashed"
    assert "crashed" in cli(home, "ls").stdout


def test_run_survives_the_terminal_that_started_it(home, tmp_path):
    """A headless `run` in its own session (like an SSH login); kill that session's
    processes with SIGHUP + SIGKILL and the daemon must go on."""
    agent = write_script(tmp_path / "steps.json", [FLAGGED, {"say": "survived"}])
    env = {**os.environ, "TINKER_TUI_HOME": str(home)}
    term = subprocess.Popen(
        [sys.executable, "-m", "tinker_tui", "run", "--agent", agent, "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    run = wait_for(lambda: (home / "runs").exists() and list((home / "runs").iterdir()), 30, what="run dir")[0]
    run = RunDir(run)
    wait_state(run, "waiting_approval")
    os.killpg(term.pid, signal.SIGHUP)
    os.killpg(term.pid, signal.SIGKILL)
    term.wait(10)
    assert run.is_live()
    cli(home, "approve", run.id)
    wait_state(run, "finished", timeout=120)
    assert any(e.get("text") == "survived" for e in events_of(run.path))


def test_a_nudge_wakes_a_parked_wait_at_once(home, tmp_path):
    from agent_core.record.events import parse_ts

    job = {"tool": "start_training", "args": {"dataset": "train", "max_steps": 5000, "batch_size": 8}}
    run = start(
        home, tmp_path, [job, {"tool": "wait", "args": {"job": "job1", "timeout_s": 600}}, {"say": "read the message"}]
    )
    wait_for(
        lambda: any(e["type"] == "tool_call" and e["tool"] == "wait" for e in events_of(run.path)),
        120,
        what="the agent parked in wait",
    )
    assert "nudge: ok" in cli(home, "nudge", run.id, "stop after this epoch").stdout
    wait_for(
        lambda: any(e.get("text") == "read the message" for e in events_of(run.path)), 30, what="the agent's next step"
    )
    events = events_of(run.path)
    [nudge] = [e for e in events if e["type"] == "human_nudge"]
    [woke] = [e for e in events if e["type"] == "tool_result" and "a message from the person" in e["summary"]]
    assert parse_ts(woke["ts"]) - parse_ts(nudge["ts"]) < 1.0
    assert "job1 running" in woke["summary"]  # woken while the job trains on
    cli(home, "stop", run.id)
    wait_state(run, "finished", timeout=120)
