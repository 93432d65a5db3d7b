"""bench/gpu_check.sh: the GPU check's code, run here on a CPU (--smoke: a tiny Qwen3, a few
steps, every part) and without a GPU at full size (every part skipped with its reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # runs the bench script: real TRL jobs on a tiny model

ROOT = Path(__file__).resolve().parents[1]
KEYS = {
    "sft_full": {"tokens_per_s", "mfu", "baseline_tokens_per_s", "ratio"},
    "sft_lora": {"tokens_per_s", "mfu", "baseline_tokens_per_s", "ratio"},
    "grpo": {"step_s", "baseline_step_s", "ratio", "vllm"},
    "eval": {"prompts_per_s", "baseline_prompts_per_s", "ratio", "engine"},
}


def _run(*args: str, timeout: float) -> tuple[list[str], dict]:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert lines, proc.stderr[-2000:]
    summary = json.loads(lines[-1])  # the last line is one JSON object
    assert isinstance(summary, dict)
    assert {"device", "skipped", *KEYS} <= set(summary)
    for part, keys in KEYS.items():
        assert keys <= set(summary[part]), (part, summary[part])
    assert all(isinstance(s, str) for s in summary["skipped"])
    return lines[:-1], summary


def test_smoke_measures_every_part_against_its_baseline():
    progress, s = _run("--smoke", timeout=150)
    assert progress and all(not x.lstrip().startswith("{") for x in progress)  # progress lines first
    assert s["smoke"] is True and s["device"].startswith("CPU")
    for part in ("sft_full", "sft_lora"):
        assert s[part]["tokens_per_s"] > 0 and s[part]["baseline_tokens_per_s"] > 0
        assert s[part]["ratio"] > 0
        assert s[part]["mfu"] is None  # no device peak on a CPU
    assert s["grpo"]["step_s"] > 0 and s["grpo"]["baseline_step_s"] > 0 and s["grpo"]["ratio"] > 0
    assert s["grpo"]["vllm"] is False
    # no vLLM on a CPU: the vLLM side is skipped with its reason, transformers' side still measured
    assert s["eval"]["baseline_prompts_per_s"] > 0 and s["eval"]["ratio"] is None
    assert any(x.startswith("eval project") and "vLLM" in x for x in s["skipped"])
    assert len(s["skipped"]) == 1, s["skipped"]
    assert s["wall_s"] < 90


def test_without_a_gpu_the_full_check_skips_every_part_with_its_reason():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the full check would run")
    _, s = _run(timeout=120)
    assert s["smoke"] is False
    assert s["sft_full"]["ratio"] is None and s["eval"]["ratio"] is None
    assert any("no GPU" in x for x in s["skipped"]), s["skipped"]
    assert s["device"].startswith("CPU")
