"""Training throughput: the project's defaults (the worker, `python -m agent_core.ml.worker`)
against plain TRL defaults, measured in the same run on the same model, data and batch.

    .venv/bin/python bench/train_throughput.py [--shape tiny|qwen3-1.7b] [--steps N] [--seq L]

Cases: SFT full fine-tune, SFT LoRA (tokens/s, MFU) and GRPO (seconds per step). The model is
built in code and randomly initialised (no download): on a GPU Qwen3-1.7B's shape (28 layers,
width 2048, GQA 16/8, vocab 151,936) at --seq 2048, on a CPU a tiny Qwen3 shape. The tokenizer
is the project's character tokenizer (agent_core.ml.tiny), so a row of L characters is L tokens.

Both sides run as child processes and report the same lines (`progress` after every optimizer
step, `metric` with TRL's `num_tokens`); this process timestamps them as they arrive, so the
figures come from one clock and one method:
  tokens/s = (num_tokens[last] - num_tokens[warm]) / (t[last] - t[warm])  (first steps skipped)
  s/step   = (t[last] - t[warm]) / (last - warm)
  MFU      = tokens/s x (6N, or 4N for LoRA; N = base parameters) / device peak (GPU only).
"plain TRL" is SFTConfig / GRPOConfig with only the output folder, steps, batch, length and
(for GRPO) generation settings given; everything else is TRL's default (gradient checkpointing
included; on a CPU bf16=False, since TRL's default bf16 refuses to start there). The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = {
    # Qwen/Qwen3-1.7B config.json (no download: the numbers, written out)
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
    "tiny": dict(
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        vocab_size=128,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        max_position_embeddings=512,
        rms_norm_eps=1e-6,
    ),
}
REWARD = """def reward(prompt, completion, **fields):
    return (len(completion) % 5) / 4.0
"""


# ---------------------------------------------------------------- setup (parent)


def build_model(out: Path, shape: str) -> int:
    """Save a randomly initialised Qwen3 of `shape` with the character tokenizer; return N."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from agent_core.ml.tiny import build_tokenizer

    tok = build_tokenizer()
    cfg = dict(SHAPES[shape])
    cfg["vocab_size"] = max(cfg["vocab_size"], len(tok))
    config = Qwen3Config(
        **cfg, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = Qwen3ForCausalLM(config).to(dtype)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def write_data(folder: Path, seq: int, rows: int) -> tuple[Path, Path]:
    import random

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    sft, grpo = folder / "sft.jsonl", folder / "grpo.jsonl"
    with open(sft, "w") as fh:
        for _ in range(rows):
            n = seq - 2  # BOS + EOS
            p = rng.randint(n // 4, n // 2)
            text = "".join(rng.choice(letters) for _ in range(n))
            fh.write(json.dumps({"prompt": text[:p], "completion": text[p:]}) + "\n")
    with open(grpo, "w") as fh:
        for _ in range(rows):
            fh.write(json.dumps({"prompt": "".join(rng.choice(letters) for _ in range(16)) + ":"}) + "\n")
    return sft, grpo


def run_child(argv: list[str], timeout: float) -> list[tuple[float, dict]]:
    """Start a child; return its protocol lines with the parent's arrival time."""
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore"
    )
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    lines: list[tuple[float, dict]] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for raw in proc.stdout:
        now = time.monotonic()
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        lines.append((now, obj))
        if now > deadline:
            proc.kill()
            break
    err = proc.stderr.read() if proc.stderr else ""
    rc = proc.wait()
    if rc != 0:
        tail = [o for _, o in lines if o.get("event") == "error"] or err.strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(argv[-3:])} failed (rc {rc}): {tail}")
    return lines


