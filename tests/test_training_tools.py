"""The tools' side of a training job: start_training, sample and evaluate build the specs the
model worker runs (GRPO and SFT, the reward file's checks, the task's template and generation
settings), over the real Toolbox and RunModels with the jobs recorded instead of run."""

from __future__ import annotations

from pathlib import Path

CORRECT = """
def reward(prompt, completion, expected, **fields):
    # the dataset's reference completion arrives as `expected`
    return 1.0 if completion.strip().startswith(expected) else 0.0
"""


class _FakeJobs:
    def __init__(self):
        self.jobs, self.specs = {}, []

    async def start(self, spec):
        from types import SimpleNamespace

        self.specs.append(spec)
        job = SimpleNamespace(id=f"job{len(self.specs)}", result=None)
        self.jobs[job.id] = job
        return job

    async def run_once(self, spec, name):
        self.specs.append(spec)
        return {"samples": [{"prompt": p, "completion": ""} for p in spec.get("prompts", [])]}


def _toolbox(tmp_path: Path):
    """The real Toolbox over a ToolContext with stand-ins for the jobs and models (what start_training uses)."""
    from types import SimpleNamespace
    from agent_core.agents.tools import Toolbox, ToolContext

    ws = tmp_path / "workspace"
    (ws / "data").mkdir(parents=True)
    for split in ("train", "dev"):
        (ws / "data" / f"{split}.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (ws / "reward.py").write_text(CORRECT)
    (tmp_path / "outside.py").write_text(CORRECT)
    base = tmp_path / "base_model"
    base.mkdir()
    (base / "config.json").write_text("{}")
    from agent_core.training import base_models
    from agent_core.training.models import RunModels
    from agent_core.training.workspace import Workspace

    jobs = _FakeJobs()
    models = RunModels(tmp_path, jobs, tmp_path / "hidden")  # the real one: its specs' generation fields
    models.set_base(base_models.resolve(str(base), tmp_path))
    models.scorer = {"kind": "exact"}

    files = Workspace(ws, tmp_path / "frozen")
    (tmp_path / "jobs").mkdir()
    sup = ToolContext(
        run=SimpleNamespace(workspace=ws, checkpoints=tmp_path / "checkpoints", jobs=tmp_path / "jobs", id="r1"),
        log=None,
        files=files,
        jobs=jobs,
        models=models,
        model_name="tiny",
        fenced=True,
        wake_reason=lambda: None,
        submit=lambda checkpoint: None,
    )
    return Toolbox(sup), sup


def test_start_training_tool_builds_grpo_and_sft_specs(tmp_path):
    import asyncio
    from agent_core.agents.tools import check_args

    box, sup = _toolbox(tmp_path)
    args = check_args(
        "start_training",
        {
            "dataset": "train",
            "method": "grpo",
            "reward_file": "reward.py",
            "batch_size": 4,
            "num_generations": 6,
            "eval_steps": 5,
            "beta": 0.0,
        },
    )
    out = asyncio.run(box.call("start_training", args))
    assert out.ok, out.summary
    assert out.summary.startswith("job1 started: GRPO on train") and "4 prompts x 6 completions" in out.summary
    spec = sup.jobs.specs[-1]
    # the reward runs from a read-only copy of the workspace made for this job (its bundle)
    bundle = tmp_path / "jobs" / "job1.reward"
    assert spec["method"] == "grpo" and spec["reward_file"] == str(bundle / "reward.py")
    assert spec["reward_cwd"] == str(bundle) and spec["reward_source"] == "reward.py"
    assert (bundle / "reward.py").read_text() == CORRECT and spec["reward_manifest"].keys() == {"reward.py"}
    assert spec["sandbox"] == "bwrap" and spec["lineage"]["reward_sha256"] == spec["reward_sha256"]
    # training and evaluation read frozen copies of the datasets, never the workspace's files
    assert Path(spec["dataset"]).parent == tmp_path / "frozen" and spec["dataset_source"] == "train"
    assert spec["per_device_train_batch_size"] == 24 and spec["num_generations"] == 6 and spec["beta"] == 0.0
    # RL defaults: constant LR, temperature 1.0, an RL-sized learning rate
    assert spec["lr_scheduler_type"] == "constant" and spec["temperature"] == 1.0 and spec["learning_rate"] == 1e-5
    assert spec["eval_steps"] == 5 and spec["eval_scorer"] == {"kind": "exact"}
    # a task that says nothing: dev answers as today (cut at a newline, room for the longest answer)
    assert spec["eval_stop"] == ["\n"] and spec["eval_max_new_tokens"] == 8 and "template" not in spec
    assert Path(spec["eval_dataset"]).read_text() == (sup.run.workspace / "data" / "dev.jsonl").read_text()
    # SFT keeps its spec (and its learning-rate default)
    out = asyncio.run(box.call("start_training", {"dataset": "train"}))
    assert out.ok and out.summary.startswith("job2 started: SFT on train from base, lr 0.001")
    sft = sup.jobs.specs[-1]
    assert sft["method"] == "sft" and sft["learning_rate"] == 1e-3 and sft["per_device_train_batch_size"] == 16
    assert not {"reward_file", "eval_steps", "temperature"} & set(sft)
    # both specs are valid train specs as the worker reads them (agent_core.training.spec)
    from agent_core.training.spec import TrainSpec

    assert TrainSpec.from_dict(spec).per_device_train_batch_size == 24
    assert TrainSpec.from_dict(sft).learning_rate == 1e-3
    # bad calls say what is wrong and start nothing
    for bad, needle in (
        ({"method": "grpo"}, "needs reward_file"),
        ({"method": "grpo", "reward_file": "missing.py"}, "not found"),
        ({"method": "grpo", "reward_file": "../outside.py"}, "not found in the workspace"),
        ({"reward_file": "reward.py"}, "apply to method grpo only"),
        ({"method": "ppo"}, "sft or grpo"),
    ):
        out = asyncio.run(box.call("start_training", {"dataset": "train", **bad}))
        assert not out.ok and needle in out.summary, (bad, out.summary)
    assert len(sup.jobs.specs) == 2


def test_tools_build_specs_with_the_tasks_template_and_generation(tmp_path):
    """The task's template and generation settings reach every job the tools start (one rendering)."""
    import asyncio

    from agent_core.training.spec import SampleSpec, TrainSpec

    box, sup = _toolbox(tmp_path)
    sup.models.set_generation("chatml", {"max_new_tokens": 300, "stop": ["\n\n"], "temperature": 0.0})
    out = asyncio.run(box.call("start_training", {"dataset": "train", "eval_steps": 2}))
    assert out.ok, out.summary
    spec = TrainSpec.from_dict(sup.jobs.specs[-1])
    assert spec.template == "chatml" and spec.eval_stop == ["\n\n"] and spec.eval_max_new_tokens == 300
    out = asyncio.run(box.call("sample", {"checkpoint": "base", "prompts": ["1+1="]}))
    assert out.ok, out.summary
    sample = SampleSpec.from_dict(sup.jobs.specs[-1])
    assert sample.template == "chatml" and sample.stop == ["\n\n"] and sample.max_new_tokens == 300
    asyncio.run(box.call("sample", {"checkpoint": "base", "prompts": ["1+1="], "max_new_tokens": 5}))
    assert sup.jobs.specs[-1]["max_new_tokens"] == 5  # the agent's own number wins
    # the agent's evaluate tool and the harness score through RunModels.evaluate
    asyncio.run(sup.models.evaluate(sup.models.base_path, sup.run.workspace / "data" / "dev.jsonl"))
    ev = sup.jobs.specs[-1]
    assert ev["mode"] == "evaluate" and ev["template"] == "chatml" and ev["stop"] == ["\n\n"]
    assert ev["max_new_tokens"] == 300 and ev["scorer"] == {"kind": "exact"}
    sup.models.set_generation(None, {})
    asyncio.run(box.call("sample", {"checkpoint": "base", "prompts": ["1+1="]}))
    sample = SampleSpec.from_dict(sup.jobs.specs[-1])
    assert sample.template is None and sample.stop == [] and sample.max_new_tokens == 16  # as before
