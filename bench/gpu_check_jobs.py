"""The child side of bench/gpu_check.py: runs a list of jobs in this process, one after another,
and writes JSON lines on stdout (everything else goes to stderr).

    python bench/gpu_check_jobs.py JOBS.json

Each job starts with a {"event": "job", "name": ...} line; then its own lines (the worker's
protocol lines: progress, metric, result, error), and one of "done" (with the job's figures),
"error" or "skip" (with a reason). The parent (gpu_check.py) timestamps the lines as they arrive.

Jobs ("kind"):
  build    a randomly initialised Qwen3 of a given shape (Qwen3ForCausalLM from Qwen3Config, no
           download) and a byte-level BPE tokenizer built here; reports device, peak FLOP/s, N
  worker   the project's side: a train spec run by agent_core.ml.worker.run_job, the worker's own
           entry, with the project's defaults (speed_defaults, trainer_args, sft.py / grpo.py)
  trl_sft, trl_grpo
           plain TRL: SFTTrainer / GRPOTrainer given the model's path, with only the output
           folder, steps, batch, length (GRPO: group size, completion length), logging every step
           and no saves set; everything else is TRL's default (on a CPU bf16 off, which TRL needs)
  eval_hf  transformers' model.generate, greedy, batches of `batch` with left padding, exactly
           `max_new` new tokens per prompt, as many batches as fit in `time_s` (timed directly,
           not through agent_core.ml.generation)
  eval_vllm
           vLLM's own API: LLM(...).generate of every prompt, greedy, exactly `max_new` new tokens
"""

from __future__ import annotations

import gc
import importlib.util
import itertools
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_core.ml import protocol  # noqa: E402
from agent_core.ml.protocol import JobError  # noqa: E402

SHAPES = {
    # Qwen/Qwen3-1.7B's config.json, written out (nothing is downloaded)
    "qwen3-1.7b": dict(
        hidden_size=2048,
        intermediate_size=6144,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
        max_position_embeddings=40960,
        rms_norm_eps=1e-6,
    ),
    # the --smoke model: the same architecture, tiny
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=512,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        max_position_embeddings=512,
        rms_norm_eps=1e-6,
    ),
}
EOS = "<|endoftext|>"
SPECIALS = [EOS, "<|im_start|>", "<|im_end|>"]


def emit(obj: dict) -> None:
    protocol.emit(obj)


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------- build


def byte_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer with exactly `vocab_size` tokens: the 256 byte symbols, filler
    tokens made of 2 and 3 byte symbols (never produced by encoding, so every text is one token
    per byte, but every id the model can emit decodes), and Qwen's three special tokens last."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    n_fill = vocab_size - len(alphabet) - len(SPECIALS)
    if n_fill < 0:
        raise ValueError(f"vocab_size {vocab_size} is below {len(alphabet) + len(SPECIALS)}")
    fillers = itertools.chain(
        ("".join(p) for p in itertools.product(alphabet, repeat=2)),
        ("".join(p) for p in itertools.product(alphabet, repeat=3)),
    )
    tokens = alphabet + list(itertools.islice(fillers, n_fill)) + SPECIALS
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token=EOS, clean_up_tokenization_spaces=False
    )
    fast.model_max_length = 1 << 20
    return fast


