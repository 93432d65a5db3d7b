"""SFT training jobs for the model worker (`{"mode": "train", "method": "sft", ...}`): TRL's
SFTTrainer on a prompt/completion dataset, loss on completion tokens only. Checkpoints, lineage,
metrics, NaN/SIGTERM handling and dev evaluation: agent_core.ml.train_common and
agent_core.ml.callbacks. The spec: agent_core.training.spec.TrainSpec."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent_core.ml import protocol
from agent_core.ml import train_common as tc
from agent_core.ml.data import read_dataset
from agent_core.ml.models import load_model_and_tokenizer, quiet_libraries
from agent_core.ml.protocol import bad
from agent_core.training.spec import TrainSpec


def run_sft(spec: TrainSpec, spec_hash: str) -> dict:
    setup = tc.prepare(spec, spec_hash)
    rows = read_dataset(spec.dataset)

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
    lineage_base = tc.lineage_base(setup)
    cb = ProtocolCallback(
        **protocol.callback_kwargs(),
        method="sft",
        flops_per_token=tc.flops_per_token(model, spec.lora),
        save_steps=spec.save_steps,
        eval_steps=spec.eval_steps,
        evaluate=tc.make_evaluator(setup, tokenizer),
    )
    cb.save = tc.intermediate_saver(setup, tokenizer, trainer_ref, cb, lineage_base)
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=tc.peft_config(spec),
            callbacks=[cb],
        )
    except ValueError as exc:
        raise bad(f"train: {exc}") from None
    trainer_ref["trainer"] = trainer
    return tc.train_and_finish(trainer, cb, setup, tokenizer, lineage_base, t0)
