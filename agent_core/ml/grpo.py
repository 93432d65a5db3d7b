"""GRPO training jobs for the model worker (`{"mode": "train", "method": "grpo", ...}`).

TRL's GRPOTrainer/GRPOConfig with the reward computed by a workspace Python file through
agent_core.ml.reward_sandbox (a fenced child process: a crash or hang scores 0 and is counted, never
kills the job). Checkpoints, lineage, metrics, NaN/SIGTERM handling and dev evaluation are the
same as SFT's (agent_core.ml.train_common, agent_core.ml.callbacks). The spec fields are
documented in the worker's module docstring.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

RESERVED_FIELDS = (
    "prompt",
    "completion",
    "completion_ids",
    "prompts",
    "completions",
    "trainer_state",
    "log_extra",
    "log_metric",
    "environments",
)


def read_prompts(w, path: str) -> list[dict[str, Any]]:
    """Rows of a GRPO dataset: a JSON object per line with "prompt" (a non-empty string, or a
    list of chat messages) and any other fields, which reach the reward as keyword arguments.
    A "completion" field (the reference answer of a prompt/completion file) is passed as
    `expected`."""
    from agent_core.record import jsonl

    p = Path(path).expanduser()
    rows: list[dict[str, Any]] = []
    try:
        for lineno, obj in jsonl.objects(p):
            prompt = obj.get("prompt")
            if not (isinstance(prompt, str) and prompt) and not _is_chat(prompt):
                raise w._bad(
                    f"{p}:{lineno}: field 'prompt' must be a non-empty string (or a list of {{role, content}} messages)"
                )
            if "completion" in obj:
                if "expected" in obj:
                    raise w._bad(
                        f"{p}:{lineno}: has both 'completion' and 'expected' (the "
                        f"reference completion is passed to the reward as 'expected')"
                    )
                obj["expected"] = obj.pop("completion")
            bad = [k for k in obj if k != "prompt" and (k in RESERVED_FIELDS or not k.isidentifier())]
            if bad:
                raise w._bad(
                    f"{p}:{lineno}: field name(s) {bad} cannot be passed to a reward "
                    f"function (reserved or not an identifier)"
                )
            rows.append(obj)
    except ValueError as exc:
        raise w._bad(str(exc)) from None
    if not rows:
        raise w._bad(f"dataset {p} is empty")
    return rows


def _is_chat(prompt: Any) -> bool:
    return (
        isinstance(prompt, list)
        and bool(prompt)
        and all(isinstance(m, dict) and isinstance(m.get("content"), str) and "role" in m for m in prompt)
    )


def _text(completion: Any) -> str:
    """A conversational completion ([{"role": "assistant", "content": ...}]) as its text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def make_reward_func(box, name: str, field_keys: list[str]):
    """A TRL reward function (batch in, list of floats out) that scores through the sandbox."""

    def reward_func(prompts, completions, completion_ids=None, **kwargs):  # noqa: ARG001
        items = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            fields = {k: kwargs[k][i] for k in field_keys if k in kwargs}
            items.append((prompt, _text(completion), fields))
        return box.score(name, items)

    reward_func.__name__ = name
    reward_func.__qualname__ = name
    return reward_func


def _use_vllm(spec: dict, on_gpu: bool) -> bool:
    want = spec.get("use_vllm")
    if want is None:
        return on_gpu and importlib.util.find_spec("vllm") is not None
    return bool(want) and on_gpu and importlib.util.find_spec("vllm") is not None


