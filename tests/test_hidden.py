"""The hidden folder: a per-run secret seed the public generator cannot reproduce, and hashes
that refuse a scoring (or a resume) after the hidden split or scorer changed."""

from __future__ import annotations

from agent_core.oversight import hidden
from agent_core.training import tasks


def _prompts(rows):
    return {r["prompt"] for r in rows}


def test_the_public_generator_does_not_reproduce_a_runs_hidden_split(tmp_path):
    task = tasks.get_task("arithmetic:4")  # 2,001,000 problems: train and dev leave most unseen
    secret = hidden.new_secret(tmp_path / "hidden")
    assert (tmp_path / "hidden" / "seed").read_text().strip() == secret
    assert (tmp_path / "hidden" / "seed").stat().st_mode & 0o777 == 0o600
    run = tasks.generate_splits(task, secret)
    public = tasks.generate_splits(task)  # what anyone with the package and the default seed gets
    other_run = tasks.generate_splits(task, hidden.new_secret(tmp_path / "other"))
    n = len(run["test"])
    assert n == 500
    # chance overlap only: far from the split
    assert len(_prompts(run["test"]) & _prompts(public["test"])) < n * 0.05
    assert len(_prompts(run["test"]) & _prompts(other_run["test"])) < n * 0.05
    # dev and train are the public ones: the same data every run
    assert run["train"] == public["train"] and run["dev"] == public["dev"]
    # the splits stay disjoint, and the same secret gives the same split
    assert not _prompts(run["test"]) & (_prompts(run["train"]) | _prompts(run["dev"]))
    assert tasks.generate_splits(task, secret)["test"] == run["test"]


def test_a_changed_hidden_file_is_named(tmp_path):
    h = tmp_path / "hidden"
    h.mkdir()
    (h / "test.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (h / "scorer.py").write_text("def score(p, c, e):\n    return float(c == e)\n")
    digests = hidden.digests(h)
    assert set(digests) == {"test_sha256", "scorer_sha256"} and hidden.verify(h, digests) is None
    (h / "scorer.py").write_text("def score(p, c, e):\n    return 1.0\n")
    assert "scorer.py changed" in hidden.verify(h, digests)
    (h / "test.jsonl").unlink()
    assert "test.jsonl and scorer.py changed" in hidden.verify(h, digests)


def test_a_run_whose_hidden_split_changed_is_not_resumed(home, tmp_path):
    """kill -9 the daemon, change the hidden split behind its back: resume refuses to score it."""
    import json
    import os
    import signal

    from conftest import cli, events_of, last_state, wait_for, write_script
    from agent_core.record.runs import list_runs

    agent = write_script(
        tmp_path / "steps.json",
        [
            {"tool": "load_dataset", "args": {"name": "hf:someone/gsm8k"}},  # waits for a person
            {"say": "done"},
        ],
    )
    cli(home, "run", "--agent", agent, "--detach")
    [run] = list_runs(home)
    wait_for(lambda: last_state(run.path) == "waiting_approval", 60, what="the approval request")
    installed = next(e for e in events_of(run.path) if e["type"] == "hidden_installed")
    assert installed["test_sha256"] == hidden.digests(run.path / "hidden")["test_sha256"]
    os.kill(run.daemon_pid(), signal.SIGKILL)
    wait_for(lambda: not run.is_live(), 10, what="the daemon gone")
    test = run.path / "hidden" / "test.jsonl"
    test.write_text(json.dumps({"prompt": "1+1=", "completion": "2"}) + "\n")
    cli(home, "resume", run.id, check=False)
    wait_for(lambda: last_state(run.path) == "failed", 60, what="the resumed run refusing")
    final = [e for e in events_of(run.path) if e["type"] == "run_state"][-1]
    assert "hidden test.jsonl changed" in final["reason"]
    assert test.read_text() == json.dumps({"prompt": "1+1=", "completion": "2"}) + "\n"  # not re-installed
