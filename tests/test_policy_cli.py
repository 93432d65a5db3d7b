"""Policy files, --approval presets and `approve --edit` through the real CLI and daemon."""

from __future__ import annotations

import pytest
import json

from conftest import cli, events_of, last_state, wait_for, write_script

from agent_core.record.runs import list_runs

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


def test_bad_policy_files_are_refused_before_the_run_starts(home, tmp_path):
    agent = write_script(tmp_path / "s.json", [{"say": "hi"}])
    bad = tmp_path / "p.toml"
    for text, message in (
        ("[rules]\nnetwork = ask\n", "line 2"),
        ('[rules]\nnetwrok = "ask"\n', "unknown rule id 'netwrok'"),
        ('[rules]\nnetwork = "sometimes"\n', "'sometimes' is not an action"),
        ('[rules]\neval_tamper = "allow"\n', "always denied"),
    ):
        bad.write_text(text)
        proc = cli(home, "run", "--agent", agent, "--policy", str(bad), "--detach", check=False)
        assert proc.returncode == 2 and message in proc.stderr and str(bad) in proc.stderr, proc.stderr
    # a broken user default is named too
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.toml").write_text("approval = 'lax'\n")
    proc = cli(home, "run", "--agent", agent, "--detach", check=False)
    assert proc.returncode == 2 and "policy.toml" in proc.stderr and "'lax'" in proc.stderr
    assert list_runs(home) == []


def test_strict_preset_user_default_and_edit_from_the_cli(home, tmp_path):
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.toml").write_text('[rules]\noutside_download = "deny"\n')
    run_policy = tmp_path / "mine.toml"
    run_policy.write_text("[contamination]\nmin_overlap = 0.4\n")
    agent = write_script(
        tmp_path / "s.json",
        [
            {"tool": "load_dataset", "args": {"name": "hf:someone/data"}},
            {"tool": "run_python", "args": {"code": "print(6 * 7)"}},
            {"tool": "write_file", "args": {"path": "reward.py", "content": "x = 1\n"}},
            {"say": "done"},
        ],
    )
    cli(home, "run", "--agent", agent, "--approval", "strict", "--policy", str(run_policy), "--detach")
    [run] = list_runs(home)
    assert (run.path / "policy.toml").read_text() == run_policy.read_text()
    cfg = run.config()["policy"]
    assert cfg["preset"] == "strict" and cfg["rules"] == {"outside_download": "deny"}
    assert cfg["contamination"] == {"min_overlap": 0.4}
    # strict: run_python (allowed by default) asks; edit it from the CLI
    wait_for(lambda: last_state(run.path) == "waiting_approval", 60, what="the code_execution request")
    [req] = [e for e in events_of(run.path) if e["type"] == "approval_request"]
    assert req["rule"] == "code_execution"
    proc = cli(
        home, "approve", "--edit", '{"code": "import os; print(open(\'../hidden/test.jsonl\').read())"}', check=False
    )
    assert proc.returncode == 2 and "eval_tamper" in proc.stderr  # refused; still pending
    new_code = tmp_path / "fixed.py"
    new_code.write_text("print(7 * 6, 'edited')\n")
    cli(home, "approve", run.id, req["id"], "--edit", str(new_code))
    wait_for(lambda: last_state(run.path) == "finished", 60, what="finished")
    events = events_of(run.path)
    results = [e for e in events if e["type"] == "tool_result"]
    assert "denied by policy [outside_download]" in results[0]["summary"]  # the user default
    assert "42 edited" in results[1]["summary"]
    decision = next(e for e in events if e["type"] == "approval_decision")
    assert decision["edited_args"] == {"code": "print(7 * 6, 'edited')\n"}
    assert json.loads((run.path / "run.json").read_text())["policy_file"] == str(run_policy.resolve())


def test_the_daemon_uses_the_policy_contamination_thresholds(tmp_path):
    from agent_core.daemon.supervisor import Supervisor
    from agent_core.record.runs import RunDir

    run = RunDir(tmp_path / "r1")
    (run.workspace / "data").mkdir(parents=True)
    (run.path / "hidden").mkdir()
    run.write_config(
        {
            "task": "arithmetic",
            "policy": {"preset": "flagged", "rules": {}, "contamination": {"ngram": 3, "min_overlap": 0.9}},
        }
    )
    item = "What is the capital of the country whose flag is red and white with a maple leaf?"
    (run.path / "hidden" / "test.jsonl").write_text(json.dumps({"prompt": item, "completion": "Ottawa"}) + "\n")
    half = " ".join(item.split()[:9]) + " in North America, roughly?"
    (run.workspace / "data" / "mix.jsonl").write_text(json.dumps({"prompt": half, "completion": "x"}) + "\n")
    sup = Supervisor(run)
    try:
        [report] = sup.contamination("mix")
        assert (report.n, report.threshold) == (3, 0.9)
        assert not report.found  # about half the item's 3-grams: under 0.9
    finally:
        sup.log.close()
    run.write_config(
        {
            **run.config(),
            "policy": {"preset": "flagged", "rules": {}, "contamination": {"ngram": 3, "min_overlap": 0.3}},
        }
    )
    sup = Supervisor(run)
    try:
        assert sup.contamination("mix")[0].found
    finally:
        sup.log.close()
