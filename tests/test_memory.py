"""The runs ledger and the digest a new run starts with (no daemon: synthetic run directories)."""

from __future__ import annotations

import json

from agent_core.record.events import EventLog
from agent_core.daemon.memory import best_prior, digest, read_ledger, record_run
from agent_core.record.runs import new_run


def fake_run(
    home, task="arithmetic", model="tiny", lr=1e-3, dev=0.5, test=(0.0, 0.4), note="a finding", nudge=None, veto=None
):
    run = new_run(home, {"task": task, "model": model, "agent": "playbook"})
    log = EventLog(run.events_path)
    log.emit("run_state", state="starting")
    log.emit("brief", task=task, base_model=model)
    log.emit("tool_call", id="c1", tool="start_training", args={})
    (run.jobs / "job1.json").write_text(
        json.dumps(
            {
                "mode": "train",
                "method": "sft",
                "learning_rate": lr,
                "num_train_epochs": 3,
                "per_device_train_batch_size": 32,
                "lora": False,
                "lineage": {"parent": "base"},
            }
        )
    )
    log.emit("job_state", job="job1", state="running")
    log.emit("job_state", job="job1", state="finished")
    log.emit("score", split="dev", value=0.1, checkpoint="base", role="agent")
    log.emit("score", split="dev", value=dev, checkpoint="job1", role="agent")
    if nudge:
        log.emit("human_nudge", text=nudge)
    if veto:
        log.emit("approval_request", id="a1", rule="outside_download", summary="download x", details={})
        log.emit("approval_decision", id="a1", decision="veto", scope="once", reason=veto, by="person")
    log.emit("note", text=note)
    log.emit("submitted", checkpoint="job1")
    log.emit("score", split="test", value=test[0], checkpoint="base", role="base")
    log.emit("score", split="test", value=test[1], checkpoint="job1", role="submitted")
    log.emit("run_state", state="finished", reason="submitted job1")
    log.close()
    return run


def test_ledger_entry_holds_configs_scores_notes_and_interventions(tmp_path):
    run = fake_run(tmp_path, nudge="try a lower lr", veto="local data only")
    entry = record_run(run)
    assert record_run(run) is None  # once per run
    [stored] = read_ledger(tmp_path)
    assert stored == json.loads(json.dumps(entry))
    assert stored["jobs"] == [
        {
            "job": "job1",
            "method": "sft",
            "learning_rate": 0.001,
            "epochs": 3,
            "batch_size": 32,
            "lora": False,
            "parent": "base",
            "state": "finished",
            "dev": 0.5,
        }
    ]
    assert stored["test"] == {"base": 0.0, "submitted": 0.4, "checkpoint": "job1"}
    assert stored["notes"] == ["a finding"]
    assert stored["interventions"][0] == {"kind": "nudge", "text": "try a lower lr"}
    assert stored["interventions"][1]["kind"] == "veto" and stored["interventions"][1]["reason"] == "local data only"


def test_digest_puts_the_same_task_and_model_first_and_stays_bounded(tmp_path):
    other = fake_run(tmp_path, task="capitals", model="tiny", note="capitals note")
    same = fake_run(tmp_path, note="arithmetic note", veto="local data only")
    unrelated = fake_run(tmp_path, task="capitals", model="/models/qwen", note="unrelated")
    for run in (other, same, unrelated):
        record_run(run)
    with open(tmp_path / "ledger.jsonl", "a") as fh:
        fh.write("{torn line\n")  # a corrupt line is skipped
    text = digest(tmp_path, "arithmetic", "tiny")
    assert text.index(same.id) < text.index(other.id)
    assert unrelated.id not in text  # neither the task nor the base model
    assert "harness test 0.0% (base) -> 40.0% (job1)" in text and "lr 0.001" in text
    assert "arithmetic note" in text and "veto outside_download (local data only)" in text
    assert digest(tmp_path, "arithmetic", "tiny", exclude=same.id).count("- ") == 1
    for _ in range(30):
        record_run(fake_run(tmp_path, note="x" * 150))
    long = digest(tmp_path, "arithmetic", "tiny")
    assert len(long) <= 1500 and long.startswith("Earlier runs")
    assert digest(tmp_path, "sorting", "gpt2") == ""


def test_best_prior_is_chosen_by_dev_score(tmp_path):
    record_run(fake_run(tmp_path, lr=3e-3, dev=0.7, test=(0.0, 0.1)))
    record_run(fake_run(tmp_path, lr=1e-3, dev=0.9, test=(0.0, 0.05)))
    record_run(fake_run(tmp_path, task="capitals", lr=5e-4, dev=1.0))
    prior = best_prior(tmp_path, "arithmetic", "tiny")
    assert prior["learning_rate"] == 1e-3 and prior["dev"] == 0.9
    assert best_prior(tmp_path, "arithmetic", "other-model") == {}


def test_runs_started_in_the_same_second_never_share_a_folder(tmp_path, monkeypatch):
    """The run id is the second plus a random suffix: a suffix already taken is drawn again."""
    from agent_core.record import runs

    draws = iter(["abcd", "abcd", "abcd", "ef01"])
    monkeypatch.setattr(runs, "secrets", type("S", (), {"token_hex": staticmethod(lambda n: next(draws))}))
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, t: "20261204-101005")
    first = new_run(tmp_path, {"task": "a"})
    second = new_run(tmp_path, {"task": "b"})
    assert first.id == "20261204-101005-abcd" and second.id == "20261204-101005-ef01"
    assert first.config()["task"] == "a" and second.config()["task"] == "b"
