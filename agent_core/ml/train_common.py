"""Job plumbing shared by the worker's SFT (worker.run_train) and GRPO (agent_core.ml.grpo) jobs:
the common spec options, the LoRA config, the dev-split evaluator, and the end of a job (NaN
verdict, final checkpoint with lineage, result line).

Every function takes the worker module `w` (the worker runs as __main__, so importing it by
name would load a second copy with its own JobError and SIGTERM flag).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def parse_common(
    w, spec: dict, *, lr_default: float, batch_default: int, scheduler_default: str = "constant"
) -> SimpleNamespace:
    """Validate the options SFT and GRPO share; JobError(bad_input) on anything wrong."""
    o = SimpleNamespace()
    o.method = spec.get("method", "sft")
    o.base_model = str(w._model_dir(w._req(spec, "base_model"), "base_model"))
    o.init_from = spec.get("init_from")
    if o.init_from is not None:
        o.init_from = str(w._model_dir(str(o.init_from), "init_from"))
    o.dataset_path = w._req(spec, "dataset")
    o.output_dir = Path(w._req(spec, "output_dir")).expanduser()
    if o.output_dir.exists() and any(o.output_dir.iterdir()):
        raise w._bad(f"train: output_dir {o.output_dir} already exists and is not empty")
    o.lora = bool(spec.get("lora", False))
    o.lora_r = w._opt(spec, "lora_r", 16, int)
    o.lora_alpha = w._opt(spec, "lora_alpha", 2 * o.lora_r, int)
    o.lora_dropout = w._opt(spec, "lora_dropout", 0.0, float)
    o.lr = w._opt(spec, "learning_rate", lr_default, float)
    o.epochs = w._opt(spec, "num_train_epochs", 1.0, float)
    o.max_steps = w._opt(spec, "max_steps", -1, int)
    o.batch = w._opt(spec, "per_device_train_batch_size", batch_default, int)
    o.accum = w._opt(spec, "gradient_accumulation_steps", 1, int)
    o.scheduler = w._opt(spec, "lr_scheduler_type", scheduler_default, str)
    o.warmup = w._opt(spec, "warmup_steps", 0, int)
    o.weight_decay = w._opt(spec, "weight_decay", 0.0, float)
    o.adam_beta2 = w._opt(spec, "adam_beta2", 0.999, float)
    o.max_grad_norm = w._opt(spec, "max_grad_norm", 1.0, float)
    o.logging_steps = w._opt(spec, "logging_steps", 1, int)
    o.save_steps = w._opt(spec, "save_steps", 0, int)
    o.seed = w._opt(spec, "seed", 0, int)
    o.extra_lineage = w._opt(spec, "lineage", {}, dict)
    if o.batch < 1 or o.accum < 1 or o.logging_steps < 1 or (o.max_steps == 0) or o.epochs <= 0 or o.lr <= 0:
        raise w._bad("train: batch size, accumulation, logging_steps, max_steps, epochs and lr must be positive")
    if o.warmup < 0:
        raise w._bad("train: warmup_steps must be >= 0")
    # periodic dev evaluation
    o.eval_dataset = w._opt(spec, "eval_dataset", None, str)
    o.eval_steps = w._opt(spec, "eval_steps", 0, int)
    o.eval_limit = w._opt(spec, "eval_limit", None, int)
    o.eval_max_new_tokens = w._opt(spec, "eval_max_new_tokens", 16, int)
    if o.eval_steps < 0 or (o.eval_limit is not None and o.eval_limit < 1):
        raise w._bad("train: eval_steps must be >= 0 and eval_limit positive")
    if o.eval_steps and not o.eval_dataset:
        raise w._bad("train: eval_steps needs an eval_dataset (a prompt/completion jsonl)")
    o.eval_scorer = w._opt(spec, "eval_scorer", None, dict)
    if o.eval_scorer is not None:
        from agent_core.training.tasks import make_scorer

        try:
            make_scorer(o.eval_scorer)
        except ValueError as exc:
            raise w._bad(f"train: eval_scorer: {exc}") from None
    o.eval_rows = None
    if o.eval_dataset:
        o.eval_rows = w.read_dataset(o.eval_dataset)[: o.eval_limit or None]
    o.scratch = o.output_dir.parent / f".{o.output_dir.name}.trainer"
    return o


def peft_config(o: SimpleNamespace):
    if not o.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=o.lora_r,
        lora_alpha=o.lora_alpha,
        lora_dropout=o.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def make_evaluator(w, o: SimpleNamespace, tokenizer):
    """(model) -> mean score of greedy completions on the eval rows (exact match, or the spec's
    "eval_scorer"), or None without eval rows."""
    if not o.eval_rows:
        return None
    from agent_core.training.tasks import score_exact

    if o.eval_scorer is not None:
        from agent_core.training.tasks import make_scorer

        scorer = make_scorer(o.eval_scorer)
    else:

        def scorer(prompt: str, got: str, expected: str) -> float:
            return 1.0 if score_exact(got, expected) else 0.0

    rows = o.eval_rows
    prompts = [r["prompt"] for r in rows]

    def evaluate(model) -> float:
        was_training = model.training
        side = tokenizer.padding_side
        cfg = getattr(model, "config", None)
        use_cache = getattr(cfg, "use_cache", None)
        try:
            if cfg is not None:
                cfg.use_cache = True
            preds = w._generate(model, tokenizer, prompts, o.eval_max_new_tokens, 128)
        finally:
            tokenizer.padding_side = side
            if cfg is not None:
                cfg.use_cache = use_cache
            model.train(was_training)
        return sum(float(scorer(r["prompt"], p, r["completion"])) for p, r in zip(preds, rows)) / len(rows)

    return evaluate


def lineage_base(w, spec: dict, o: SimpleNamespace) -> dict:
    return {
        "base_model": o.base_model,
        "parent": o.init_from,
        "spec_hash": w.spec_hash(spec),
        "method": o.method,
        "lora": o.lora,
        "dataset": str(Path(o.dataset_path).expanduser()),
    }


def flops_per_token(model, lora: bool) -> float:
    """Training FLOPs per token: 6N for a full fine-tune, 4N for LoRA (no weight gradients for the
    frozen base), N = the base model's parameters. The attention term is left out (a lower bound)."""
    params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    return (4.0 if lora else 6.0) * params


