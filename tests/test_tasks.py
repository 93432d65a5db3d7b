"""Task files (TOML): parsing, the clear error for each kind of bad file, and the three scorers,
including the evaluate worker scoring a real (tiny) model with a task's python scorer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_core.training import tasks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tasks" / "reverse.toml"

GOOD = """
name = "echo"
description = "Repeat the word."
base_model = "tiny"
budget = "30m"
[data]
dev = "d/dev.jsonl"
test = "d/test.jsonl"
"""


def _rows(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in rows))


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    _rows(tmp_path / "d" / "dev.jsonl", [("say a:", "a"), ("say b:", "b")])
    _rows(tmp_path / "d" / "test.jsonl", [("say c:", "c"), ("say d:", "d"), ("say e:", "e")])
    return tmp_path


def _write(task_dir: Path, text: str) -> Path:
    path = task_dir / "task.toml"
    path.write_text(text)
    return path


def test_example_task_file_parses_and_materializes(tmp_path):
    task = tasks.get_task(str(EXAMPLE))
    assert task.name == "reverse" and task.description.startswith("Teach the model to reverse")
    assert task.base_model == "tiny" and task.budget_s == 1200.0 and task.scorer == "python"
    assert (task.n_train, task.n_dev, task.n_test) == (1300, 100, 200)
    paths = tasks.materialize(task, tmp_path / "data")
    assert set(paths) == {"train", "dev", "test"}
    first = json.loads(paths["dev"].read_text().splitlines()[0])
    assert first["prompt"].startswith("reverse ") and first["completion"] == first["prompt"][8:-1][::-1]
    # the python scorer goes next to the hidden test split, and the worker spec points there
    spec = tasks.install_scorer(task, tmp_path / "hidden")
    assert spec == {"kind": "python", "file": str(tmp_path / "hidden" / tasks.SCORER_FILE)}
    assert Path(spec["file"]).read_text() == Path(task.scorer_file).read_text()
    score = tasks.make_scorer(spec)
    assert score("reverse abc:", "cba", "cba") == 1.0 and score("reverse abc:", "cbx", "cba") == pytest.approx(2 / 3)


def test_minimal_file_task_defaults(task_dir):
    task = tasks.get_task(_write(task_dir, GOOD))
    assert task.scorer == "exact" and task.n_train == 0 and task.n_test == 3 and task.budget_s == 1800.0
    # one duration parser: a task file takes what --budget takes
    from agent_core.daemon.launch import parse_budget

    longer = tasks.get_task(_write(task_dir, GOOD.replace('"30m"', '"1h30m"')))
    assert longer.budget_s == parse_budget("1h30m") == 5400.0
    assert tasks.install_scorer(task, task_dir / "hidden") == {"kind": "exact"}
    assert not (task_dir / "hidden").exists()
    assert set(tasks.materialize(task, task_dir / "out")) == {"dev", "test"}


def test_builtin_generator_file_still_works(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(
        'name = "arithmetic"\nlevel = 3\nn_train = 100\nseed = 7\nbudget = 600\n'
        '[scorer]\nkind = "regex"\npattern = "(-?\\\\d+)"\n'
    )
    task = tasks.get_task(path)
    assert (task.level, task.n_train, task.seed, task.budget_s) == (3, 100, 7, 600.0)
    assert task.scorer_spec() == {"kind": "regex", "pattern": "(-?\\d+)"}


@pytest.mark.parametrize(
    "text, message",
    [
        ('name = "x"\ndescription = "d"\n[data]\ndev = "d/dev.jsonl"\n', "missing field data.test"),
        ('description = "d"\n[data]\ndev = "d/dev.jsonl"\ntest = "d/test.jsonl"\n', "missing field 'name'"),
        ('name = "x"\n[data]\ndev = "d/dev.jsonl"\ntest = "d/test.jsonl"\n', "missing field 'description'"),
        ('name = "x"\ndescription = "d"\n', "missing [data] table"),
        (GOOD + '[scorer]\nkind = "fuzzy"\n', "unknown scorer 'fuzzy'"),
        (GOOD + '[scorer]\nkind = "regex"\n', "regex scorer needs pattern"),
        (GOOD + '[scorer]\nkind = "regex"\npattern = "(unclosed"\n', "not a valid regex"),
        (GOOD + '[scorer]\nkind = "python"\nfile = "nope.py"\n', "scorer file not found"),
        (GOOD + '[scorer]\nkind = "exact"\npattern = "x"\n', "the exact scorer takes no pattern"),
        (GOOD.replace('dev = "d/dev.jsonl"', 'dev = "d/missing.jsonl"'), "data.dev file not found"),
        ("epochs = 3\n" + GOOD, "unknown keys ['epochs']"),
        (GOOD + 'train2 = "x.jsonl"\n', "unknown [data] keys ['train2']"),
        (GOOD.replace('"30m"', '"soon"'), "budget must be"),
        (GOOD.replace('"30m"', '"0s"'), "budget must be"),
        ('name = "x"\ndescription = "unterminated\n', "not valid TOML"),
    ],
)
def test_bad_task_files_get_clear_errors(task_dir, text, message):
    path = _write(task_dir, text)
    with pytest.raises(ValueError) as info:
        tasks.get_task(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_bad_toml_names_the_line(task_dir):
    path = _write(task_dir, 'name = "x"\ndescription = "d"\nbudget = = 3\n')
    with pytest.raises(ValueError, match=r"line 3"):
        tasks.get_task(path)


def test_bad_data_line_and_bad_python_scorer(task_dir):
    (task_dir / "d" / "dev.jsonl").write_text('{"prompt": "a", "completion": "b"}\n{"prompt": 3}\n')
    with pytest.raises(ValueError, match=r"dev.jsonl:2: field 'prompt' must be a non-empty string"):
        tasks.get_task(_write(task_dir, GOOD))
    _rows(task_dir / "d" / "dev.jsonl", [("a", "b")])
    (task_dir / "s.py").write_text("def grade(p, c, e):\n    return 1.0\n")
    with pytest.raises(ValueError, match="defines no top-level function score"):
        tasks.get_task(_write(task_dir, GOOD + '[scorer]\nkind = "python"\nfile = "s.py"\n'))
    (task_dir / "s.py").write_text("def score(p, c, e):\n    return (\n")
    with pytest.raises(ValueError, match="cannot be parsed"):
        tasks.get_task(_write(task_dir, GOOD + '[scorer]\nkind = "python"\nfile = "s.py"\n'))


def test_exact_and_regex_scorers():
    exact = tasks.make_scorer({"kind": "exact"})
    assert exact("p", " 19\n", "19") == 1.0 and exact("p", "190", "19") == 0.0
    grouped = tasks.make_scorer({"kind": "regex", "pattern": r"answer: *(-?\d+)"})
    assert grouped("p", "so the answer: 42.", "42") == 1.0
    assert grouped("p", "answer: 41", "42") == 0.0 and grouped("p", "42", "42") == 0.0  # no match
    whole = tasks.make_scorer({"kind": "regex", "pattern": r"-?\d+"})
    assert whole("p", "it is 7 apples", "7") == 1.0 and whole("p", "it is 8, not 7", "7") == 0.0
    with pytest.raises(ValueError, match="unknown scorer"):
        tasks.make_scorer({"kind": "bleu"})


def test_python_scorer_failures_score_zero_and_are_counted(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(
        "import time\n"
        "def score(prompt, completion, expected):\n"
        "    if completion == 'boom':\n        raise KeyError('boom')\n"
        "    if completion == 'hang':\n        time.sleep(30)\n"
        "    if completion == 'text':\n        return 'yes'\n"
        "    return 2.0 if completion == expected else 0.25\n"
    )
    scorer = tasks.make_scorer({"kind": "python", "file": str(path)}, timeout_s=0.3)
    assert scorer("p", "a", "a") == 1.0  # clamped into [0, 1]
    assert scorer("p", "b", "a") == 0.25
    t0 = time.monotonic()
    assert [scorer("p", c, "a") for c in ("boom", "hang", "text")] == [0.0, 0.0, 0.0]
    assert time.monotonic() - t0 < 15  # the hang was cut at 0.3 s, not waited 30 s
    assert scorer.errors == 3 and scorer.first_error.startswith("KeyError")
    path.write_text("raise RuntimeError('at import')\n")
    with pytest.raises(ValueError, match="failed to load"):
        tasks.make_scorer({"kind": "python", "file": str(path)})


@pytest.mark.e2e
def test_evaluate_worker_uses_the_task_scorer(tmp_path):
    """The worker's evaluate mode scores a real model's generations with the spec's scorer."""
    from agent_core.ml.tiny import build_tiny_model

    build_tiny_model(
        tmp_path / "m",
        seed=0,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    data = tmp_path / "dev.jsonl"
    _rows(data, [(f"{i}+1=", str(i + 1)) for i in range(6)])
    scorer = tmp_path / "hidden" / "scorer.py"
    scorer.parent.mkdir()
    scorer.write_text(
        "def score(prompt, completion, expected):\n"
        "    if prompt.startswith('5'):\n        raise ValueError('bad row')\n"
        "    return 0.5\n"
    )
    spec = {
        "mode": "evaluate",
        "model": str(tmp_path / "m"),
        "dataset": str(data),
        "max_new_tokens": 3,
        "scorer": {"kind": "python", "file": str(scorer)},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core.ml.worker", str(tmp_path / "spec.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["event"] == "result" and result["scorer"] == "python"
    assert result["score"] == pytest.approx(5 * 0.5 / 6) and result["correct"] == 0 and result["n"] == 6
    assert result["scorer_errors"] == 1 and "bad row" in result["scorer_error"]
    assert [e["score"] for e in result["examples"]] == [0.5] * 5 + [0.0]


@pytest.mark.e2e
def test_daemon_hides_the_python_scorer_and_evaluates_with_it(tmp_path, monkeypatch):
    """A run on the example task: train/dev in the workspace, test and the scorer in hidden/,
    and the daemon's evaluate (the agent's tool and the harness) runs the task's scorer."""
    import asyncio

    from agent_core.training.base_models import MODELS_ENV

    monkeypatch.delenv(MODELS_ENV)  # the smaller model built below is this run's own

    from agent_core.daemon.supervisor import Supervisor
    from agent_core.ml.tiny import build_tiny_model
    from agent_core.record.runs import new_run

    run = new_run(tmp_path, {"task": str(EXAMPLE), "model": "tiny", "agent": "playbook"})
    sup = Supervisor(run)

    async def go():
        brief = await sup.prepare()
        build_tiny_model(
            sup.models.base_path,
            seed=0,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
        return brief, await sup.models.evaluate(sup.models.base_path, sup.hidden_dir / "test.jsonl", limit=4)

    brief, result = asyncio.run(go())
    sup.log.close()
    assert brief.task == "reverse" and brief.description.startswith("Teach the model to reverse")
    assert sorted(p.name for p in (run.workspace / "data").iterdir()) == ["dev.jsonl", "train.jsonl"]
    assert (sup.hidden_dir / "test.jsonl").is_file() and (sup.hidden_dir / tasks.SCORER_FILE).is_file()
    assert not any(p.name.endswith(".py") for p in run.workspace.rglob("*"))
    assert result["scorer"] == "python" and result["n"] == 4 and 0.0 <= result["score"] <= 1.0
    assert all("score" in e for e in result["examples"])


def test_evaluation_leaves_room_for_the_longest_answer(tmp_path):
    """Greedy evaluation must not cut an expected answer short: max_new_tokens follows the
    longest completion of the file (a token is at least one character)."""
    from agent_core.training.tasks import answer_budget

    short = tmp_path / "short.jsonl"
    short.write_text('{"prompt": "1+1=", "completion": "2"}\n')
    long = tmp_path / "long.jsonl"
    long.write_text(
        '{"prompt": "a", "completion": "b"}\n' + json.dumps({"prompt": "spell", "completion": "x" * 40}) + "\n"
    )
    assert answer_budget(short) == 8
    assert answer_budget(long) == 44
    assert answer_budget(tmp_path / "missing.jsonl") == 8
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({"prompt": "p", "completion": "y" * 5000}) + "\n")
    assert answer_budget(huge) == 512
