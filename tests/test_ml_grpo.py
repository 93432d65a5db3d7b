"""GRPO jobs in the model worker (a real subprocess, TRL's GRPOTrainer on the tiny model) and the
reward sandbox they score through.

Kept small: one tiny base and one short SFT checkpoint shared by the module, a few GRPO steps
of 2 prompts x 4 completions each, completions of at most 4 characters.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from agent_core.training import tasks
from agent_core.ml.callbacks import grpo_values, peak_flops, schedule_horizon
from agent_core.ml.reward_sandbox import RewardFileError, RewardSandbox
from workers import SMALL, error_of, result_of, run_worker

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

GROUP = 4
BATCH = 8  # completions per step: 2 prompts x GROUP

CORRECT = """
def reward(prompt, completion, expected, **fields):
    # the dataset's reference completion arrives as `expected`
    return 1.0 if completion.strip().startswith(expected) else 0.0
"""
DIGITS = """
def reward(prompt, completion, **fields):
    return sum(ch.isdigit() for ch in completion) / 4.0

def short(prompt, completion, **fields):
    return 1.0 if len(completion) <= 2 else 0.0
"""
FLAKY = """
import time
calls = 0

def reward(prompt, completion, expected, **fields):
    # the reward runs in a fresh, read-only sandbox: it keeps no state across restarts
    global calls
    calls += 1
    if calls == 5:                      # every reward process hangs on its fifth call
        time.sleep(600)
    if calls % 3 == 0:                  # every third call in a process raises
        raise ValueError("flaky reward")
    return 1.0