def intermediate_saver(w, o: SimpleNamespace, tokenizer, trainer_ref: dict, cb, lineage: dict):
    def save(step: int) -> str:
        path = o.output_dir / f"step-{step}"
        w._save_checkpoint(
            trainer_ref["trainer"].model,
            tokenizer,
            path,
            o.lora,
            {**lineage, "steps": step, "stopped": False, "final_loss": cb.final_loss, **o.extra_lineage},
            final=False,
        )
        return str(path)

    return save


def train_and_finish(
    w, trainer, cb, o: SimpleNamespace, tokenizer, lineage: dict, t0: float, extra_result=None
) -> dict:
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
        w._rmtree_quiet(o.scratch)
    steps = int(trainer.state.global_step)
    if cb.nan_step is not None:
        raise w.JobError(
            "nan",
            f"training diverged: loss or gradient norm is NaN/inf at step "
            f"{cb.nan_step} (learning rate {o.lr:g}); no checkpoint saved",
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
        **o.extra_lineage,
    }
    # SIGTERM during the save is deferred: the checkpoint is completed first.
    w._save_checkpoint(trainer.model, tokenizer, o.output_dir, o.lora, lineage, final=True)
    w.emit({"event": "checkpoint", "path": str(o.output_dir), "step": steps})
    return {
        "checkpoint": str(o.output_dir),
        "steps": steps,
        "final_loss": cb.final_loss,
        "stopped": cb.stopped,
        "seconds": round(time.monotonic() - t0, 3),
        **extra,
    }


def protocol_kwargs(w) -> dict[str, Any]:
    """emit / should_stop / job_error for callbacks.ProtocolCallback. The worker's should_stop()
    (when it has one) agrees across ranks under a multi-process launcher."""
    stop = getattr(w, "should_stop", None) or (lambda: bool(w._STOP))
    return {"emit": w.emit, "should_stop": stop, "job_error": w.JobError}


def speed_defaults(spec: dict, on_gpu: bool) -> dict[str, Any]:
    """What a careful engineer turns on for speed, by what is installed. On CPU: nothing (the
    configs already say use_cpu, no bf16, no gradient checkpointing). On a GPU: the fastest
    attention available (FlashAttention 2 when `flash_attn` imports, else PyTorch SDPA), packed
    padding-free SFT batches (TRL's "bfd" packing) only with FlashAttention, whose varlen kernels
    keep packed sequences apart, and Liger kernels when `liger_kernel` imports. The spec may
    override each: "attn_implementation", "packing" (bool), "use_liger_kernel" (bool).
    Returns {"attn_implementation": str | None, "packing": bool, "use_liger_kernel": bool}."""
    import importlib.util

    def has(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    attn = None
    if on_gpu:
        attn = "flash_attention_2" if has("flash_attn") else "sdpa"
    attn = spec.get("attn_implementation") or attn
    packing = spec.get("packing")
    if packing is None:
        packing = bool(on_gpu and attn == "flash_attention_2")
    liger = spec.get("use_liger_kernel")
    if liger is None:
        liger = bool(on_gpu and has("liger_kernel"))
    return {"attn_implementation": attn, "packing": bool(packing), "use_liger_kernel": bool(liger)}


def trainer_args(o: SimpleNamespace, on_gpu: bool, bf16_ok: bool) -> dict[str, Any]:
    """The TrainingArguments that SFT and GRPO share: the job's hyperparameters, the horizon
    (epochs or max_steps, so any schedule spans the real job), a metric line at every log
    step with NaN kept visible, no trainer-side saves or reporting (the worker saves and
    reports), and the device settings (CPU: use_cpu, no bf16)."""
    return dict(
        output_dir=str(o.scratch),
        learning_rate=o.lr,
        num_train_epochs=o.epochs,
        max_steps=o.max_steps,
        per_device_train_batch_size=o.batch,
        gradient_accumulation_steps=o.accum,
        lr_scheduler_type=o.scheduler,
        warmup_steps=o.warmup,
        weight_decay=o.weight_decay,
        adam_beta2=o.adam_beta2,
        max_grad_norm=o.max_grad_norm,
        logging_steps=o.logging_steps,
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
        seed=o.seed,
        data_seed=o.seed,
    )
