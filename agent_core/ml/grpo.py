"""GRPO training jobs for the model worker (`{"mode": "train", "method": "grpo", ...}`).

TRL's GRPOTrainer/GRPOConfig with the reward computed by a workspace Python file through
agent_core.ml.reward_sandbox (a fenced child process: a crash or hang scores 0 and is counted, never
kills the job). Checkpoints, lineage, metrics, NaN/SIGTERM handling and dev evaluation are the
same as SFT's (agent_core.ml.train_common, agent_core.ml.callbacks). The spec:
agent_core.training.spec.TrainSpec.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from agent_core.ml import protocol
from agent_core.ml import train_common as tc
from agent_core.ml.models import load_model_and_tokenizer, quiet_libraries
from agent_core.ml.protocol import bad
from agent_core.training.spec import TrainSpec
from agent_core.training.templates import message_problem

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


def read_prompts(path: str) -> list[dict[str, Any]]:
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
                raise bad(
                    f"{p}:{lineno}: field 'prompt' must be a non-empty string (or a list of {{role, content}} messages)"
                )
            if "completion" in obj:
                if "expected" in obj:
                    raise bad(
                        f"{p}:{lineno}: has both 'completion' and 'expected' (the "
                        f"reference completion is passed to the reward as 'expected')"
                    )
                obj["expected"] = obj.pop("completion")
            unusable = [k for k in obj if k != "prompt" and (k in RESERVED_FIELDS or not k.isidentifier())]
            if unusable:
                raise bad(
                    f"{p}:{lineno}: field name(s) {unusable} cannot be passed to a reward "
                    f"function (reserved or not an identifier)"
                )
            rows.append(obj)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not rows:
        raise bad(f"dataset {p} is empty")
    return rows


def _is_chat(prompt: Any) -> bool:
    return message_problem(prompt) is None


def _text(completion: Any) -> str:
    """A conversational completion ([{"role": "assistant", "content": ...}]) as its text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def make_reward_func(box, name: str, field_keys: list[str], originals: dict[str, Any] | None = None):
    """A TRL reward function (batch in, list of floats out) that scores through the sandbox. TRL
    sees rendered prompts; `originals` maps each back to the dataset's prompt the reward gets."""
    originals = originals or {}

    def reward_func(prompts, completions, completion_ids=None, **kwargs):  # noqa: ARG001
        items = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            fields = {k: kwargs[k][i] for k in field_keys if k in kwargs}
            items.append(
                (originals.get(prompt, prompt) if isinstance(prompt, str) else prompt, _text(completion), fields)
            )
        return box.score(name, items)

    reward_func.__name__ = name
    reward_func.__qualname__ = name
    return reward_func


def _use_vllm(want: bool | None, on_gpu: bool) -> bool:
    if want is None:
        return on_gpu and importlib.util.find_spec("vllm") is not None
    return bool(want) and on_gpu and importlib.util.find_spec("vllm") is not None


def run_grpo(spec: TrainSpec, spec_hash: str) -> dict:
    from agent_core.ml.reward_sandbox import RewardFileError, RewardSandbox

    setup = tc.prepare(spec, spec_hash)
    world = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    batch, accum, group = spec.per_device_train_batch_size, spec.gradient_accumulation_steps, spec.num_generations
    if (batch * accum * world) % group:
        raise bad(
            f"grpo: per_device_train_batch_size ({batch}) x gradient_accumulation_steps "
            f"({accum}) x processes ({world}) counts completions and must be a multiple "
            f"of num_generations ({group})"
        )
    reward_file = Path(spec.reward_file).expanduser()
    rows = read_prompts(spec.dataset)
    field_keys = sorted({k for r in rows for k in r if k != "prompt"})

    # The reward file is imported (in the child) before anything heavy is loaded.
    try:
        box = RewardSandbox(
            reward_file,
            spec.reward_functions,
            timeout_s=spec.reward_timeout_s,
            batch_timeout_s=spec.reward_batch_timeout_s,
            cwd=spec.reward_cwd,
            fenced=spec.sandbox != "none",
        )
    except RewardFileError as exc:
        raise bad(f"reward_file: {exc}") from None
    try:
        return _train(setup, box, rows, field_keys, str(reward_file))
    finally:
        box.close()


def _train(setup: tc.TrainSetup, box, rows, field_keys, reward_file: str) -> dict:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from agent_core.ml.callbacks import CompletionSample, ProtocolCallback

    spec = setup.spec
    quiet_libraries()
    on_gpu = torch.cuda.is_available()
    attn = tc.spec_speed(spec, on_gpu)["attn_implementation"]
    model, tokenizer = load_model_and_tokenizer(
        Path(setup.init_from or setup.base_model),
        for_training=True,
        num_threads=spec.num_threads,
        attn_implementation=attn,
    )
    model.config.use_cache = not spec.gradient_checkpointing
    # one rendering (agent_core.ml.rendering): TRL gets the rendered prompt strings, the reward the rows' own
    render = tc.renderer(setup, tokenizer)
    originals: dict[str, Any] = {}
    for r in rows:
        text = render.prompt(r["prompt"])
        originals[text], r["prompt"] = r["prompt"], text
    try:
        dataset = Dataset.from_list(rows)
    except Exception as exc:  # pyarrow: a field with different types on different lines
        raise bad(f"dataset {spec.dataset}: {type(exc).__name__}: {exc}") from None
    extra_args: dict[str, Any] = {}
    if spec.loss_type:
        extra_args["loss_type"] = spec.loss_type
    if spec.scale_rewards:
        extra_args["scale_rewards"] = spec.scale_rewards
    if _use_vllm(spec.use_vllm, on_gpu):
        extra_args.update(use_vllm=True, vllm_mode="colocate")
    try:
        args = GRPOConfig(
            **tc.trainer_args(setup, on_gpu, on_gpu and torch.cuda.is_bf16_supported()),
            num_generations=spec.num_generations,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_completion_length=spec.max_completion_length,
            beta=spec.beta,
            log_completions=False,
            gradient_checkpointing=spec.gradient_checkpointing,
            **extra_args,
        )
    except ValueError as exc:
        raise bad(f"grpo: {exc}") from None

    t0 = time.monotonic()
    trainer_ref: dict[str, Any] = {}
    lineage = tc.lineage_base(setup, render)
    lineage.update(reward_file=reward_file, reward_functions=list(spec.reward_functions))

    def reward_stats() -> dict:
        return {"reward_errors": box.stats["errors"], "reward_timeouts": box.stats["timeouts"]}

    sample = CompletionSample(spec.num_generations, spec.max_completion_length)  # the Outputs pane's
    cb = ProtocolCallback(
        **protocol.callback_kwargs(),
        completions=sample.take,
        method="grpo",
        flops_per_token=None,
        save_steps=spec.save_steps,
        eval_steps=spec.eval_steps,
        evaluate=tc.make_evaluator(setup, tokenizer, render),
        extra=reward_stats,
    )
    cb.save = tc.intermediate_saver(setup, tokenizer, trainer_ref, cb, lineage)
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[sample.wrap(make_reward_func(box, n, field_keys, originals)) for n in spec.reward_functions],
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=tc.peft_config(spec),
            callbacks=[cb],
        )
    except ValueError as exc:
        raise bad(f"grpo: {exc}") from None
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

    return tc.train_and_finish(trainer, cb, setup, tokenizer, lineage, t0, extra_result=final_stats)