def run_grpo(spec: dict, w) -> dict:
    from agent_core.ml import train_common as tc
    from agent_core.ml.reward_sandbox import RewardFileError, RewardSandbox

    num_generations = w._opt(spec, "num_generations", 8, int)
    if num_generations < 2:
        raise w._bad("grpo: num_generations must be at least 2 (advantages compare completions of a prompt)")
    # per_device_train_batch_size counts completions (TRL): default 4 prompts per step
    o = tc.parse_common(w, spec, lr_default=1e-5, batch_default=4 * num_generations)
    temperature = w._opt(spec, "temperature", 1.0, float)
    top_p = w._opt(spec, "top_p", 1.0, float)
    max_completion_length = w._opt(spec, "max_completion_length", 128, int)
    beta = w._opt(spec, "beta", 0.04, float)
    loss_type = w._opt(spec, "loss_type", None, str)
    scale_rewards = w._opt(spec, "scale_rewards", None, str)
    grad_ckpt = bool(spec.get("gradient_checkpointing", False))
    timeout_s = w._opt(spec, "reward_timeout_s", 10.0, float)
    batch_timeout_s = w._opt(spec, "reward_batch_timeout_s", 300.0, float)
    names = spec.get("reward_functions") or ["reward"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise w._bad("grpo: reward_functions must be a list of function names in the reward file")
    if temperature <= 0 or not 0 < top_p <= 1 or max_completion_length < 1 or beta < 0:
        raise w._bad("grpo: temperature and max_completion_length must be positive, 0 < top_p <= 1, beta >= 0")
    if timeout_s <= 0 or batch_timeout_s <= 0:
        raise w._bad("grpo: reward timeouts must be positive")
    world = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    if (o.batch * o.accum * world) % num_generations:
        raise w._bad(
            f"grpo: per_device_train_batch_size ({o.batch}) x gradient_accumulation_steps "
            f"({o.accum}) x processes ({world}) counts completions and must be a multiple "
            f"of num_generations ({num_generations})"
        )
    reward_file = Path(w._req(spec, "reward_file")).expanduser()
    rows = read_prompts(w, o.dataset_path)
    field_keys = sorted({k for r in rows for k in r if k != "prompt"})

    # The reward file is imported (in the child) before anything heavy is loaded.
    try:
        box = RewardSandbox(
            reward_file,
            names,
            timeout_s=timeout_s,
            batch_timeout_s=batch_timeout_s,
            cwd=w._opt(spec, "reward_cwd", None, str),
            fenced=spec.get("sandbox", "bwrap") != "none",
        )
    except RewardFileError as exc:
        raise w._bad(f"reward_file: {exc}") from None
    try:
        return _train(
            spec,
            w,
            tc,
            o,
            box,
            rows,
            field_keys,
            names,
            dict(
                num_generations=num_generations,
                temperature=temperature,
                top_p=top_p,
                max_completion_length=max_completion_length,
                beta=beta,
                grad_ckpt=grad_ckpt,
                loss_type=loss_type,
                scale_rewards=scale_rewards,
                reward_file=str(reward_file),
            ),
        )
    finally:
        box.close()


def _train(spec, w, tc, o, box, rows, field_keys, names, g) -> dict:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from agent_core.ml.callbacks import ProtocolCallback

    w._quiet_libraries()
    try:
        dataset = Dataset.from_list(rows)
    except Exception as exc:  # pyarrow: a field with different types on different lines
        raise w._bad(f"dataset {o.dataset_path}: {type(exc).__name__}: {exc}") from None
    on_gpu = torch.cuda.is_available()
    attn = tc.speed_defaults(spec, on_gpu)["attn_implementation"]
    model, tokenizer = w._load_model_and_tokenizer(
        Path(o.init_from or o.base_model), for_training=True, spec=spec, attn_implementation=attn
    )
    model.config.use_cache = not g["grad_ckpt"]
    use_vllm = _use_vllm(spec, on_gpu)
    extra_args: dict[str, Any] = {}
    if g["loss_type"]:
        extra_args["loss_type"] = g["loss_type"]
    if g["scale_rewards"]:
        extra_args["scale_rewards"] = g["scale_rewards"]
    if use_vllm:
        extra_args.update(use_vllm=True, vllm_mode="colocate")
    try:
        args = GRPOConfig(
            **tc.trainer_args(o, on_gpu, on_gpu and torch.cuda.is_bf16_supported()),
            num_generations=g["num_generations"],
            temperature=g["temperature"],
            top_p=g["top_p"],
            max_completion_length=g["max_completion_length"],
            beta=g["beta"],
            log_completions=False,
            gradient_checkpointing=g["grad_ckpt"],
            **extra_args,
        )
    except ValueError as exc:
        raise w._bad(f"grpo: {exc}") from None

    t0 = time.monotonic()
    trainer_ref: dict[str, Any] = {}
    lineage = tc.lineage_base(w, spec, o)
    lineage.update(reward_file=g["reward_file"], reward_functions=names)

    def reward_stats() -> dict:
        return {"reward_errors": box.stats["errors"], "reward_timeouts": box.stats["timeouts"]}

    cb = ProtocolCallback(
        **tc.protocol_kwargs(w),
        method="grpo",
        flops_per_token=None,
        save_steps=o.save_steps,
        eval_steps=o.eval_steps,
        evaluate=tc.make_evaluator(w, o, tokenizer),
        extra=reward_stats,
    )
    cb.save = tc.intermediate_saver(w, o, tokenizer, trainer_ref, cb, lineage)
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[make_reward_func(box, n, field_keys) for n in names],
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=tc.peft_config(o),
            callbacks=[cb],
        )
    except ValueError as exc:
        raise w._bad(f"grpo: {exc}") from None
    trainer_ref["trainer"] = trainer

    def final_stats() -> dict:
        out = {
            "reward_errors": box.stats["errors"],
            "reward_timeouts": box.stats["timeouts"],
            "reward_calls": box.stats["calls"],
        }
        if box.stats["first_error"]:
            out["reward_first_error"] = box.stats["first_error"]
        return out

    return tc.train_and_finish(w, trainer, cb, o, tokenizer, lineage, t0, extra_result=final_stats)