"""


def _metrics(events):
    return [e for e in events if e["event"] == "metric"]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grpo")


@pytest.fixture(scope="module")
def data(work) -> dict[str, Path]:
    return tasks.materialize(tasks.arithmetic_task(2, seed=5, n_train=128, n_dev=16, n_test=16), work / "data")


@pytest.fixture(scope="module")
def base(work) -> Path:
    out = work / "base"
    rc, events, err = run_worker(work, {"mode": "build_base", "out_dir": str(out), "seed": 0, "size": SMALL})
    assert rc == 0, err[-2000:]
    return out


@pytest.fixture(scope="module")
def sft_ck(work, base, data) -> Path:
    out = work / "sft"
    rc, events, err = run_worker(
        work,
        {
            "mode": "train",
            "method": "sft",
            "base_model": str(base),
            "dataset": str(data["train"]),
            "output_dir": str(out),
            "learning_rate": 3e-3,
            "max_steps": 3,
            "per_device_train_batch_size": 16,
        },
    )
    assert rc == 0, err[-2000:]
    return out


def _reward(work: Path, name: str, body: str) -> Path:
    path = work / "rewards" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


def _grpo_spec(base: Path, data: dict, out: Path, reward: Path, **over) -> dict:
    spec = {
        "mode": "train",
        "method": "grpo",
        "base_model": str(base),
        "dataset": str(data["train"]),
        "output_dir": str(out),
        "reward_file": str(reward),
        "num_generations": GROUP,
        "per_device_train_batch_size": BATCH,
        "max_completion_length": 4,
        "max_steps": 3,
        "learning_rate": 1e-3,
        "seed": 0,
        "lineage": {"job": "g"},
    }
    spec.update(over)
    return spec


# ---------------------------------------------------------------- the sandbox (no torch)


def test_sandbox_scores_crashes_and_hangs_as_zero(tmp_path):
    path = tmp_path / "r.py"
    path.write_text(
        textwrap.dedent("""
        import os, time
        def reward(prompt, completion, expected, **fields):
            if completion == "raise": raise RuntimeError("bad reward")
            if completion == "hang": time.sleep(600)
            if completion == "die": os._exit(9)
            if completion == "nan": return float("nan")
            if completion == "text": return "1"
            return 1.0 if completion == expected else 0.0
    """)
    )
    with RewardSandbox(path, timeout_s=1.0) as box:
        outs = ["7", "raise", "8", "hang", "7", "die", "nan", "text", "7"]
        scores = box.score("reward", [("3+4=", c, {"expected": "7"}) for c in outs])
        assert scores == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
        assert box.stats["timeouts"] == 1 and box.stats["errors"] == 4  # raise, die, nan, text
        assert box.stats["calls"] == len(outs) and box.stats["restarts"] == 2
        assert "bad reward" in box.stats["first_error"]
        # the restarted child keeps scoring
        assert box.score("reward", [("1+1=", "2", {"expected": "2"})]) == [1.0]


def test_sandbox_rejects_broken_reward_files(tmp_path):
    (tmp_path / "syntax.py").write_text("def reward(:\n")
    (tmp_path / "none.py").write_text("def score(prompt, completion):\n    return 1.0\n")
    (tmp_path / "boom.py").write_text("raise ImportError('no such helper')\n")
    for name, needle in (
        ("syntax.py", "SyntaxError"),
        ("none.py", "no function 'reward'"),
        ("boom.py", "no such helper"),
        ("missing.py", "not found"),
    ):
        with pytest.raises(RewardFileError, match=needle):
            RewardSandbox(tmp_path / name)


def test_metric_helpers():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("NVIDIA L4") == 121e12 and peak_flops("NVIDIA GeForce RTX 4090") == 165e12
    assert peak_flops("Some Future Accelerator") is None and peak_flops(None) is None
    mapped = grpo_values(
        {
            "reward": 0.5,
            "reward_std": 0.1,
            "rewards/short/mean": 0.25,
            "frac_reward_zero_std": 0.5,
            "kl": 0.01,
            "completions/mean_length": 3.0,
            "completions/min_length": 1.0,
            "sampling/x": 2.0,
        }
    )
    assert mapped == {
        "reward_mean": 0.5,
        "reward": 0.5,
        "reward_std": 0.1,
        "reward/short": 0.25,
        "frac_zero_std": 0.5,
        "frac_reward_zero_std": 0.5,
        "kl": 0.01,
        "completion_length": 3.0,
    }
    from transformers import get_scheduler
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert schedule_horizon(get_scheduler("cosine", opt, num_warmup_steps=2, num_training_steps=40)) == 40


def test_a_schedule_shorter_than_the_job_is_refused():
    from types import SimpleNamespace
    from transformers import get_scheduler
    import torch
    from agent_core.ml.callbacks import ProtocolCallback

    class Refused(Exception):
        def __init__(self, kind, message, step=None):
            super().__init__(message)
            self.kind = kind

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    lines = []
    cb = ProtocolCallback(emit=lines.append, should_stop=lambda: False, job_error=Refused)
    cb.trainer = SimpleNamespace(lr_scheduler=get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=10))
    args = SimpleNamespace(lr_scheduler_type="cosine")
    cb.on_train_begin(args, SimpleNamespace(max_steps=10), None)
    assert lines[-1]["schedule_steps"] == 10
    with pytest.raises(Refused, match="horizon 10 != the job's 400 steps"):
        cb.on_train_begin(args, SimpleNamespace(max_steps=400), None)


def test_mfu_from_tokens_per_second_and_device_peak(monkeypatch):
    from types import SimpleNamespace
    from agent_core.ml import callbacks

    def metric_values(peak):
        monkeypatch.setattr(callbacks, "device_peak_flops", lambda: peak)
        lines = []
        cb = callbacks.ProtocolCallback(
            emit=lines.append, should_stop=lambda: False, job_error=RuntimeError, flops_per_token=6 * 1_000_000
        )
        control = SimpleNamespace(should_training_stop=False)
        cb.on_log(None, SimpleNamespace(global_step=1), control, logs={"loss": 1.0, "grad_norm": 0.5, "num_tokens": 0})
        cb._last_time -= 2.0  # two seconds pass, 4000 tokens later
        cb.on_log(
            None, SimpleNamespace(global_step=2), control, logs={"loss": 0.9, "grad_norm": 0.5, "num_tokens": 4000}
        )
        return lines[-1]["values"]

    v = metric_values(989e12)
    assert v["tokens_per_s"] == pytest.approx(2000, rel=0.01)
    assert v["mfu"] == pytest.approx(2000 * 6e6 / 989e12, rel=0.01)
    assert "mfu" not in metric_values(None)  # CPU or an unknown GPU: no estimate (never a null)


# ---------------------------------------------------------------- GRPO jobs


def test_grpo_lora_continues_from_sft_checkpoint(work, base, data, sft_ck):
    out = work / "g-lora"
    reward = _reward(work, "correct", CORRECT)
    spec = _grpo_spec(
        base,
        data,
        out,
        reward,
        lora=True,
        lora_r=4,
        init_from=str(sft_ck),
        eval_dataset=str(data["dev"]),
        eval_steps=2,
        eval_limit=8,
    )
    rc, events, err = run_worker(work, spec)
    assert rc == 0, err[-3000:]
    metrics = _metrics(events)
    assert [m["step"] for m in metrics] == [1, 2, 3]
    for m in metrics:
        v = m["values"]
        for key in (
            "reward_mean",
            "reward",
            "reward_std",
            "frac_zero_std",
            "frac_reward_zero_std",
            "kl",
            "entropy",
            "completion_length",
            "loss",
            "learning_rate",
            "grad_norm",
            "tokens_per_s",
        ):
            assert _finite(v.get(key)), (key, v)
        assert 0.0 <= v["reward_mean"] <= 1.0 and 0.0 <= v["frac_zero_std"] <= 1.0
        assert v["reward/reward"] == v["reward_mean"]
        assert v["completion_length"] <= 4
        assert v["reward_errors"] == 0 and v["reward_timeouts"] == 0  # `expected` reached the reward
        assert v["learning_rate"] == pytest.approx(1e-3)  # RL default: constant LR
        assert None not in v.values() and "mfu" not in v  # no GPU here: MFU is left out, not null
    scores = [e for e in events if e["event"] == "score"]
    assert [(s["step"], s["split"]) for s in scores] == [(2, "dev"), (3, "dev")]
    assert all(0.0 <= s["value"] <= 1.0 for s in scores)
    res = result_of(events)
    assert res["steps"] == 3 and res["reward_calls"] == 3 * BATCH and res["dev_score"] == scores[-1]["value"]
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parent"] == str(sft_ck) and lineage["base_model"] == str(base)
    assert lineage["method"] == "grpo" and lineage["lora"] is True and lineage["job"] == "g"
    assert lineage["reward_file"] == str(reward)
    # the merged full model next to the adapter (the SFT tests load such folders)
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "config.json").is_file()
    assert (out / "model.safetensors").is_file()


def test_grpo_full_two_reward_functions_and_schedule_horizon(work, base, data):
    out = work / "g-full"
    reward = _reward(work, "digits", DIGITS)
    spec = _grpo_spec(
        base,
        data,
        out,
        reward,
        reward_functions=["reward", "short"],
        max_steps=4,
        lr_scheduler_type="cosine",
        learning_rate=3e-3,
        temperature=1.0,
    )
    rc, events, err = run_worker(work, spec)
    assert rc == 0, err[-3000:]
    metrics = _metrics(events)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    vals = [m["values"] for m in metrics]
    for v in vals:
        assert _finite(v["reward/reward"]) and _finite(v["reward/short"]) and _finite(v["kl"])
        # the total reward is the sum of the two functions' means
        assert v["reward_mean"] == pytest.approx(v["reward/reward"] + v["reward/short"], abs=1e-5)
    # rewards vary inside groups, so there is a learning signal: non-zero gradients, and the policy
    # moves away from the reference (kl > 0 after the first update)
    assert min(v["frac_zero_std"] for v in vals) < 1.0
    assert max(v["grad_norm"] for v in vals) > 0
    assert max(v["kl"] for v in vals[1:]) > 0
    # the cosine schedule spans the job's 4 steps (a step logs the LR it trained with)
    lrs = [v["learning_rate"] for v in vals]
    assert lrs == pytest.approx([3e-3 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)])
    progress = [e for e in events if e["event"] == "progress"]
    assert {p["total"] for p in progress} == {4}
    [plan] = [e for e in events if e["event"] == "plan"]
    assert plan == {"event": "plan", "total": 4, "schedule_steps": 4, "lr_scheduler_type": "cosine"}
    # a few completions of every logging step, each with both reward functions' values, for the
    # Outputs pane: 4 of each of the 2 groups, the expected answer, the 4-token limit marked
    samples = [e for e in events if e["event"] == "completions"]
    assert [(c["source"], c["step"]) for c in samples] == [("grpo", s) for s in (1, 2, 3, 4)]
    for c in samples:
        assert len(c["items"]) == 8 and len({it["prompt"] for it in c["items"]}) == 2
        for it in c["items"]:
            assert set(it["rewards"]) == {"reward", "short"} and it["expected"]
            assert it["rewards"]["short"] == (1.0 if len(it["completion"]) <= 2 else 0.0)
    assert any(it.get("clipped") for c in samples for it in c["items"])
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["method"] == "grpo" and lineage["lora"] is False and lineage["parent"] is None
    assert lineage["reward_functions"] == ["reward", "short"]
    assert not (out / "adapter").exists() and (out / "model.safetensors").is_file()


def test_reward_that_raises_or_hangs_scores_zero_and_job_finishes(work, base, data):
    out = work / "g-flaky"
    reward = _reward(work, "flaky", FLAKY)
    spec = _grpo_spec(base, data, out, reward, reward_timeout_s=2, max_steps=2)
    rc, events, err = run_worker(work, spec, timeout=180)
    assert rc == 0, err[-3000:]
    res = result_of(events)
    assert res["reward_timeouts"] >= 1 and res["reward_errors"] >= 1
    assert res["reward_calls"] == 2 * BATCH and "flaky" in res.get("reward_first_error", "") + err
    # every completion that did not crash or hang earned 1.0, so each step's mean reward tells
    # exactly how many scored 0
    before = 0
    for m in _metrics(events):
        v = m["values"]
        failed = v["reward_errors"] + v["reward_timeouts"]
        assert v["reward_mean"] == pytest.approx((BATCH - (failed - before)) / BATCH)
        before = failed
    assert before == res["reward_errors"] + res["reward_timeouts"]
    assert (out / "lineage.json").is_file()


@pytest.mark.parametrize(
    "body,needle",
    [
        ("def reward(prompt, completion:\n    return 1\n", "does not import"),
        ("def score(prompt, completion, **kw):\n    return 1.0\n", "no function 'reward'"),
    ],
)
def test_bad_reward_file_is_bad_input_before_training(work, base, data, body, needle):
    reward = _reward(work, f"bad{len(body)}", body)
    out = work / f"g-bad{len(body)}"
    rc, events, err = run_worker(work, _grpo_spec(base, data, out, reward))
    assert rc == 2, err[-2000:]
    e = error_of(events)
    assert e["kind"] == "bad_input" and reward.name in e["message"] and needle in e["message"]
    assert not [x for x in events if x["event"] in ("metric", "progress")]
    assert not out.exists()


def test_grpo_batch_must_hold_whole_groups(work, base, data):
    reward = _reward(work, "correct", CORRECT)
    rc, events, _ = run_worker(work, _grpo_spec(base, data, work / "g-odd", reward, per_device_train_batch_size=6))
    assert rc == 2
    e = error_of(events)
    assert e["kind"] == "bad_input" and "multiple of num_generations" in e["message"]


CHAT_PROMPT = """
def reward(prompt, completion, expected, **fields):
    # TRL generates from the rendered text; the reward still gets the row's own chat messages
    return 1.0 if isinstance(prompt, list) and prompt[-1]["role"] == "user" else 0.0
"""


def test_grpo_renders_chat_prompts_with_the_jobs_template(work, base):
    rows = [{"prompt": [{"role": "user", "content": f"{a}+1="}], "completion": str(a + 1)} for a in range(8)]
    data = work / "chat-prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = work / "g-chat"
    spec = _grpo_spec(base, {"train": data}, out, _reward(work, "chat", CHAT_PROMPT), max_steps=1, template="qa")
    rc, events, err = run_worker(work, spec)
    assert rc == 0, err[-3000:]
    assert _metrics(events)[0]["values"]["reward_mean"] == 1.0
    assert json.loads((out / "lineage.json").read_text())["template"] == "qa"
    bad = work / "chat-bad.jsonl"
    bad.write_text(json.dumps({"prompt": [{"role": "robot", "content": "x"}]}) + "\n")
    from agent_core.ml.grpo import read_prompts
    from agent_core.ml.protocol import JobError

    with pytest.raises(JobError, match=f"{bad}:1: field 'prompt' must be"):
        read_prompts(str(bad))
