"""Job plumbing shared by the worker's SFT (agent_core.ml.sft) and GRPO (agent_core.ml.grpo) jobs:
the train spec checked against the filesystem (TrainSetup), the LoRA config, the dev-split
evaluator, the trainer arguments both share, and the end of a job (NaN verdict, final
checkpoint with lineage, result line).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.ml import protocol
from agent_core.ml.data import read_dataset
from agent_core.ml.generation import Settings, generate
from agent_core.ml.models import model_dir, save_checkpoint
from agent_core.ml.protocol import JobError, bad
from agent_core.ml.rendering import Renderer, requested_template
from agent_core.training.spec import TrainSpec


@dataclass(frozen=True)
class TrainSetup:
    """A train spec checked against the filesystem: the model folders it names (expanded), a new
    output folder, the Trainer's scratch folder beside it, and the dev rows it scores."""

    spec: TrainSpec
    spec_hash: str  # of the spec file's JSON object, recorded in lineage.json
    base_model: str
    init_from: str | None
    output_dir: Path
    scratch: Path
    eval_rows: list[dict[str, Any]] | None
    template: str  # the template asked for: the spec's, else init_from's lineage, else "auto"


def prepare(spec: TrainSpec, spec_hash: str) -> TrainSetup:
    """JobError(bad_input) for a model folder without config.json, an output_dir that holds files,
    an eval_scorer that cannot be built, or unreadable dev rows."""
    base_model = str(model_dir(spec.base_model, "base_model"))
    init_from = str(model_dir(spec.init_from, "init_from")) if spec.init_from is not None else None
    output_dir = Path(spec.output_dir).expanduser()
    if output_dir.exists() and any(output_dir.iterdir()):
        raise bad(f"train: output_dir {output_dir} already exists and is not empty")
    if spec.eval_scorer is not None:
        from agent_core.training.tasks import make_scorer

        try:
            make_scorer(spec.eval_scorer)
        except ValueError as exc:
            raise bad(f"train: eval_scorer: {exc}") from None
    eval_rows = None
    if spec.eval_dataset:
        eval_rows = read_dataset(spec.eval_dataset)[: spec.eval_limit or None]
    return TrainSetup(
        spec=spec,
        spec_hash=spec_hash,
        base_model=base_model,
        init_from=init_from,
        output_dir=output_dir,
        scratch=output_dir.parent / f".{output_dir.name}.trainer",
        eval_rows=eval_rows,
        template=requested_template(spec.template, init_from),
    )


def renderer(setup: TrainSetup, tokenizer) -> Renderer:
    """The job's one rendering of prompts (training rows, dev evaluation, lineage.json's `template`)."""
    try:
        return Renderer(setup.template, tokenizer)
    except ValueError as exc:
        raise bad(f"train: {exc}") from None


def peft_config(spec: TrainSpec):
    if not spec.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        lora_dropout=spec.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def make_evaluator(setup: TrainSetup, tokenizer, render: Renderer):
    """(model) -> mean score of the completions of the eval rows' prompts, rendered as in training
    and generated with the eval_* settings (exact match, or the spec's "eval_scorer"), or None
    without eval rows."""
    if not setup.eval_rows:
        return None
    from agent_core.training.tasks import score_exact

    if setup.spec.eval_scorer is not None:
        from agent_core.training.tasks import make_scorer

        scorer = make_scorer(setup.spec.eval_scorer)
    else:

        def scorer(prompt: str, got: str, expected: str) -> float:
            return 1.0 if score_exact(got, expected) else 0.0

    from agent_core.training.templates import prompt_text

    rows = setup.eval_rows
    prompts = [render.prompt(r["prompt"]) for r in rows]
    s = setup.spec
    stop = tuple(dict.fromkeys([*s.eval_stop, *render.stop]))
    settings = Settings(s.eval_max_new_tokens, stop, s.eval_temperature, s.eval_top_p, 128)

    def evaluate(model) -> float:
        was_training = model.training
        side = tokenizer.padding_side
        cfg = getattr(model, "config", None)
        use_cache = getattr(cfg, "use_cache", None)
        try:
            if cfg is not None:
                cfg.use_cache = True
            preds = generate(model, tokenizer, prompts, settings)
        finally:
            tokenizer.padding_side = side
            if cfg is not None:
                cfg.use_cache = use_cache
            model.train(was_training)
        return sum(float(scorer(prompt_text(r["prompt"]), p, r["completion"])) for p, r in zip(preds, rows)) / len(rows)

    return evaluate


def lineage_base(setup: TrainSetup, render: Renderer) -> dict:
    return {
        "template": render.name,
        "base_model": setup.base_model,
        "parent": setup.init_from,
        "spec_hash": setup.spec_hash,
        "method": setup.spec.method,
        "lora": setup.spec.lora,
        "dataset": str(Path(setup.spec.dataset).expanduser()),
    }


def flops_per_token(model, lora: bool) -> float:
    """Training FLOPs per token: 6N for a full fine-tune, 4N for LoRA (no weight gradients for the
    frozen base), N = the base model's parameters. The attention term is left out (a lower bound)."""
    params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    return (4.0 if lora else 6.0) * params


