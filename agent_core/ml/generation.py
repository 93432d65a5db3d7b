"""Generation on the worker's side: batched greedy or sampled completions (`generate`, left
padding; through vLLM on a GPU when it imports), and the evaluate and sample jobs built on it.
Prompts are rendered with the job's template (agent_core.ml.rendering): the spec's, else the one
in the model's lineage.json, else "auto". A completion is cut at end of sequence and at the first
of the `stop` strings (and the template's end of turn): at a newline only when "\\n" is one of them.

Besides the result line, evaluate and sample write `{"event": "progress", "what": "evaluate" |
"sample", "done": n, "total": N}` after each generate batch and one `{"event": "completions",
"source", "items": [{"prompt", "completion", "expected", "score"}]}` line (at most 16 items,
evaluate's misses first, each text cut to 2000 characters).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.ml import protocol
from agent_core.ml.data import read_dataset
from agent_core.ml.models import device, load_model_and_tokenizer, model_dir, quiet_libraries
from agent_core.ml.protocol import bad
from agent_core.ml.rendering import Renderer, requested_template
from agent_core.training.spec import EvaluateSpec, SampleSpec
from agent_core.training.templates import prompt_text

MAX_ITEMS, MAX_TEXT = 16, 2000


@dataclass(frozen=True)
class Settings:
    """How completions are generated: the spec's generation fields."""

    max_new_tokens: int
    stop: tuple[str, ...] = ("\n",)
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 64

    def doc(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
            "temperature": self.temperature,
            "top_p": self.top_p,
        }


def cut(text: str, stop: tuple[str, ...] | list[str]) -> str:
    """`text` up to the first occurrence of any stop string."""
    at = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:at]


def _stop_token_ids(tokenizer, stop) -> list[int]:
    """eos and the stop strings that are one token each (generation ends on them at once)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for s in stop:
        enc = tokenizer(s, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] not in ids and enc[0] != tokenizer.unk_token_id:
            ids.append(enc[0])
    return ids


def generate(
    model, tokenizer, prompts: list[str], settings: Settings, on_batch: Callable[[int], None] | None = None
) -> list[str]:
    """The text generated after each (rendered) prompt, in batches with left padding, cut at eos
    and at the stop strings. Greedy unless temperature > 0. `on_batch(done)` after each batch."""
    import torch

    dev = device()
    model.to(dev)
    model.eval()
    tokenizer.padding_side = "left"
    eos_ids = _stop_token_ids(tokenizer, settings.stop)
    gen_kwargs: dict[str, Any] = dict(
        max_new_tokens=settings.max_new_tokens, eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id
    )
    multi = [s for s in settings.stop if s and len(tokenizer(s, add_special_tokens=False)["input_ids"]) > 1]
    if multi:  # stop strings of several tokens end generation early too (the text is cut below anyway)
        gen_kwargs.update(stop_strings=multi, tokenizer=tokenizer)
    if settings.temperature > 0:
        gen_kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
    else:
        gen_kwargs.update(do_sample=False)
    outs: list[str] = []
    for i in range(0, len(prompts), settings.batch_size):
        chunk = prompts[i : i + settings.batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True).to(dev)
        with torch.inference_mode():
            gen = model.generate(**enc, **gen_kwargs)
        for row in gen[:, enc["input_ids"].shape[1] :].tolist():
            end = next((j for j, t in enumerate(row) if t in eos_ids), len(row))
            outs.append(cut(tokenizer.decode(row[:end], skip_special_tokens=True), settings.stop))
        if on_batch is not None:
            on_batch(len(outs))
    return outs


def use_vllm() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def _vllm_generator(folder: Path, settings: Settings, seed: int):
    """generate() through vLLM (offline, same prompts and stop strings). Untested here: vLLM is not
    installed on the machines the tests run on."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(folder), seed=seed)
    params = SamplingParams(
        max_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p if settings.temperature > 0 else 1.0,
        stop=[s for s in settings.stop if s] or None,
        seed=seed,
    )

    def run(prompts: list[str], on_batch: Callable[[int], None] | None = None) -> list[str]:
        outs: list[str] = []
        for i in range(0, len(prompts), settings.batch_size):
            got = llm.generate(prompts[i : i + settings.batch_size], params, use_tqdm=False)
            outs += [cut(o.outputs[0].text, settings.stop) for o in got]
            if on_batch is not None:
                on_batch(len(outs))
        return outs

    return run


