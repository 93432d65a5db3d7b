"""Model-side worker: one job per process.

    python -m agent_core.ml.worker SPEC.json

SPEC.json is a JSON object whose "mode" is one of build_base | train | evaluate | sample.

Spec fields
-----------
build_base  {"mode": "build_base", "out_dir": str, "seed": int = 0, "size": {..} optional}
            Builds the tiny character-level Llama (agent_core.ml.tiny) into out_dir.
train       {"mode": "train", "method": "sft", "base_model": HF folder, "init_from": checkpoint folder
             or null (weights to continue from; the optimizer state is not carried over),
             "dataset": jsonl of {"prompt", "completion"}, "output_dir": folder to create,
             "lora": bool = false, "lora_r": int = 16, "lora_alpha": int = 2*lora_r,
             "lora_dropout": float = 0.0, "learning_rate": float = 1e-3,
             "num_train_epochs": float = 1 | "max_steps": int (wins when both are given),
             "per_device_train_batch_size": int = 16, "gradient_accumulation_steps": int = 1,
             "lr_scheduler_type": str = "constant", "warmup_steps": int = 0,
             "weight_decay": float = 0.0, "adam_beta2": float = 0.999, "max_grad_norm": float = 1.0,
             "max_length": int = 256, "num_threads": int (CPU threads; default 1 for models
             under 20M parameters, else all cores),
             "logging_steps": int = 1, "save_steps": int or null (intermediate checkpoints),
             "seed": int = 0, "lineage": dict}
evaluate    {"mode": "evaluate", "model": folder, "dataset": jsonl, "limit": int or null,
             "max_new_tokens": int = 16, "batch_size": int = 128}
sample      {"mode": "sample", "model": folder, "prompts": [str, ...], "max_new_tokens": int = 32,
             "temperature": float = 0.0 (0 = greedy), "top_p": float = 1.0, "seed": int = 0}

stdout protocol
---------------
stdout carries ONLY JSON objects, one per line, flushed per line (file descriptor 1 is
re-pointed at stderr at start-up, so library prints and progress bars land on stderr):

    {"event": "metric", "step": int, "values": {"loss", "learning_rate", "grad_norm", "epoch",
        "tokens_per_s", "entropy", "mean_token_accuracy", "num_tokens", ...}}
        every `logging_steps` optimizer steps (default: every step), from the trainer's on_log.
        Non-finite numbers are written as null.
    {"event": "progress", "step": int, "total": int}            after every optimizer step
    {"event": "checkpoint", "path": str, "step": int}           train only: after the final save
                                                                (and after each save_steps save)
    {"event": "result", ...}                                    exactly once, on success:
        build_base -> {"path": out_dir, "params": n}
        train      -> {"checkpoint": path, "steps": n, "final_loss": x, "stopped": bool, "seconds": t}
        evaluate   -> {"score": k/n, "correct": k, "n": n,
                       "examples": [{"prompt", "expected", "got", "correct"}, ... first 8]}
        sample     -> {"samples": [{"prompt", "completion"}, ...]}
    {"event": "error", "kind": "oom"|"nan"|"bad_input"|"crash", "message": str, "step": int|null}
        on failure, then a non-zero exit: 2 bad_input, 3 nan, 4 oom, 1 crash.

Train details: TRL SFTTrainer on a prompt/completion dataset (loss on completion tokens only;
TRL appends eos to each completion). LoRA (PEFT, all linear layers) when "lora" is true. Loss or
grad norm that is NaN/inf stops the job with an "nan" error naming the step, and nothing is
saved. SIGTERM stops training at the next step boundary, saves the checkpoint and reports
"stopped": true (exit 0). The output_dir is always a loadable full model folder
(AutoModelForCausalLM / AutoTokenizer.from_pretrained(output_dir)); for LoRA runs it holds the
merged model and the adapter itself is saved in output_dir/adapter/. lineage.json (written last;
its presence marks a complete checkpoint) holds base_model, parent, spec_hash, method, lora,
steps, stopped, final_loss, seconds, and the spec's "lineage" dict merged over them.
Intermediate checkpoints (only with "save_steps") go to output_dir/step-<N>/, same layout.

Evaluate: greedy, batched generation with left padding; the text generated after the prompt,
cut at eos or newline, is scored with agent_core.tasks.score_exact.

Other behaviour: an output_dir that exists and is not empty is bad_input (nothing is
overwritten); the Trainer's scratch folder (.<output_dir name>.trainer next to it) is removed
at the end. bad_input covers an unreadable spec, missing/mistyped fields, a model folder
without config.json, and dataset lines that are not JSON objects with string prompt and
completion ("<file>:<line>: ..."). SIGTERM outside training ends the job at once with a
"crash" error ("terminated") and exit 130. CPU jobs on models under 20M parameters use one
thread unless "num_threads" says otherwise. Environment: HF offline mode, progress bars off.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

EXIT_CODES = {"bad_input": 2, "nan": 3, "oom": 4, "crash": 1}

_OUT = None  # the real stdout, for protocol lines only
_STOP = False  # set by SIGTERM


class JobError(Exception):
    def __init__(self, kind: str, message: str, step: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.step = step


def _bad(message: str) -> JobError:
    return JobError("bad_input", message)


# ---------------------------------------------------------------- output

def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return _clean(value.item())
        except Exception:
            return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def emit(obj: dict[str, Any]) -> None:
    line = json.dumps(_clean(obj), allow_nan=False, separators=(",", ":"))
    out = _OUT if _OUT is not None else sys.stdout
    out.write(line + "\n")
    out.flush()


def _setup_io() -> None:
    """Keep the real stdout for protocol lines; send everything else written to fd 1 to stderr."""
    global _OUT
    sys.stdout.flush()
    _OUT = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _setup_env() -> None:
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "DISABLE_TQDM": "1",
        "TQDM_DISABLE": "1",
    }.items():
        os.environ.setdefault(key, value)


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    global _STOP
    _STOP = True


# ---------------------------------------------------------------- spec / data helpers

def _req(spec: dict, key: str, kind: type | tuple = str) -> Any:
    if key not in spec or spec[key] is None:
        raise _bad(f"spec: missing field {key!r}")
    value = spec[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad(f"spec: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _opt(spec: dict, key: str, default: Any, kind: type | tuple) -> Any:
    value = spec.get(key)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool:
        raise _bad(f"spec: field {key!r} has the wrong type (bool)")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise _bad(f"spec: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _model_dir(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise _bad(f"{what}: {p} is not a model folder (no config.json)")
    return p


def read_dataset(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read and validate a prompt/completion jsonl; JobError(bad_input) names file and line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise _bad(f"dataset not found: {p}")
    rows: list[dict[str, str]] = []
    try:
        fh = open(p, encoding="utf-8")
    except OSError as exc:
        raise _bad(f"cannot open dataset {p}: {exc.strerror}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _bad(f"{p}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise _bad(f"{p}:{lineno}: expected a JSON object")
                for key in ("prompt", "completion"):
                    if key not in obj:
                        raise _bad(f"{p}:{lineno}: missing field {key!r}")
                    if not isinstance(obj[key], str):
                        raise _bad(f"{p}:{lineno}: field {key!r} must be a string")
                if not obj["prompt"] or not obj["completion"]:
                    raise _bad(f"{p}:{lineno}: empty prompt or completion")
                rows.append({"prompt": obj["prompt"], "completion": obj["completion"]})
        except UnicodeDecodeError:
            raise _bad(f"{p}: not UTF-8 text") from None
    if not rows:
        raise _bad(f"dataset {p} is empty")
    return rows


def spec_hash(spec: dict) -> str:
    body = {k: v for k, v in spec.items() if k != "lineage"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _quiet_libraries() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
    try:
        import datasets

        datasets.utils.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except Exception:
        pass


def _device():
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _set_threads(spec: dict, model) -> None:
    """CPU threads: "num_threads" from the spec, else 1 for small models (< 20M parameters) and
    all cores otherwise. A tiny model gains little from a second thread and, with two busy cores,
    OpenMP spin-waiting makes a 2-thread job up to 30x slower when anything else runs."""
    import torch

    if torch.cuda.is_available() and spec.get("num_threads") is None:
        return
    n = spec.get("num_threads")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        params = sum(p.numel() for p in model.parameters())
        n = 1 if params < 20_000_000 else (os.cpu_count() or 1)
    torch.set_num_threads(n)


def _load_model_and_tokenizer(path: Path, for_training: bool = False, spec: dict | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise _bad(f"cannot load tokenizer from {path}: {exc}") from None
    dtype = torch.float32
    if not for_training and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:
        raise _bad(f"cannot load model from {path}: {type(exc).__name__}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    _set_threads(spec or {}, model)
    return model, tokenizer


# ---------------------------------------------------------------- modes

def run_build_base(spec: dict) -> dict:
    from agent_core.ml.tiny import build_tiny_model

    out_dir = _req(spec, "out_dir")
    seed = _opt(spec, "seed", 0, int)
    size = _opt(spec, "size", {}, dict)
    try:
        info = build_tiny_model(out_dir, seed=seed, **size)
    except (ValueError, TypeError) as exc:
        raise _bad(f"build_base: {exc}") from None
    return {"path": info["path"], "params": info["params"]}


def _save_checkpoint(model, tokenizer, out: Path, lora: bool, lineage: dict, final: bool) -> None:
    """Save a loadable full model folder (merged for LoRA, adapter in out/adapter), then lineage.json."""
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "lineage.json"
    if stale.exists():
        stale.unlink()
    if lora:
        model.save_pretrained(out / "adapter")
        if final:
            merged = model.merge_and_unload()
            merged.save_pretrained(out)
        else:
            model.merge_adapter()
            try:
                base = model.get_base_model()
                state = {
                    k.replace(".base_layer.", "."): v
                    for k, v in base.state_dict().items()
                    if "lora_" not in k
                }
                base.save_pretrained(out, state_dict=state)
            finally:
                model.unmerge_adapter()
    else:
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    tmp = out / "lineage.json.tmp"
    tmp.write_text(json.dumps(_clean(lineage), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / "lineage.json")


def run_train(spec: dict) -> dict:
    method = spec.get("method", "sft")
    if method != "sft":
        raise _bad(f"train: unsupported method {method!r} (supported: 'sft')")
    base_model = str(_model_dir(_req(spec, "base_model"), "base_model"))
    init_from = spec.get("init_from")
    if init_from is not None:
        init_from = str(_model_dir(str(init_from), "init_from"))
    dataset_path = _req(spec, "dataset")
    output_dir = Path(_req(spec, "output_dir")).expanduser()
    if output_dir.exists() and any(output_dir.iterdir()):
        raise _bad(f"train: output_dir {output_dir} already exists and is not empty")
    lora = bool(spec.get("lora", False))
    lora_r = _opt(spec, "lora_r", 16, int)
    lora_alpha = _opt(spec, "lora_alpha", 2 * lora_r, int)
    lora_dropout = _opt(spec, "lora_dropout", 0.0, float)
    lr = _opt(spec, "learning_rate", 1e-3, float)
    epochs = _opt(spec, "num_train_epochs", 1.0, float)
    max_steps = _opt(spec, "max_steps", -1, int)
    batch = _opt(spec, "per_device_train_batch_size", 16, int)
    accum = _opt(spec, "gradient_accumulation_steps", 1, int)
    scheduler = _opt(spec, "lr_scheduler_type", "constant", str)
    warmup = _opt(spec, "warmup_steps", 0, int)
    weight_decay = _opt(spec, "weight_decay", 0.0, float)
    adam_beta2 = _opt(spec, "adam_beta2", 0.999, float)
    max_grad_norm = _opt(spec, "max_grad_norm", 1.0, float)
    max_length = _opt(spec, "max_length", 256, int)
    logging_steps = _opt(spec, "logging_steps", 1, int)
    save_steps = _opt(spec, "save_steps", 0, int)
    seed = _opt(spec, "seed", 0, int)
    extra_lineage = _opt(spec, "lineage", {}, dict)
    if batch < 1 or accum < 1 or logging_steps < 1 or (max_steps == 0) or epochs <= 0 or lr <= 0:
        raise _bad("train: batch size, accumulation, logging_steps, max_steps, epochs and lr must be positive")
    rows = read_dataset(dataset_path)

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    _quiet_libraries()
    model, tokenizer = _load_model_and_tokenizer(Path(init_from or base_model), for_training=True, spec=spec)
    tokenizer.padding_side = "right"
    model.config.use_cache = False
    on_gpu = torch.cuda.is_available()

    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )

    scratch = output_dir.parent / f".{output_dir.name}.trainer"
    args = SFTConfig(
        output_dir=str(scratch),
        learning_rate=lr,
        num_train_epochs=epochs,
        max_steps=max_steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        lr_scheduler_type=scheduler,
        warmup_steps=warmup,
        weight_decay=weight_decay,
        adam_beta2=adam_beta2,
        max_grad_norm=max_grad_norm,
        max_length=max_length,
        completion_only_loss=True,
        packing=False,
        logging_steps=logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=bool(on_gpu and torch.cuda.is_bf16_supported()),
        fp16=False,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
        seed=seed,
        data_seed=seed,
    )

    state: dict[str, Any] = {"nan_step": None, "final_loss": None, "stopped": False,
                             "last_tokens": None, "last_time": None}
    t0 = time.monotonic()
    trainer_ref: dict[str, Any] = {}
    lineage_base = {
        "base_model": base_model,
        "parent": init_from,
        "spec_hash": spec_hash(spec),
        "method": method,
        "lora": lora,
        "dataset": str(Path(dataset_path).expanduser()),
    }

    class ProtocolCallback(TrainerCallback):
        def on_log(self, args, st, control, logs=None, **kw):
            logs = dict(logs or {})
            if "loss" not in logs and "grad_norm" not in logs:
                return  # the end-of-training summary (train_runtime, ...)
            now = time.monotonic()
            tokens = logs.get("num_tokens")
            if tokens is not None and state["last_tokens"] is not None and now > state["last_time"]:
                logs["tokens_per_s"] = (tokens - state["last_tokens"]) / (now - state["last_time"])
            elif tokens is not None and now > t0:
                logs["tokens_per_s"] = tokens / (now - t0)
            if tokens is not None:
                state["last_tokens"], state["last_time"] = tokens, now
            emit({"event": "metric", "step": st.global_step, "values": logs})
            loss, gnorm = logs.get("loss"), logs.get("grad_norm")
            bad = [v for v in (loss, gnorm) if isinstance(v, (int, float)) and not math.isfinite(v)]
            if bad and state["nan_step"] is None:
                state["nan_step"] = st.global_step
                control.should_training_stop = True
            elif isinstance(loss, (int, float)):
                state["final_loss"] = float(loss)

        def on_step_end(self, args, st, control, **kw):
            emit({"event": "progress", "step": st.global_step, "total": st.max_steps})
            if _STOP:
                state["stopped"] = True
                control.should_training_stop = True
                return
            if save_steps and st.global_step % save_steps == 0 and st.global_step < st.max_steps \
                    and state["nan_step"] is None:
                # this step's loss is logged after on_step_end: check the weights instead
                if not all(torch.isfinite(p).all() for p in trainer_ref["trainer"].model.parameters()):
                    state["nan_step"] = st.global_step
                    control.should_training_stop = True
                    return
                path = output_dir / f"step-{st.global_step}"
                _save_checkpoint(trainer_ref["trainer"].model, tokenizer, path, lora,
                                 {**lineage_base, "steps": st.global_step, "stopped": False,
                                  "final_loss": state["final_loss"], **extra_lineage}, final=False)
                emit({"event": "checkpoint", "path": str(path), "step": st.global_step})

    dataset = Dataset.from_list(rows)
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[ProtocolCallback()],
        )
    except ValueError as exc:
        raise _bad(f"train: {exc}") from None
    trainer_ref["trainer"] = trainer
    try:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it prints every log dict; stdout is ours
    except Exception:
        pass
    try:
        train_out = trainer.train()
    finally:
        _rmtree_quiet(scratch)
    steps = int(trainer.state.global_step)

    if state["nan_step"] is not None:
        raise JobError("nan", f"training diverged: loss or gradient norm is NaN/inf at step "
                              f"{state['nan_step']} (learning rate {lr:g}); no checkpoint saved",
                       state["nan_step"])
    if state["final_loss"] is None and train_out is not None:
        state["final_loss"] = getattr(train_out, "training_loss", None)
    seconds = time.monotonic() - t0
    lineage = {**lineage_base, "steps": steps, "stopped": state["stopped"],
               "final_loss": state["final_loss"], "seconds": round(seconds, 3), **extra_lineage}
    # SIGTERM during the save is deferred: the checkpoint is completed first.
    _save_checkpoint(trainer.model, tokenizer, output_dir, lora, lineage, final=True)
    emit({"event": "checkpoint", "path": str(output_dir), "step": steps})
    return {"checkpoint": str(output_dir), "steps": steps, "final_loss": state["final_loss"],
            "stopped": state["stopped"], "seconds": round(time.monotonic() - t0, 3)}


def _rmtree_quiet(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int,
              temperature: float = 0.0, top_p: float = 1.0, stop_newline: bool = True) -> list[str]:
    import torch

    device = _device()
    model.to(device)
    model.eval()
    tokenizer.padding_side = "left"
    eos_ids = [tokenizer.eos_token_id]
    if stop_newline:
        nl = tokenizer.convert_tokens_to_ids("\n")
        if isinstance(nl, int) and nl != tokenizer.unk_token_id and nl not in eos_ids:
            eos_ids.append(nl)
        else:
            enc = tokenizer("\n", add_special_tokens=False)["input_ids"]
            if len(enc) == 1 and enc[0] not in eos_ids:
                eos_ids.append(enc[0])
    gen_kwargs: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    if temperature and temperature > 0:
        gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        gen_kwargs.update(do_sample=False)
    outs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i:i + batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            gen = model.generate(**enc, **gen_kwargs)
        new = gen[:, enc["input_ids"].shape[1]:]
        for row in new.tolist():
            # cut at the first stop token; decode the rest without special tokens
            cut = len(row)
            for j, t in enumerate(row):
                if t in eos_ids:
                    cut = j
                    break
            text = tokenizer.decode(row[:cut], skip_special_tokens=True)
            if stop_newline:
                text = text.split("\n", 1)[0]
            outs.append(text)
    return outs


def run_evaluate(spec: dict) -> dict:
    from agent_core.tasks import score_exact

    model_dir = _model_dir(_req(spec, "model"), "model")
    rows = read_dataset(_req(spec, "dataset"))
    limit = _opt(spec, "limit", None, int)
    if limit is not None:
        if limit < 1:
            raise _bad("evaluate: limit must be positive")
        rows = rows[:limit]
    max_new = _opt(spec, "max_new_tokens", 16, int)
    batch_size = _opt(spec, "batch_size", 128, int)
    _quiet_libraries()
    model, tokenizer = _load_model_and_tokenizer(model_dir, spec=spec)
    preds = _generate(model, tokenizer, [r["prompt"] for r in rows], max_new, batch_size)
    examples, correct = [], 0
    for r, got in zip(rows, preds):
        ok = score_exact(got, r["completion"])
        correct += ok
        if len(examples) < 8:
            examples.append({"prompt": r["prompt"], "expected": r["completion"], "got": got, "correct": ok})
    n = len(rows)
    return {"score": correct / n, "correct": correct, "n": n, "examples": examples}


def run_sample(spec: dict) -> dict:
    model_dir = _model_dir(_req(spec, "model"), "model")
    prompts = _req(spec, "prompts", list)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise _bad("sample: prompts must be a non-empty list of strings")
    max_new = _opt(spec, "max_new_tokens", 32, int)
    temperature = _opt(spec, "temperature", 0.0, float)
    top_p = _opt(spec, "top_p", 1.0, float)
    seed = _opt(spec, "seed", 0, int)
    _quiet_libraries()
    import torch

    torch.manual_seed(seed)
    model, tokenizer = _load_model_and_tokenizer(model_dir, spec=spec)
    outs = _generate(model, tokenizer, prompts, max_new, 64, temperature, top_p, stop_newline=False)
    return {"samples": [{"prompt": p, "completion": c} for p, c in zip(prompts, outs)]}


MODES = {"build_base": run_build_base, "train": run_train, "evaluate": run_evaluate, "sample": run_sample}


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except Exception:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _setup_io()
    _setup_env()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if len(argv) != 1:
            raise _bad("usage: python -m agent_core.ml.worker SPEC.json")
        try:
            spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        except OSError as exc:
            raise _bad(f"cannot read spec {argv[0]}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _bad(f"spec {argv[0]} is not valid JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise _bad("spec must be a JSON object")
        mode = spec.get("mode")
        if mode not in MODES:
            raise _bad(f"spec: unknown mode {mode!r} (one of {', '.join(MODES)})")
        if mode != "train":
            # outside training, SIGTERM ends the job at once
            signal.signal(signal.SIGTERM, _terminate)
        result = MODES[mode](spec)
        emit({"event": "result", **result})
        return 0
    except JobError as exc:
        emit({"event": "error", "kind": exc.kind, "message": exc.message, "step": exc.step})
        return EXIT_CODES.get(exc.kind, 1)
    except KeyboardInterrupt:
        emit({"event": "error", "kind": "crash", "message": "terminated (SIGTERM or interrupt)", "step": None})
        return 130
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        kind = "oom" if _is_oom(exc) else "crash"
        msg = f"{type(exc).__name__}: {exc}".strip()
        if len(msg) > 300:
            msg = msg[:297] + "..."
        emit({"event": "error", "kind": kind, "message": msg, "step": None})
        return EXIT_CODES[kind]


def _terminate(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
