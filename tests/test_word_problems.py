"""The built-in `word-problems` task (GSM8K-shaped, for smollm2-135m): its splits, its scoring on
`####`, its settings, a task file configuring it, and its clear errors. Pure Python, fast."""

from __future__ import annotations

import json
import re

import pytest

from agent_core.oversight.contamination import check
from agent_core.training import tasks
from agent_core.training.tasks import word_problems


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_splits_are_worked_answers_ending_in_the_number_and_the_test_split_follows_the_secret(tmp_path):
    task = tasks.get_task("word-problems")
    assert task.id == "word-problems" and task.base_model == "smollm2-135m"
    assert "####" in task.description
    paths = tasks.materialize(task, tmp_path / "a", secret="s1")
    rows = {split: _rows(path) for split, path in paths.items()}
    assert {s: len(r) for s, r in rows.items()} == {"train": task.n_train, "dev": task.n_dev, "test": task.n_test}
    for row in rows["train"] + rows["dev"] + rows["test"]:
        *steps, last = row["completion"].split("\n")
        assert 1 <= len(steps) <= 2 and re.fullmatch(r"#### \d+", last), row
        # every step's arithmetic is right, and the last step's result is the answer
        for step in steps:
            a, op, b, result = re.search(r"(\d+) ([-+*]) (\d+) = (\d+)\.$", step).groups()
            assert eval(f"{a}{op}{b}") == int(result), step
        assert result == last.split()[-1]
    prompts = [{r["prompt"] for r in rows[s]} for s in ("train", "dev", "test")]
    assert not (prompts[0] & prompts[1] or prompts[0] & prompts[2] or prompts[1] & prompts[2])
    # the run's contamination guard finds no held-out problem in the training split
    for held in ("dev", "test"):
        report = check(rows["train"], rows[held], threshold=0.5)
        assert report.contaminated == 0, report.examples[:2]
    # dev and train are public (the task's seed); the hidden test split follows the run's secret
    again = tasks.materialize(task, tmp_path / "b", secret="s1")
    other = tasks.materialize(task, tmp_path / "c", secret="s2")
    assert _rows(again["test"]) == rows["test"] and _rows(other["dev"]) == rows["dev"]
    assert _rows(other["test"]) != rows["test"]


def test_the_numeric_scorer_reads_the_number_after_the_marker():
    task = tasks.get_task("word-problems")
    scorer = tasks.make_scorer(task.scorer_spec())
    expected = "She finds 5 more: 7 + 5 = 12.\nShe gives 3 away: 12 - 3 = 9.\n#### 9"
    assert scorer("q", expected, expected) == 1.0
    assert scorer("q", "7 + 5 = 12, 12 - 3 = 9.\n#### 9", expected) == 1.0
    # the worked steps hold other numbers: only the one after "####" counts
    assert scorer("q", "She gives 3 away: 12 - 3 = 9.\n#### 12", expected) == 0.0


def test_generation_settings_and_recipe_suit_a_multi_line_answer_on_smollm2():
    task = tasks.get_task("word-problems")
    gen = task.generation
    assert gen["stop"] == [] and gen["temperature"] == 0.0  # multi-line: no newline stop
    longest = max(len(r["completion"]) for r in tasks.generate_splits(task, "x")["train"])
    assert gen["max_new_tokens"] * 2 >= longest  # SmolLM2's tokens hold 2+ characters of these answers
    recipe = tasks.sft_recipe(task)
    assert recipe["lora"] is True and recipe["method"] == "sft" and recipe["max_rounds"] >= 1


def test_a_task_file_configures_it_and_bad_requests_are_clear(tmp_path):
    path = tmp_path / "wp.toml"
    path.write_text('name = "word-problems"\nn_train = 40\nn_dev = 6\nn_test = 5\nseed = 3\nbudget = "10m"\n')
    task = tasks.get_task(str(path))
    assert (task.n_train, task.n_dev, task.n_test, task.seed, task.budget_s) == (40, 6, 5, 3, 600.0)
    assert task.scorer == "numeric" and task.scorer_options == {"marker": "####"}
    assert {s: len(r) for s, r in tasks.generate_splits(task, "k").items()} == {"train": 40, "dev": 6, "test": 5}
    path.write_text('name = "word-problems"\nlevel = 2\n')
    with pytest.raises(ValueError, match="has no levels"):
        tasks.get_task(str(path))
    path.write_text(f'name = "word-problems"\nn_train = {word_problems.MAX_PROBLEMS}\n')
    with pytest.raises(ValueError, match="at most"):
        tasks.get_task(str(path))
    with pytest.raises(ValueError, match="no levels"):
        tasks.get_task("word-problems:2")
    with pytest.raises(ValueError, match="word-problems"):  # the unknown-task message lists it
        tasks.get_task("word-problem")