def open_model(folder: Path, template: str | None, settings: Settings, num_threads: int | None, seed: int = 0):
    """(renderer, run(prompts, on_batch) -> completions) for a model folder; the settings' stop
    strings get the template's end of turn added."""
    import torch

    torch.manual_seed(seed)
    quiet_libraries()
    if use_vllm():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
    else:
        model, tokenizer = load_model_and_tokenizer(folder, num_threads=num_threads)
    try:
        renderer = Renderer(requested_template(template, folder), tokenizer)
    except ValueError as exc:
        raise bad(str(exc)) from None
    settings = Settings(
        settings.max_new_tokens,
        tuple(dict.fromkeys([*settings.stop, *renderer.stop])),
        settings.temperature,
        settings.top_p,
        settings.batch_size,
    )
    if use_vllm():
        return renderer, settings, _vllm_generator(folder, settings, seed)
    return renderer, settings, lambda prompts, on_batch=None: generate(model, tokenizer, prompts, settings, on_batch)


def _progress(what: str, total: int) -> Callable[[int], None]:
    return lambda done: protocol.emit({"event": "progress", "what": what, "done": done, "total": total})


def _item(prompt: str, completion: str, expected: str | None, score: float | None) -> dict[str, Any]:
    return {"prompt": prompt[:MAX_TEXT], "completion": completion[:MAX_TEXT], "expected": expected, "score": score}


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
    wanted = Settings(spec.max_new_tokens, tuple(spec.stop), spec.temperature, spec.top_p, spec.batch_size)
    renderer, settings, run = open_model(folder, spec.template, wanted, spec.num_threads, spec.seed)
    rendered = [renderer.prompt(r["prompt"]) for r in rows]
    preds = run(rendered, _progress("evaluate", len(rows)))
    examples, scored, correct, total = [], [], 0, 0.0
    for r, got in zip(rows, preds):
        value = float(scorer(prompt_text(r["prompt"]), got, r["completion"]))
        ok = value >= 1.0
        correct += ok
        total += value
        scored.append((r, got, value))
        if len(examples) < 8:
            ex = {"prompt": prompt_text(r["prompt"]), "expected": r["completion"], "got": got, "correct": ok}
            if scorer.kind != "exact":  # partial credit is possible: show the row's value
                ex["score"] = value
            examples.append(ex)
    shown = sorted(scored[: 4 * MAX_ITEMS], key=lambda s: s[2] >= 1.0)[:MAX_ITEMS]  # misses first
    items = [_item(prompt_text(r["prompt"]), got, r["completion"][:MAX_TEXT], v) for r, got, v in shown]
    protocol.emit({"event": "completions", "source": "evaluate", "items": items})
    n = len(rows)
    out = {
        "score": total / n,
        "correct": correct,
        "n": n,
        "scorer": scorer.kind,
        "examples": examples,
        "template": renderer.name,
        "rendered_prompt": rendered[0][:MAX_TEXT],
        "generation": settings.doc(),
    }
    if scorer.errors:
        out["scorer_errors"] = scorer.errors
        out["scorer_error"] = scorer.first_error
    return out


def run_sample(spec: SampleSpec) -> dict:
    folder = model_dir(spec.model, "model")
    wanted = Settings(spec.max_new_tokens, tuple(spec.stop), spec.temperature, spec.top_p, 64)
    renderer, settings, run = open_model(folder, spec.template, wanted, spec.num_threads, spec.seed)
    outs = run([renderer.prompt(p) for p in spec.prompts], _progress("sample", len(spec.prompts)))
    items = [_item(p, c, None, None) for p, c in zip(spec.prompts[:MAX_ITEMS], outs)]
    protocol.emit({"event": "completions", "source": "sample", "items": items})
    return {
        "samples": [{"prompt": p, "completion": c} for p, c in zip(spec.prompts, outs)],
        "template": renderer.name,
        "generation": settings.doc(),
    }