def measure(lines: list[tuple[float, dict]], warm: int) -> dict:
    steps = [(t, o["step"]) for t, o in lines if o.get("event") == "progress"]
    tokens = {o["step"]: o["values"].get("num_tokens") for _, o in lines if o.get("event") == "metric"}
    steps = [(t, s) for t, s in steps if s >= warm]
    if len(steps) < 2:
        raise RuntimeError(f"too few steps measured ({len(steps)})")
    (t0, s0), (t1, s1) = steps[0], steps[-1]
    out = {"steps": s1 - s0, "s_per_step": (t1 - t0) / (s1 - s0)}
    if tokens.get(s0) is not None and tokens.get(s1) is not None:
        out["tokens_per_s"] = (tokens[s1] - tokens[s0]) / (t1 - t0)
    gaps = [b[0] - a[0] for a, b in zip(steps, steps[1:])]
    out["step_median_s"] = statistics.median(gaps)
    return out


# ---------------------------------------------------------------- plain TRL (child)


def baseline_child(args: argparse.Namespace) -> None:
    """Plain TRL defaults, emitting the same progress / metric lines as the worker."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    real_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(obj):
        real_out.write(json.dumps(obj) + "\n")
        real_out.flush()

    class Lines(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                emit({"event": "metric", "step": state.global_step, "values": {"num_tokens": logs.get("num_tokens")}})

        def on_step_end(self, a, state, control, **kw):
            emit({"event": "progress", "step": state.global_step, "total": state.max_steps})

    tok = AutoTokenizer.from_pretrained(args.model)
    rows = [json.loads(x) for x in open(args.data)]
    model = AutoModelForCausalLM.from_pretrained(args.model)
    common = dict(
        output_dir=args.out,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    import torch

    if not torch.cuda.is_available():
        common["bf16"] = False  # TRL's default bf16 refuses to start without a GPU: the one forced change
    if args.baseline == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        ns: dict = {}
        exec(REWARD, ns)  # noqa: S102 - the benchmark's own reward

        def reward_fn(prompts, completions, **kw):
            return [ns["reward"](p, c) for p, c in zip(prompts, completions)]

        cfg = GRPOConfig(**common, num_generations=args.num_generations, max_completion_length=args.completion_len)
        trainer = GRPOTrainer(
            model=model,
            args=cfg,
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
            reward_funcs=reward_fn,
            callbacks=[Lines()],
        )
    else:
        from trl import SFTConfig, SFTTrainer

        peft = None
        if args.baseline == "lora":
            from peft import LoraConfig

            peft = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
        cfg = SFTConfig(**common, max_length=args.seq)
        trainer = SFTTrainer(
            model=model,
            args=cfg,
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
            peft_config=peft,
            callbacks=[Lines()],
        )
    trainer.train()
    emit({"event": "result"})


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--cases", default="sft_full,sft_lora,grpo")
    # child mode (plain TRL)
    ap.add_argument("--baseline", choices=("full", "lora", "grpo"))
    ap.add_argument("--model"), ap.add_argument("--data"), ap.add_argument("--out")
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--completion-len", type=int, default=16)
    args = ap.parse_args()
    if args.baseline:
        return baseline_child(args)

    import torch

    gpu = torch.cuda.is_available()
    shape = args.shape or ("qwen3-1.7b" if gpu else "tiny")
    seq = args.seq or (2048 if gpu else 128)
    batch = args.batch or (4 if gpu else 8)
    steps = args.steps or (30 if gpu else 10)
    gsteps = max(6, steps // 2)
    warm = 2
    completion_len = 256 if gpu else 16
    gens = 4
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores)"
    peak = None
    if gpu:
        from agent_core.ml.callbacks import peak_flops

        peak = peak_flops(device)
    cases = [c for c in args.cases.split(",") if c]
    py = sys.executable
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        t_build = time.monotonic()
        params = build_model(tmp / "model", shape)
        sft_data, grpo_data = write_data(tmp, seq, max(64, batch * (steps + 2) * 2))
        (tmp / "reward.py").write_text(REWARD)
        print(
            f"model: random {shape} ({params / 1e6:.1f}M parameters) on {device}; seq {seq}, "
            f"batch {batch}, {steps} SFT / {gsteps} GRPO steps (first {warm} not timed); "
            f"setup {time.monotonic() - t_build:.1f}s",
            flush=True,
        )
        for case in cases:
            lora = case == "sft_lora"
            method = "grpo" if case == "grpo" else "sft"
            n_steps = gsteps if method == "grpo" else steps
            for side in ("project", "trl"):
                out = tmp / f"{case}-{side}"
                if side == "project":
                    spec = {
                        "mode": "train",
                        "method": method,
                        "base_model": str(tmp / "model"),
                        "dataset": str(grpo_data if method == "grpo" else sft_data),
                        "output_dir": str(out),
                        "max_steps": n_steps,
                        "lora": lora,
                        "per_device_train_batch_size": batch if method == "sft" else 2 * gens,
                        "logging_steps": 1,
                        "learning_rate": 1e-5,
                    }
                    if method == "sft":
                        spec["max_length"] = seq
                    else:
                        spec.update(
                            reward_file=str(tmp / "reward.py"),
                            num_generations=gens,
                            max_completion_length=completion_len,
                        )
                    (tmp / f"{case}.json").write_text(json.dumps(spec))
                    argv = [py, "-m", "agent_core.ml.worker", str(tmp / f"{case}.json")]
                else:
                    argv = [
                        py,
                        __file__,
                        "--baseline",
                        {"sft_full": "full", "sft_lora": "lora", "grpo": "grpo"}[case],
                        "--model",
                        str(tmp / "model"),
                        "--out",
                        str(out),
                        "--data",
                        str(grpo_data if method == "grpo" else sft_data),
                        "--steps",
                        str(n_steps),
                        "--seq",
                        str(seq),
                        "--batch",
                        str(batch if method == "sft" else 2 * gens),
                        "--num-generations",
                        str(gens),
                        "--completion-len",
                        str(completion_len),
                    ]
                t0 = time.monotonic()
                try:
                    m = measure(run_child(argv, timeout=1800), warm if n_steps > warm + 1 else 1)
                except RuntimeError as exc:
                    m = {"error": str(exc)[:400]}
                m["wall_s"] = round(time.monotonic() - t0, 1)
                if "tokens_per_s" in m and peak:
                    m["mfu"] = m["tokens_per_s"] * (4.0 if lora else 6.0) * params / peak
                results[f"{case}/{side}"] = m
                print(
                    f"  {case:9s} {side:8s} "
                    + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()),
                    flush=True,
                )

    def ratio(case: str, key: str) -> float | None:
        a, b = results.get(f"{case}/project", {}).get(key), results.get(f"{case}/trl", {}).get(key)
        return a / b if a and b else None

    summary = {
        "bench": "train_throughput",
        "device": device,
        "shape": shape,
        "params": params,
        "seq": seq,
        "batch": batch,
        "results": results,
        "ratios": {
            "sft_full_tokens_per_s": ratio("sft_full", "tokens_per_s"),
            "sft_lora_tokens_per_s": ratio("sft_lora", "tokens_per_s"),
            "grpo_step_time": ratio("grpo", "s_per_step"),
        },
    }  # lower is better
    print("\n  case       project               plain TRL             ratio (project / TRL; s/step: lower is better)")
    for case, key in (("sft_full", "tokens_per_s"), ("sft_lora", "tokens_per_s"), ("grpo", "s_per_step")):
        a, b = results.get(f"{case}/project", {}), results.get(f"{case}/trl", {})
        r = ratio(case, key)
        unit = "tok/s" if key == "tokens_per_s" else "s/step"
        fa = f"{a[key]:.4g} {unit}" if key in a else "error"
        fb = f"{b[key]:.4g} {unit}" if key in b else "error"
        mfu = f" mfu {a['mfu']:.1%}/{b['mfu']:.1%}" if "mfu" in a and "mfu" in b else ""
        print(f"  {case:9s}  {fa:20s}  {fb:20s}  {f'{r:.2f}x' if r else '-'}{mfu}")
    print(json.dumps(summary, default=lambda x: round(x, 6) if isinstance(x, float) else str(x)))


if __name__ == "__main__":
    main()
