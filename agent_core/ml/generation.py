"""Generation on the worker's side: batched greedy or sampled completions (`generate`), and the
evaluate and sample jobs built on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_core.ml.data import read_dataset
from agent_core.ml.models import device, load_model_and_tokenizer, model_dir, quiet_libraries
from agent_core.ml.protocol import bad
from agent_core.training.spec import EvaluateSpec, SampleSpec


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_newline: bool = True,
) -> list[str]:
    """The text generated after each prompt (left padding, batches of `batch_size`), cut at eos
    and, with `stop_newline`, at the first newline. Greedy unless temperature > 0."""
    import torch

    dev = device()
    model.to(dev)
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
        enc = tokenizer(chunk, return_tensors="pt", padding=True).to(dev)
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


def run_evaluate(spec: EvaluateSpec) -> dict:
    from agent_core.training.tasks import make_scorer

    folder = model_dir(spec.model, "model")
    rows = read_dataset(spec.dataset)
    try:
        scorer = make_scorer(spec.scorer)
    except ValueError as exc:
        raise bad(f"evaluate: {exc}") from None
    if spec.limit is not None:
        rows = rows[: spec.limit]
    quiet_libraries()
    model, tokenizer = load_model_and_tokenizer(folder, num_threads=spec.num_threads)
    preds = generate(model, tokenizer, [r["prompt"] for r in rows], spec.max_new_tokens, spec.batch_size)
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


def run_sample(spec: SampleSpec) -> dict:
    folder = model_dir(spec.model, "model")
    quiet_libraries()
    import torch

    torch.manual_seed(spec.seed)
    model, tokenizer = load_model_and_tokenizer(Path(folder), num_threads=spec.num_threads)
    outs = generate(
        model, tokenizer, spec.prompts, spec.max_new_tokens, 64, spec.temperature, spec.top_p, stop_newline=False
    )
    return {"samples": [{"prompt": p, "completion": c} for p, c in zip(spec.prompts, outs)]}