def intermediate_saver(setup: TrainSetup, tokenizer, trainer_ref: dict, cb, lineage: dict):
    def save(step: int) -> str:
        path = setup.output_dir / f"step-{step}"
        save_checkpoint(
            trainer_ref["trainer"].model,
            tokenizer,
            path,
            setup.spec.lora,
            {**lineage, "steps": step, "stopped": False, "final_loss": cb.final_loss, **setup.spec.lineage},
            final=False,
        )
        return str(path)

    return save


def train_and_finish(trainer, cb, setup: TrainSetup, tokenizer, lineage: dict, t0: float, extra_result=None) -> dict:
    """Run trainer.train(), then: NaN -> JobError(nan); else save the final checkpoint (merged for
    LoRA) with lineage.json and return the result dict. `extra_result` (a dict, or a callable
    returning one after training) is added to both."""
    cb.model, cb.trainer = trainer.model, trainer
    try:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it prints every log dict; stdout is ours
    except Exception:
        pass
    try:
        train_out = trainer.train()
    finally:
        shutil.rmtree(setup.scratch, ignore_errors=True)
    steps = int(trainer.state.global_step)
    if cb.nan_step is not None:
        raise JobError(
            "nan",
            f"training diverged: loss or gradient norm is NaN/inf at step "
            f"{cb.nan_step} (learning rate {setup.spec.learning_rate:g}); no checkpoint saved",
            cb.nan_step,
        )
    if cb.final_loss is None and train_out is not None:
        cb.final_loss = getattr(train_out, "training_loss", None)
    extra = dict((extra_result() if callable(extra_result) else extra_result) or {})
    if cb.last_score is not None:
        extra["dev_score"] = cb.last_score
    seconds = time.monotonic() - t0
    lineage = {
        **lineage,
        "steps": steps,
        "stopped": cb.stopped,
        "final_loss": cb.final_loss,
        "seconds": round(seconds, 3),
        **extra,
        **setup.spec.lineage,
    }
    # SIGTERM during the save is deferred: the checkpoint is completed first.
    save_checkpoint(trainer.model, tokenizer, setup.output_dir, setup.spec.lora, lineage, final=True)
    protocol.emit({"event": "checkpoint", "path": str(setup.output_dir), "step": steps})
    return {
        "checkpoint": str(setup.output_dir),
        "steps": steps,
        "final_loss": cb.final_loss,
        "stopped": cb.stopped,
        "seconds": round(time.monotonic() - t0, 3),
        **extra,
    }


def speed_defaults(
    on_gpu: bool,
    *,
    attn_implementation: str | None = None,
    packing: bool | None = None,
    use_liger_kernel: bool | None = None,
) -> dict[str, Any]:
    """What a careful engineer turns on for speed, by what is installed. On CPU: nothing (the
    configs already say use_cpu, no bf16, no gradient checkpointing). On a GPU: the fastest
    attention available (FlashAttention 2 when `flash_attn` imports, else PyTorch SDPA), packed
    padding-free SFT batches (TRL's "bfd" packing) only with FlashAttention, whose varlen kernels
    keep packed sequences apart, and Liger kernels when `liger_kernel` imports. The spec's
    values (None: not set) override each.
    Returns {"attn_implementation": str | None, "packing": bool, "use_liger_kernel": bool}."""
    import importlib.util

    def has(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    attn = None
    if on_gpu:
        attn = "flash_attention_2" if has("flash_attn") else "sdpa"
    attn = attn_implementation or attn
    if packing is None:
        packing = bool(on_gpu and attn == "flash_attention_2")
    if use_liger_kernel is None:
        use_liger_kernel = bool(on_gpu and has("liger_kernel"))
    return {"attn_implementation": attn, "packing": bool(packing), "use_liger_kernel": bool(use_liger_kernel)}


def spec_speed(spec: TrainSpec, on_gpu: bool) -> dict[str, Any]:
    """speed_defaults with the spec's overrides."""
    return speed_defaults(
        on_gpu,
        attn_implementation=spec.attn_implementation,
        packing=spec.packing,
        use_liger_kernel=spec.use_liger_kernel,
    )


def trainer_args(setup: TrainSetup, on_gpu: bool, bf16_ok: bool) -> dict[str, Any]:
    """The TrainingArguments that SFT and GRPO share: the job's hyperparameters, the horizon
    (epochs or max_steps, so any schedule spans the real job), a metric line at every log
    step with NaN kept visible, no trainer-side saves or reporting (the worker saves and
    reports), and the device settings (CPU: use_cpu, no bf16)."""
    s = setup.spec
    return dict(
        output_dir=str(setup.scratch),
        learning_rate=s.learning_rate,
        num_train_epochs=s.num_train_epochs,
        max_steps=s.max_steps if s.max_steps is not None else -1,
        per_device_train_batch_size=s.per_device_train_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        lr_scheduler_type=s.lr_scheduler_type,
        warmup_steps=s.warmup_steps,
        weight_decay=s.weight_decay,
        adam_beta2=s.adam_beta2,
        max_grad_norm=s.max_grad_norm,
        logging_steps=s.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=bool(on_gpu and bf16_ok),
        fp16=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
        seed=s.seed,
        data_seed=s.seed,
    )
