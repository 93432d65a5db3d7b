"""Jobs: worker lines become events with the job id (metric, score, checkpoint), and failures
are reported with their cause: a crash's error tail summarized, a killed worker, out of memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from agent_core.training import jobs as jobs_mod
from agent_core.training import tasks
from agent_core.record.events import EventLog, read_events
from agent_core.training.jobs import JobManager, summarize_stderr
from agent_core.training.failures import crash_summary, oom_advice

from workers import SMALL

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


def _run_jobs(run: Path, spec: dict, during=None, timeout: float = 120):
    run.mkdir(parents=True, exist_ok=True)
    log = EventLog(run / "events.jsonl")

    async def go():
        jobs = JobManager(run, log)
        job = await jobs.start(spec)
        if during:
            await during(jobs, job)
        await asyncio.wait_for(job.done.wait(), timeout)
        return job

    job = asyncio.run(go())
    return job, read_events(run / "events.jsonl")


def _fake_worker(monkeypatch, script: str) -> None:
    """Run `script` in place of the worker (the real JobManager reads its real stdout/stderr)."""
    monkeypatch.setattr(
        jobs_mod, "worker_command", lambda spec, path, module=None, base=None: [sys.executable, "-c", script]
    )


def test_score_and_metric_lines_become_events_with_the_job_id(tmp_path, monkeypatch):
    _fake_worker(
        monkeypatch,
        "\n".join(
            [
                "import json",
                "for obj in [{'event': 'progress', 'step': 1, 'total': 2},",
                "            {'event': 'metric', 'step': 1, 'values': {'loss': 2.5}},",
                "            {'event': 'score', 'split': 'dev', 'value': 0.25, 'step': 1, 'n': 8},",
                "            {'event': 'score', 'value': 0.5, 'step': 2},",
                "            {'event': 'checkpoint', 'path': '/x', 'step': 2},",
                "            {'event': 'result', 'checkpoint': '/x', 'steps': 2, 'stopped': False}]:",
                "    print(json.dumps(obj), flush=True)",
                "print('not json: ignored')",
            ]
        ),
    )
    job, events = _run_jobs(tmp_path / "run", {"mode": "train"})
    assert job.state == "finished"
    scores = [e for e in events if e["type"] == "score"]
    assert [(s["job"], s["split"], s["value"], s["step"]) for s in scores] == [
        ("job1", "dev", 0.25, 1),
        ("job1", "dev", 0.5, 2),
    ]
    assert scores[0]["n"] == 8 and job.brief()["dev_score"] == 0.5
    assert [(e["job"], e["step"], e["values"]) for e in events if e["type"] == "metric"] == [("job1", 1, {"loss": 2.5})]


def test_grpo_completions_and_eval_progress_lines_become_events_with_the_job_id(tmp_path, monkeypatch):
    item = {"prompt": "1+1=", "completion": "2", "expected": "2", "rewards": {"correct": 1.0}}
    _fake_worker(
        monkeypatch,
        "\n".join(
            [
                "import json",
                f"item = {item!r}",
                "for obj in [{'event': 'progress', 'step': 1, 'total': 2},",
                "            {'event': 'metric', 'step': 1, 'values': {'reward_mean': 1.0}},",
                "            {'event': 'completions', 'source': 'grpo', 'step': 1, 'items': [item] * 20},",
                "            {'event': 'progress', 'what': 'evaluate', 'done': 4, 'total': 8},",
                "            {'event': 'result', 'checkpoint': '/x', 'steps': 2, 'stopped': False}]:",
                "    print(json.dumps(obj), flush=True)",
            ]
        ),
    )
    job, events = _run_jobs(tmp_path / "run", {"mode": "train"})
    assert job.state == "finished" and job.step == 1  # an evaluation's progress is not a training step
    [comp] = [e for e in events if e["type"] == "completions"]
    assert (comp["job"], comp["source"], comp["step"], comp["of"]) == ("job1", "grpo", 1, 20)
    assert comp["items"] == [item] * 8  # at most 8 a GRPO step
    # the evaluation stopped before its end: its bar is closed
    progress = [(e["id"], e["done"], e["total"], e.get("ended")) for e in events if e["type"] == "eval_progress"]
    assert progress == [("job1", 4, 8, None), ("job1", 4, 8, True)]


def test_crash_reports_the_summarized_error_tail(tmp_path, monkeypatch):
    _fake_worker(
        monkeypatch,
        "\n".join(
            [
                "import json, sys",
                "print(json.dumps({'event': 'progress', 'step': 3, 'total': 9}), flush=True)",
                "def collate(batch):",
                "    return {}['input_ids']",
                "collate([])",
            ]
        ),
    )
    job, events = _run_jobs(tmp_path / "run", {"mode": "train"})
    assert job.state == "failed" and job.error["kind"] == "crash" and job.error["step"] == 3
    msg = job.error["message"]
    assert msg.startswith("worker died (exit code 1): KeyError: 'input_ids'") and "in collate)" in msg
    last = [e for e in events if e["type"] == "job_state"][-1]
    assert last["state"] == "failed" and "KeyError: 'input_ids'" in last["detail"]


def test_killed_training_worker_fails_with_memory_advice(tmp_path):
    """A real SFT worker killed by SIGKILL (what the kernel's OOM killer does) fails its job with
    the signal, the likely cause and what to change; the manager survives."""
    from agent_core.ml.tiny import build_tiny_model

    build_tiny_model(tmp_path / "base", seed=0, **SMALL)
    data = tasks.materialize(tasks.arithmetic_task(2, n_train=200, n_dev=4, n_test=4), tmp_path / "data")
    spec = {
        "mode": "train",
        "method": "sft",
        "base_model": str(tmp_path / "base"),
        "dataset": str(data["train"]),
        "output_dir": str(tmp_path / "out"),
        "max_steps": 100_000,
        "per_device_train_batch_size": 8,
    }

    async def kill_after_first_metric(jobs, job):
        while job.step < 1 and not job.done.is_set():
            await asyncio.sleep(0.05)
        os.kill(job.proc.pid, signal.SIGKILL)

    job, events = _run_jobs(tmp_path / "run", spec, kill_after_first_metric)
    assert job.state == "failed" and job.error["kind"] == "crash"
    msg = job.error["message"]
    assert "killed by signal 9" in msg and "out-of-memory killer" in msg
    assert "per_device_train_batch_size 8 -> 4 with gradient_accumulation_steps 1 -> 2" in msg
    assert any(e["type"] == "metric" and e["job"] == "job1" for e in events)


def test_oom_advice_names_the_cause_and_concrete_changes():
    detail = (
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB "
        "of which 1.10 GiB is free. Including non-PyTorch memory, this process has 77.9 GiB in use."
    )
    msg = oom_advice(
        {"mode": "train", "per_device_train_batch_size": 16, "gradient_accumulation_steps": 2, "max_length": 2048},
        detail,
    )
    assert msg.startswith("out of GPU memory while allocating 2.00 GiB (device 79.11 GiB, 1.10 GiB free)")
    assert "per_device_train_batch_size 16 -> 8 with gradient_accumulation_steps 2 -> 4" in msg
    assert "LoRA (lora: true) instead of a full fine-tune" in msg and "max_length 2048 -> 1024" in msg
    # already LoRA with a micro-batch of 1: no advice that cannot apply
    lora = oom_advice(
        {"mode": "train", "lora": True, "per_device_train_batch_size": 1, "max_length": 512}, "out of memory"
    )
    assert lora.startswith("out of host memory") and "LoRA" not in lora and "batch" not in lora
    assert "max_length 512 -> 256" in lora
    assert "batch_size (128 -> 64)" in oom_advice({"mode": "evaluate", "batch_size": 128}, "CUDA out of memory")


def test_worker_reports_oom_with_advice(tmp_path):
    """The worker's own failure path: a MemoryError during the job is an `oom` error line with
    the advice, exit code 4 (a real CUDA OOM cannot be produced here; MemoryError takes the
    same path). Triggered by a python scorer that allocates without bound."""
    import subprocess

    from agent_core.ml.tiny import build_tiny_model

    build_tiny_model(
        tmp_path / "m",
        seed=0,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (tmp_path / "s.py").write_text("def score(p, c, e):\n    raise MemoryError()\n")
    spec = {
        "mode": "evaluate",
        "model": str(tmp_path / "m"),
        "dataset": str(tmp_path / "d.jsonl"),
        "batch_size": 32,
        "scorer": {"kind": "python", "file": str(tmp_path / "s.py")},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core.ml.worker", str(tmp_path / "spec.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    err = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 4 and err["kind"] == "oom", proc.stderr[-1500:]
    assert err["message"].startswith("out of host memory; try: a smaller batch_size (32 -> 16)")


def test_error_tail_summaries():
    tail = [
        "Traceback (most recent call last):",
        '  File "/x/agent_core/ml/worker.py", line 412, in run_train',
        "    train_out = trainer.train()",
        '  File "/x/site-packages/torch/nn/functional.py", line 3104, in cross_entropy',
        "    return torch._C._nn.cross_entropy_loss(input, target)",
        "[rank0]: IndexError: Target 300 is out of bounds.",
        "Traceback (most recent call last):",
        '  File "/x/accelerate/commands/launch.py", line 1000, in simple_launcher',
        "subprocess.CalledProcessError: Command '['python', '-m', 'agent_core.ml.worker']' returned 1.",
    ]
    assert summarize_stderr(tail) == (
        "[rank0]: IndexError: Target 300 is out of bounds. (at functional.py:3104 in cross_entropy)"
    )
    assert summarize_stderr(["Segmentation fault (core dumped)"]) == "Segmentation fault (core dumped)"
    assert summarize_stderr([]) == "no error output"
    try:
        {}["labels"]
    except KeyError as exc:
        summary = crash_summary(exc)
    assert summary.startswith("KeyError: 'labels' (at test_jobs.py:") and "in test_error_tail_summaries)" in summary


def test_bad_launcher_starts_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = EventLog(run / "events.jsonl")

    async def go():
        jobs = JobManager(run, log)
        with pytest.raises(ValueError, match="unknown launcher 'mpi'"):
            await jobs.start({"mode": "train", "launcher": "mpi"})
        return jobs

    jobs = asyncio.run(go())
    assert jobs.jobs == {} and not list((run / "jobs").glob("*.json"))
    assert read_events(run / "events.jsonl") == []
