"""Scale-out: a training job with launcher "accelerate" runs the same spec file under
`accelerate launch` with 2 CPU processes (DDP over gloo); only rank 0 reports and saves."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from agent_core.training import tasks
from agent_core.record.events import EventLog, read_events
from agent_core.training.jobs import JobManager, worker_command

from workers import SMALL

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


@pytest.fixture(scope="module")
def base_and_data(tmp_path_factory):
    from agent_core.ml.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("accel")
    build_tiny_model(root / "base", seed=0, **SMALL)
    data = tasks.materialize(tasks.arithmetic_task(2, n_train=64, n_dev=4, n_test=4), root / "data")
    return root / "base", data["train"]


def _spec(base_and_data, out: Path, **over) -> dict:
    base, train = base_and_data
    return {
        "mode": "train",
        "method": "sft",
        "base_model": str(base),
        "dataset": str(train),
        "output_dir": str(out),
        "max_steps": 4,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "launcher": "accelerate",
        "num_processes": 2,
        **over,
    }


def _run(run: Path, spec: dict, stop_at_step: int | None = None):
    run.mkdir()
    log = EventLog(run / "events.jsonl")

    async def go():
        jobs = JobManager(run, log)
        job = await jobs.start(spec)
        if stop_at_step is not None:
            while job.step < stop_at_step and not job.done.is_set():
                await asyncio.sleep(0.05)
            await jobs.stop(job.id, timeout=90)
        await asyncio.wait_for(job.done.wait(), 150)
        return job

    return asyncio.run(go())


def test_two_process_accelerate_sft_job_on_cpu(tmp_path, base_and_data):
    run = tmp_path / "run"
    out = run / "checkpoints" / "job1"
    job = _run(run, _spec(base_and_data, out))
    stderr = (run / "jobs" / "job1.stderr.log").read_text(errors="replace")
    assert job.state == "finished", (job.error, stderr[-3000:])
    assert json.loads((run / "jobs" / "job1.json").read_text())["launcher"] == "accelerate"
    events = read_events(run / "events.jsonl")
    states = [e["state"] for e in events if e["type"] == "job_state"]
    assert states == ["queued", "running", "finished"]
    metrics = [e for e in events if e["type"] == "metric"]
    # rank 1 is silent: every step is reported exactly once, by rank 0, with the job id
    assert [m["step"] for m in metrics] == [1, 2, 3, 4] and {m["job"] for m in metrics} == {"job1"}
    assert all(isinstance(m["values"]["loss"], float) for m in metrics)
    # two processes each consumed a batch of 4 per step: 4 steps x 8 rows = half of 64 rows
    assert metrics[-1]["values"]["epoch"] == pytest.approx(0.5)
    ckpts = [e for e in events if e["type"] == "checkpoint"]
    assert [(c["job"], c["path"], c["step"]) for c in ckpts] == [("job1", str(out), 4)]
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["steps"] == 4 and (out / "config.json").is_file()
    assert "rank1" in stderr or "[rank" in stderr or "accelerate" in stderr.lower()


def test_stop_under_accelerate_saves_a_checkpoint(tmp_path, base_and_data):
    """SIGTERM reaches every rank; they agree on the step to stop at, rank 0 saves, the job is
    'stopped' (not failed, although the launcher exits non-zero after a signal)."""
    run = tmp_path / "run"
    out = run / "checkpoints" / "job1"
    job = _run(run, _spec(base_and_data, out, max_steps=100_000), stop_at_step=2)
    assert job.state == "stopped", (job.error, (run / "jobs" / "job1.stderr.log").read_text()[-2000:])
    assert job.result["stopped"] is True and 2 <= job.result["steps"] < 100_000
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["stopped"] is True and lineage["steps"] == job.result["steps"]
    states = [e["state"] for e in read_events(run / "events.jsonl") if e["type"] == "job_state"]
    assert states == ["queued", "running", "stopping", "stopped"]


def test_accelerate_command_line(tmp_path):
    spec_path = tmp_path / "job1.json"
    cmd = worker_command({"launcher": "accelerate", "num_processes": 8}, spec_path)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "8" and "--multi_gpu" in cmd
    assert cmd[-3:] == ["--module", "agent_core.ml.worker", str(spec_path)]
    # an accelerate YAML (DeepSpeed ZeRO-2) relative to the workspace, and multi-node fields
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "zero2.yaml").write_text("distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 2\n")
    cmd = worker_command(
        {
            "launcher": "accelerate",
            "num_processes": 16,
            "accelerate_config": "zero2.yaml",
            "num_machines": 2,
            "machine_rank": 1,
            "main_process_ip": "10.0.0.1",
            "main_process_port": 29501,
        },
        spec_path,
        base=tmp_path / "ws",
    )
    joined = " ".join(cmd)
    assert f"--config_file {tmp_path / 'ws' / 'zero2.yaml'}" in joined and "--multi_gpu" not in cmd
    assert "--num_machines 2" in joined and "--machine_rank 1 --main_process_ip 10.0.0.1" in joined
    assert "--main_process_port 29501" in joined
    assert worker_command({}, spec_path) == [sys.executable, "-m", "agent_core.ml.worker", str(spec_path)]
    # sharded weights (FSDP, ZeRO-3) would save a broken checkpoint: refused before anything runs
    (tmp_path / "fsdp.yaml").write_text("distributed_type: FSDP\n")
    (tmp_path / "zero3.yaml").write_text("distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\n")
    for bad, msg in [
        ({"launcher": "slurm"}, "unknown launcher"),
        ({"launcher": "accelerate", "accelerate_config": "fsdp.yaml"}, "FSDP is not supported yet"),
        ({"launcher": "accelerate", "accelerate_config": "zero3.yaml"}, "ZeRO-3 is not supported"),
        ({"launcher": "accelerate", "num_processes": 0}, "num_processes must be"),
        ({"launcher": "accelerate", "accelerate_config": "nope.yaml"}, "accelerate_config not found"),
        ({"launcher": "accelerate", "num_machines": 2}, "needs machine_rank"),
        ({"num_processes": 4}, "needs launcher"),
    ]:
        with pytest.raises(ValueError, match=msg):
            worker_command(bad, spec_path, base=tmp_path)
