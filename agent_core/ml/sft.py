"""SFT training jobs for the model worker (`{"mode": "train", "method": "sft", ...}`): TRL's
SFTTrainer on a dataset in any of agent_core.ml.data's formats, rendered with the job's template
(agent_core.ml.rendering), loss on the completion / assistant tokens only. Checkpoints, lineage,
metrics, NaN/SIGTERM handling and dev evaluation: agent_core.ml.train_common and
agent_core.ml.callbacks. The spec: agent_core.training.spec.TrainSpec."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent_core.ml import protocol
from agent_core.ml import train_common as tc
from agent_core.ml.data import MESSAGES, read_rows
from agent_core.ml.models import load_model_and_tokenizer, quiet_libraries
from agent_core.ml.protocol import bad
from agent_core.training.spec import TrainSpec


def run_sft(spec: TrainSpec, spec_hash: str) -> dict:
    setup = tc.prepare(spec, spec_hash)
    fmt, rows = read_rows(spec.dataset)

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from agent_core.ml.callbacks import ProtocolCallback

    quiet_libraries()
    on_gpu = torch.cuda.is_available()
    speed = tc.spec_speed(spec, on_gpu)
    model, tokenizer = load_model_and_tokenizer(
        Path(setup.init_from or setup.base_model),
        for_training=True,
        num_threads=spec.num_threads,
        attn_implementation=speed["attn_implementation"],
    )
    tokenizer.padding_side = "right"
    model.config.use_cache = False
    render = tc.renderer(setup, tokenizer)
    train_rows = _rendered(render, fmt, rows, spec.dataset)

    args = SFTConfig(
        **tc.trainer_args(setup, on_gpu, on_gpu and torch.cuda.is_bf16_supported()),
        max_length=spec.max_length,
        completion_only_loss=True,
        packing=speed["packing"],  # packed "bfd" batches are padding-free
        use_liger_kernel=speed["use_liger_kernel"],
        gradient_checkpointing=False,
    )

    t0 = time.monotonic()
    trainer_ref: dict[str, Any] = {}
    lineage_base = tc.lineage_base(setup, render)
    cb = ProtocolCallback(
        **protocol.callback_kwargs(),
        method="sft",
        flops_per_token=tc.flops_per_token(model, spec.lora),
        save_steps=spec.save_steps,
        eval_steps=spec.eval_steps,
        evaluate=tc.make_evaluator(setup, tokenizer, render),
    )
    cb.save = tc.intermediate_saver(setup, tokenizer, trainer_ref, cb, lineage_base)
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train_rows),
            processing_class=tokenizer,
            peft_config=tc.peft_config(spec),
            callbacks=[cb],
        )
    except ValueError as exc:
        raise bad(f"train: {exc}") from None
    trainer_ref["trainer"] = trainer
    return tc.train_and_finish(trainer, cb, setup, tokenizer, lineage_base, t0)


def _rendered(render, fmt: str, rows: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The training rows as TRL takes them: rendered prompt/completion strings (TRL tokenizes them
    and appends eos), or, for whole conversations, token ids with the assistant turns' mask."""
    out = []
    for i, r in enumerate(rows, 1):
        try:
            if fmt == MESSAGES:
                out.append(render.tokenize_conversation(r["messages"]))
            else:
                out.append(
                    {
                        "prompt": render.prompt(r["prompt"]),
                        "completion": render.completion(r["prompt"], r["completion"]),
                    }
                )
        except ValueError as exc:
            raise bad(f"{path}: row {i}: {exc}") from None
    return out
