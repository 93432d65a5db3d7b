"""The plan of bench/gpu_check.py: the sizes of a run (GPU and --smoke), the slots of the
wall-clock guard, the data (SFT rows, GRPO prompts, GSM8K-shaped evaluation prompts, the reward)
and the jobs the children run (bench/gpu_check_jobs.py). Standard library only."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

REWARD = """def reward(prompt, completion, **fields):
    return (len(completion) % 5) / 4.0
"""


@dataclass(frozen=True)
class Plan:
    """The sizes of one run."""

    shape: str
    seq: int  # SFT tokens per row
    batch: int  # SFT rows per step
    sft_steps: int
    sft_warm: int  # steps not timed
    grpo_steps: int
    grpo_warm: int
    grpo_batch: int  # completions per step
    grpo_gens: int  # completions per prompt
    grpo_len: int  # new tokens per completion
    eval_prompts: int
    eval_new: int
    eval_batch: int
    budget_s: float  # the whole run
    slots: dict[str, tuple[float, float]]  # job name -> (most, least) seconds
    lora_r: int = 16


GPU = Plan(
    shape="qwen3-1.7b",
    seq=2048,
    batch=4,
    sft_steps=24,
    sft_warm=3,
    grpo_steps=5,
    grpo_warm=1,
    grpo_batch=16,
    grpo_gens=8,
    grpo_len=256,
    eval_prompts=1319,
    eval_new=256,
    eval_batch=128,
    budget_s=440.0,
    slots={
        "build": (100, 25),
        "sft_full/project": (60, 30),
        "sft_full/baseline": (60, 30),
        "sft_lora/project": (50, 30),
        "sft_lora/baseline": (50, 30),
        "grpo/project": (110, 50),
        "grpo/baseline": (70, 35),
        "eval/baseline": (65, 30),
        "eval/project": (110, 45),
    },
)
SMOKE = Plan(
    shape="tiny",
    seq=64,
    batch=2,
    sft_steps=4,
    sft_warm=1,
    grpo_steps=3,
    grpo_warm=1,
    grpo_batch=4,
    grpo_gens=2,
    grpo_len=8,
    eval_prompts=24,
    eval_new=8,
    eval_batch=8,
    budget_s=85.0,
    slots={},  # one child for all parts: only the whole budget applies
)
CASES = ("sft_full", "sft_lora", "grpo", "eval")


# ---------------------------------------------------------------- data (standard library only)


def gsm8k_prompts(n: int, rng: random.Random) -> list[str]:
    """GSM8K-shaped prompts: a word problem of 150-420 bytes (GSM8K's questions are about 240
    characters) between "Question:" and "Answer:"; with the byte tokenizer one byte is one token."""
    names = ["Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Mark", "Tina", "Randy", "Joy"]
    things = ["clips", "apples", "pages", "eggs", "marbles", "cookies", "tickets", "stamps", "books"]
    out = []
    for _ in range(n):
        parts = []
        target = rng.randint(150, 420)
        while sum(len(p) + 1 for p in parts) < target:
            a, b = rng.randint(2, 99), rng.randint(2, 12)
            who, what = rng.choice(names), rng.choice(things)
            parts.append(
                rng.choice(
                    [
                        f"{who} sold {a} {what} in April and {b} times as many in May.",
                        f"{who} earns ${b} an hour and worked {a} minutes yesterday.",
                        f"A box holds {a} {what}; {who} buys {b} boxes and gives away half.",
                        f"{who} reads {a} {what} a day for {b} days, then twice as many.",
                    ]
                )
            )
        out.append(f"Question: {' '.join(parts)} How many {rng.choice(things)} are left?\nAnswer:")
    return out


def write_data(tmp: Path, plan: Plan) -> dict[str, str]:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz "
    files = {k: tmp / f"{k}.jsonl" for k in ("sft", "grpo", "eval")}
    with open(files["sft"], "w") as fh:  # rows of exactly seq tokens (TRL appends EOS)
        for _ in range(plan.batch * (plan.sft_steps + 2)):
            n = plan.seq - 1
            cut = rng.randint(n // 4, n // 2)
            text = "".join(rng.choice(letters) for _ in range(n))
            fh.write(json.dumps({"prompt": text[:cut], "completion": text[cut:]}) + "\n")
    with open(files["grpo"], "w") as fh:
        for p in gsm8k_prompts(max(32, plan.grpo_batch * (plan.grpo_steps + 2)), rng):
            fh.write(json.dumps({"prompt": p[:96] + " Answer:"}) + "\n")
    with open(files["eval"], "w") as fh:
        for p in gsm8k_prompts(plan.eval_prompts, rng):
            fh.write(json.dumps({"prompt": p}) + "\n")
    (tmp / "reward.py").write_text(REWARD)
    return {k: str(v) for k, v in files.items()} | {"reward": str(tmp / "reward.py")}


def make_jobs(tmp: Path, plan: Plan, data: dict[str, str]) -> list[dict]:
    model = str(tmp / "model")
    jobs: list[dict] = [{"name": "build", "kind": "build", "shape": plan.shape, "out": model}]
    for case, lora in (("sft_full", False), ("sft_lora", True)):
        spec = {
            "mode": "train",
            "method": "sft",
            "base_model": model,
            "dataset": data["sft"],
            "output_dir": str(tmp / f"{case}-project"),
            "max_steps": plan.sft_steps,
            "per_device_train_batch_size": plan.batch,
            "max_length": plan.seq,
            "lora": lora,
            "lora_r": plan.lora_r,
            "learning_rate": 1e-5,
        }
        jobs.append({"name": f"{case}/project", "kind": "worker", "spec": spec, "steps": plan.sft_steps})
        jobs.append(
            {
                "name": f"{case}/baseline",
                "kind": "trl_sft",
                "model": model,
                "data": data["sft"],
                "out": str(tmp / f"{case}-trl"),
                "steps": plan.sft_steps,
                "batch": plan.batch,
                "seq": plan.seq,
                "lora": lora,
                "lora_r": plan.lora_r,
            }
        )
    grpo = {
        "mode": "train",
        "method": "grpo",
        "base_model": model,
        "dataset": data["grpo"],
        "output_dir": str(tmp / "grpo-project"),
        "max_steps": plan.grpo_steps,
        "per_device_train_batch_size": plan.grpo_batch,
        "num_generations": plan.grpo_gens,
        "max_completion_length": plan.grpo_len,
        "reward_file": data["reward"],
        "learning_rate": 1e-6,
        "sandbox": "auto",
    }
    jobs.append({"name": "grpo/project", "kind": "worker", "spec": grpo, "steps": plan.grpo_steps})
    jobs.append(
        {
            "name": "grpo/baseline",
            "kind": "trl_grpo",
            "model": model,
            "data": data["grpo"],
            "reward_file": data["reward"],
            "out": str(tmp / "grpo-trl"),
            "steps": plan.grpo_steps,
            "batch": plan.grpo_batch,
            "num_generations": plan.grpo_gens,
            "completion_len": plan.grpo_len,
        }
    )
    ev = {"model": model, "prompts": data["eval"], "max_new": plan.eval_new}
    hf_slot = plan.slots.get("eval/baseline", (plan.budget_s, 0))[0]
    jobs.append({"name": "eval/baseline", "kind": "eval_hf", **ev, "batch": plan.eval_batch, "time_s": hf_slot / 2})
    jobs.append({"name": "eval/project", "kind": "eval_vllm", **ev, "max_model_len": 1024})
    return jobs