def job_build(job: dict) -> dict:
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    on_gpu = cuda()
    if job["shape"] != "tiny" and not on_gpu:
        reason = "no GPU (torch.cuda.is_available() is False; --smoke runs on a CPU)"
        return {"event": "skip", "reason": reason, "device": f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"}
    cfg = dict(SHAPES[job["shape"]])
    tok = byte_tokenizer(cfg["vocab_size"])
    eos = tok.convert_tokens_to_ids(EOS)
    dtype = torch.bfloat16 if on_gpu else torch.float32
    config = Qwen3Config(**cfg, bos_token_id=None, eos_token_id=eos, pad_token_id=eos)
    torch.manual_seed(0)
    with torch.device("cuda" if on_gpu else "cpu"):
        model = Qwen3ForCausalLM(config).to(dtype)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=eos)
    model.save_pretrained(job["out"])
    tok.save_pretrained(job["out"])
    params = sum(p.numel() for p in model.parameters())
    del model
    from agent_core.ml.callbacks import device_peak_flops
    from agent_core.oversight import fence

    name = torch.cuda.get_device_name(0) if on_gpu else f"CPU ({os.cpu_count()} cores)"
    return {
        "params": params,
        "device": name,
        "cuda": on_gpu,
        "peak_flops": device_peak_flops(),
        "vllm_installed": importlib.util.find_spec("vllm") is not None,
        "fence": fence.available()[0],
        "flash_attn": importlib.util.find_spec("flash_attn") is not None,
        "liger_kernel": importlib.util.find_spec("liger_kernel") is not None,
        "torch": torch.__version__,
    }


# ---------------------------------------------------------------- the project's worker


def job_worker(job: dict) -> dict:
    from agent_core.ml.worker import run_job
    from agent_core.oversight import fence

    spec = dict(job["spec"])
    if spec.get("sandbox") == "auto":  # the fence where it works, else the reward runs unfenced
        spec["sandbox"] = "bwrap" if fence.available()[0] else "none"
    result = run_job(spec)
    emit({"event": "result", **result})
    return {"sandbox": spec.get("sandbox")}


# ---------------------------------------------------------------- plain TRL


def _lines_callback():
    from transformers import TrainerCallback

    class Lines(TrainerCallback):
        """The same progress / metric lines as the worker's ProtocolCallback."""

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and ("loss" in logs or "grad_norm" in logs):
                emit({"event": "metric", "step": state.global_step, "values": {"num_tokens": logs.get("num_tokens")}})

        def on_step_end(self, args, state, control, **kw):
            emit({"event": "progress", "step": state.global_step, "total": state.max_steps})

    return Lines()


def _plain(job: dict) -> dict:
    args = dict(
        output_dir=job["out"],
        max_steps=job["steps"],
        per_device_train_batch_size=job["batch"],
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    if not cuda():
        args.update(bf16=False, use_cpu=True)  # TRL's default bf16 refuses to start without a GPU
    return args


def _rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def job_trl_sft(job: dict) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    peft = None
    if job.get("lora"):
        from peft import LoraConfig

        peft = LoraConfig(
            r=job["lora_r"], lora_alpha=2 * job["lora_r"], target_modules="all-linear", task_type="CAUSAL_LM"
        )
    trainer = SFTTrainer(
        model=job["model"],
        args=SFTConfig(**_plain(job), max_length=job["seq"]),
        train_dataset=Dataset.from_list(_rows(job["data"])),
        peft_config=peft,
        callbacks=[_lines_callback()],
    )
    trainer.train()
    return {}


def job_trl_grpo(job: dict) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    ns: dict = {}
    exec(Path(job["reward_file"]).read_text(), ns)  # noqa: S102 - the benchmark's own reward

    def reward(prompts, completions, **kw):
        return [float(ns["reward"](p, c)) for p, c in zip(prompts, completions)]

    cfg = GRPOConfig(**_plain(job), num_generations=job["num_generations"], max_completion_length=job["completion_len"])
    trainer = GRPOTrainer(
        model=job["model"],
        reward_funcs=reward,
        args=cfg,
        train_dataset=Dataset.from_list(_rows(job["data"])),
        callbacks=[_lines_callback()],
    )
    trainer.train()
    return {}


# ---------------------------------------------------------------- evaluation engines


def _prompts(job: dict) -> list[str]:
    return [r["prompt"] for r in _rows(job["prompts"])]


def job_eval_hf(job: dict) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompts, max_new, batch = _prompts(job), job["max_new"], job["batch"]
    t0 = time.monotonic()
    on_gpu = cuda()
    dev = torch.device("cuda" if on_gpu else "cpu")
    tok = AutoTokenizer.from_pretrained(job["model"])
    tok.padding_side = "left"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=dtype).to(dev).eval()
    kw = dict(do_sample=False, pad_token_id=tok.pad_token_id)

    def run(chunk: list[str], n: int) -> int:
        enc = tok(chunk, return_tensors="pt", padding=True).to(dev)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, **kw)
        if on_gpu:
            torch.cuda.synchronize()
        return int(out.shape[0] * (out.shape[1] - enc["input_ids"].shape[1]))

    run(prompts[: min(batch, 4)], 2)  # warm-up: kernels, allocator
    init_s = time.monotonic() - t0
    done = tokens = 0
    t1 = time.monotonic()
    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        tokens += run(chunk, max_new)
        done += len(chunk)
        elapsed = time.monotonic() - t1
        emit({"event": "eval_progress", "prompts": done, "of": len(prompts), "seconds": round(elapsed, 2)})
        if elapsed > job["time_s"] and done < len(prompts):
            break
    elapsed = time.monotonic() - t1
    return {
        "engine": "transformers",
        "prompts": done,
        "of": len(prompts),
        "new_tokens": tokens,
        "seconds": elapsed,
        "prompts_per_s": done / elapsed,
        "init_s": init_s,
        "batch": batch,
    }


