"""The dataset formats SFT and evaluation take (agent_core.ml.data): prompt/completion strings,
conversational prompt/completion, whole conversations (`messages`); anything else is bad_input
naming file:line. The SFT jobs run in this process on a small tiny model, two steps each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_core.ml.data import CHAT, MESSAGES, TEXT, read_dataset, read_rows
from agent_core.ml.protocol import JobError

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)
U, A, S = "user", "assistant", "system"


def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


ROWS = {
    TEXT: [{"prompt": f"{a}+2=", "completion": str(a + 2)} for a in range(10)],
    CHAT: [{"prompt": [_msg(U, f"{a}+2=")], "completion": [_msg(A, str(a + 2))]} for a in range(10)],
    MESSAGES: [
        {"messages": [_msg(S, "add"), _msg(U, f"{a}+2="), _msg(A, str(a + 2)), _msg(U, "1+1="), _msg(A, "2")]}
        for a in range(10)
    ],
}


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("fmt", [TEXT, CHAT, MESSAGES])
def test_each_format_reads_as_training_and_evaluation_rows(tmp_path, fmt):
    path = _write(tmp_path / "d.jsonl", ROWS[fmt])
    got_fmt, rows = read_rows(path)
    assert got_fmt == fmt and len(rows) == 10
    first = read_dataset(path)[0]  # evaluation: a prompt and the expected answer
    if fmt == MESSAGES:  # the last assistant turn is the answer to everything before it
        assert first["completion"] == "2" and [m["content"] for m in first["prompt"]] == ["add", "0+2=", "2", "1+1="]
    else:
        assert first["completion"] == "2"


@pytest.mark.parametrize(
    "row,needle",
    [
        ('{"prompt": "1+1=", "completion": ', "not valid JSON"),
        ({"prompt": "1+1="}, "missing field 'completion'"),
        ({"prompt": "1+1=", "completion": [_msg(A, "2")]}, "both be strings or both be lists"),
        ({"prompt": [_msg(U, "1+1=")], "completion": [_msg(U, "2")]}, "assistant messages only"),
        ({"messages": [_msg(U, "hi")]}, "no assistant turn"),
        ({"messages": [{"role": "robot", "content": "x"}, _msg(A, "y")]}, "role 'robot'"),
        ({"messages": [_msg(U, "q"), {"role": "assistant"}]}, "string 'content'"),
        ({"messages": [], "prompt": "x"}, "both 'messages' and 'prompt'"),
        ({"messages": [_msg(U, "q"), _msg(A, "a")]}, "a messages row in a file of prompt/completion rows"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path, row, needle):
    path = _write(tmp_path / "bad.jsonl", [ROWS[TEXT][0], ROWS[TEXT][1], row])
    with pytest.raises(JobError) as err:
        read_rows(path)
    assert err.value.kind == "bad_input" and f"{path}:3: " in err.value.message and needle in err.value.message


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from agent_core.ml.tiny import build_tiny_model

    out = tmp_path_factory.mktemp("formats") / "base"
    build_tiny_model(out, seed=0, max_position_embeddings=128, **SMALL)
    return out


@pytest.mark.parametrize("fmt", [TEXT, CHAT, MESSAGES])
def test_sft_trains_on_each_format_and_saves(base, tmp_path, fmt, capsys):
    from transformers import AutoModelForCausalLM

    from agent_core.ml.worker import run_job

    data = _write(tmp_path / "train.jsonl", ROWS[fmt])
    out = tmp_path / "ck"
    spec = {
        "mode": "train",
        "base_model": str(base),
        "dataset": str(data),
        "output_dir": str(out),
        "eval_dataset": str(data),
        "eval_limit": 4,
        "max_steps": 2,
        "per_device_train_batch_size": 4,
    }
    res = run_job(spec)
    assert res["steps"] == 2 and res["final_loss"] is not None and 0.0 <= res["dev_score"] <= 1.0
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["template"] == "plain" and lineage["steps"] == 2  # auto: the tiny tokenizer has no chat template
    AutoModelForCausalLM.from_pretrained(out)  # a loadable model folder
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [e["step"] for e in lines if e["event"] == "checkpoint"] == [2]


def test_a_bad_row_fails_the_training_job_as_bad_input(base, tmp_path):
    from agent_core.ml.worker import run_job

    data = _write(tmp_path / "train.jsonl", [*ROWS[CHAT][:3], {"prompt": "x", "completion": "y"}])
    spec = {"mode": "train", "base_model": str(base), "dataset": str(data), "output_dir": str(tmp_path / "ck")}
    with pytest.raises(JobError) as err:
        run_job(spec)
    assert err.value.kind == "bad_input" and f"{data}:4: a prompt/completion row in a file of conversational" in str(
        err.value.message
    )
    assert not (tmp_path / "ck").exists()


def test_messages_rows_train_on_the_assistant_turns_only(base):
    """What TRL's SFTTrainer makes of a conversation row: labels on the assistant turns (and eos) only."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from agent_core.ml.rendering import Renderer

    tok = AutoTokenizer.from_pretrained(base)
    row = Renderer("plain", tok).tokenize_conversation(ROWS[MESSAGES][3]["messages"])
    args = SFTConfig(output_dir=str(base.parent / "scratch"), completion_only_loss=True, use_cpu=True, report_to=[])
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(base),
        args=args,
        train_dataset=Dataset.from_list([row]),
        processing_class=tok,
    )
    ex = trainer.train_dataset[0]
    assert tok.decode(ex["input_ids"], skip_special_tokens=True) == "add\n\n3+2=5\n1+1=2"
    assert tok.decode([t for t, label in zip(ex["input_ids"], ex["labels"]) if label != -100]) == "52</s>"