def job_eval_vllm(job: dict) -> dict:
    if not cuda():
        return {"event": "skip", "reason": "no GPU for vLLM"}
    try:
        from vllm import LLM, SamplingParams
    except Exception as exc:  # not installed, or installed against another torch
        return {"event": "skip", "reason": f"import vllm failed: {type(exc).__name__}: {str(exc)[:200]}"}
    prompts, max_new = _prompts(job), job["max_new"]
    t0 = time.monotonic()
    llm = LLM(
        model=job["model"],
        dtype="bfloat16",
        max_model_len=job["max_model_len"],
        gpu_memory_utilization=job.get("gpu_memory_utilization", 0.85),
        seed=0,
    )
    greedy = dict(temperature=0.0, ignore_eos=True)
    llm.generate(prompts[:8], SamplingParams(max_tokens=2, **greedy), use_tqdm=False)  # warm-up
    init_s = time.monotonic() - t0
    t1 = time.monotonic()
    outs = llm.generate(prompts, SamplingParams(max_tokens=max_new, **greedy), use_tqdm=False)
    elapsed = time.monotonic() - t1
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    import vllm

    return {
        "engine": f"vllm {vllm.__version__}",
        "prompts": len(outs),
        "of": len(prompts),
        "new_tokens": tokens,
        "seconds": elapsed,
        "prompts_per_s": len(outs) / elapsed,
        "init_s": init_s,
    }


JOBS = {
    "build": job_build,
    "worker": job_worker,
    "trl_sft": job_trl_sft,
    "trl_grpo": job_trl_grpo,
    "eval_hf": job_eval_hf,
    "eval_vllm": job_eval_vllm,
}


def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def main(path: str) -> int:
    protocol.setup_io()
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from agent_core.ml.models import quiet_libraries

    quiet_libraries()
    import torch

    threads = torch.get_num_threads()
    for job in json.loads(Path(path).read_text()):
        name = job["name"]
        torch.set_num_threads(threads)  # the worker sets its own count: no job inherits another's
        emit({"event": "job", "name": name})
        try:
            out = JOBS[job["kind"]](job) or {}
            if out.get("event") == "skip":
                emit({**out, "job": name})
            else:
                emit({"event": "done", "job": name, **out})
        except JobError as exc:
            emit({"event": "error", "job": name, "kind": exc.kind, "message": exc.message[:600]})
        except BaseException as exc:  # one part failing never stops the others
            oom = "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"
            tail = traceback.format_exc().strip().splitlines()[-3:]
            emit({"event": "error", "job": name, "kind": "oom" if oom else "crash", "message": " | ".join(tail)[:600]})
            if isinstance(exc, KeyboardInterrupt):
                return 130
        finally:
            _free()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
