"""The task pack (GSM8K, HumanEval, ARC-Challenge, MMLU): `tinker-tui tasks fetch NAME --from DIR`
reads fixture files in each benchmark's exact hub schema through the real `datasets` code path,
writes the prepared splits and FETCHED.json under the runs home, and from then on `get_task`
finds the task offline; before that, a run is refused with what to run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agent_core.oversight import fence
from agent_core.training import tasks
from agent_core.training.tasks import pack
from agent_core.training.tasks.pack_rows import convert
from conftest import cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "benchmarks"
FETCHED_HERE = ("gsm8k", "humaneval", "arc_challenge")


@pytest.fixture(scope="module")
def fetched_home(tmp_path_factory) -> Path:
    """One runs home with the three fixture benchmarks fetched through the CLI (a subprocess each)."""
    base = tmp_path_factory.mktemp("pack")
    with pytest.MonkeyPatch.context() as mp:  # datasets' own cache of the fixtures: not the user's
        mp.setenv("HF_DATASETS_CACHE", str(base / "hf-datasets"))
        for name in FETCHED_HERE:
            proc = cli(base / "home", "tasks", "fetch", name, "--from", str(FIXTURES / name), timeout=180)
            assert f"{name} fetched" in proc.stdout, proc.stdout + proc.stderr
    return base / "home"


def test_every_pack_definition_is_complete():
    assert set(pack.PACK) >= {"gsm8k", "humaneval", "arc_challenge", "mmlu"}
    for name in pack.PACK:
        d = pack.definition(name)
        assert d["source"]["dataset"].count("/") == 1 and d["base_model"]
        assert {"dev", "test"} <= set(d["splits"]) and d["scorer"]["kind"] in tasks.SCORERS
        assert {"max_new_tokens", "stop", "temperature", "top_p"} <= set(d["generation"])


def test_fetch_writes_prepared_splits_and_a_record(fetched_home):
    folder = fetched_home / "tasks" / "gsm8k"
    info = json.loads((folder / "FETCHED.json").read_text())
    assert info["source"]["dataset"] == "openai/gsm8k" and info["source"]["from"] == str(FIXTURES / "gsm8k")
    assert {k: v["rows"] for k, v in info["splits"].items()} == {"train": 5, "dev": 200, "test": 3}
    for fname, meta in info["files"].items():
        assert hashlib.sha256((folder / fname).read_bytes()).hexdigest() == meta["sha256"]
    assert info["fetched_at"].endswith("Z")
    test_rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    assert test_rows[0]["prompt"].startswith("Janet\u2019s ducks lay 16 eggs") and "####" in test_rows[0]["prompt"]
    assert test_rows[0]["completion"].endswith("#### 18") and "<<" not in test_rows[0]["completion"]
    log = (fetched_home / "tasks" / "fetch.log").read_text()
    assert "fetch gsm8k start" in log and "fetch gsm8k done" in log
    listing = cli(fetched_home, "tasks", "list").stdout
    assert "gsm8k" in listing and "train=5 dev=200 test=3" in listing
    assert "not fetched: run `tinker-tui tasks fetch mmlu`" in listing


def test_get_task_and_materialize_give_the_splits_offline(fetched_home, tmp_path):
    task = tasks.get_task("gsm8k", home=fetched_home)
    assert (task.n_train, task.n_dev, task.n_test) == (5, 200, 3)
    assert task.base_model == "Qwen/Qwen3-1.7B-Base" and task.template is None
    assert task.generation["max_new_tokens"] == 512 and task.scorer_spec() == {"kind": "numeric", "marker": "####"}
    paths = tasks.materialize(task, tmp_path / "data")
    dev = [json.loads(line) for line in paths["dev"].read_text().splitlines()]
    assert len(dev) == 200 and set(dev[0]) == {"prompt", "completion"}
    score = tasks.make_scorer(task.scorer_spec())
    assert score(
        dev[0]["prompt"], "... so she has\n#### " + dev[0]["completion"].split("#### ")[1], dev[0]["completion"]
    )

    arc = tasks.get_task("arc_challenge", home=fetched_home)
    rows = [json.loads(line) for line in Path(arc.data["dev"]).read_text().splitlines()]
    assert rows[1]["completion"] == "D" and "\nD. sound\n" in rows[1]["prompt"]  # labels "1".."4" become letters
    test = [json.loads(line) for line in Path(arc.data["test"]).read_text().splitlines()]
    assert "\nE. uranium\n" in test[0]["prompt"] and arc.scorer_spec() == {"kind": "choice", "letters": "ABCDE"}


@pytest.mark.skipif(not fence.available()[0], reason="bubblewrap cannot make a sandbox here")
def test_humaneval_from_fixtures_scores_its_canonical_solutions(fetched_home, tmp_path):
    task = tasks.get_task("humaneval", home=fetched_home)
    assert (task.n_train, task.n_dev, task.n_test) == (0, 20, 3) and task.template == "plain"
    spec = tasks.install_scorer(task, tmp_path / "hidden")  # the tests go to hidden/ with the test split
    assert spec["tests"] == str(tmp_path / "hidden" / tasks.CODE_TESTS_FILE)
    score = tasks.make_scorer(spec)
    rows = [json.loads(line) for line in Path(task.data["dev"]).read_text().splitlines()][:3]
    assert [score(r["prompt"], r["completion"], r["completion"]) for r in rows] == [1.0, 1.0, 1.0]
    assert score(rows[0]["prompt"], "    return False\n", rows[0]["completion"]) == 0.0
    assert score.errors == 0


def test_an_unfetched_task_says_what_to_run(tmp_path):
    from agent_core.daemon.launch import build_config

    with pytest.raises(ValueError, match=r"run `tinker-tui tasks fetch gsm8k`"):
        tasks.get_task("gsm8k", home=tmp_path)
    with pytest.raises(ValueError, match=r"run `tinker-tui tasks fetch humaneval`"):
        build_config(task="humaneval", home=tmp_path, unsafe_no_sandbox=True)  # the run is refused at start
    with pytest.raises(ValueError, match="the pack's benchmarks are .*gsm8k"):
        tasks.get_task("gsm8k8", home=tmp_path)


def test_a_changed_file_or_failed_fetch_is_reported(fetched_home, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(fetched_home / "tasks" / "arc_challenge", home / "tasks" / "arc_challenge")
    (home / "tasks" / "arc_challenge" / "test.jsonl").write_text('{"prompt": "x", "completion": "A"}\n')
    with pytest.raises(ValueError, match="changed since it was fetched.*--force"):
        tasks.get_task("arc_challenge", home=home)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "test.jsonl").write_text('{"task_id": "x", "prompt": "def f():\\n"}\n')  # no canonical_solution
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
        proc = cli(home, "tasks", "fetch", "humaneval", "--from", str(bad), check=False, timeout=120)
    assert proc.returncode == 1 and "no field 'canonical_solution'" in proc.stdout + proc.stderr
    assert not (home / "tasks" / "humaneval").exists()  # nothing half-written


def test_mmlu_rows_become_letter_questions():
    row = {
        "question": "What is 2+2?",
        "subject": "elementary_mathematics",
        "choices": ["3", "4", "5", "6"],
        "answer": 1,
    }
    ours, tests = convert(pack.definition("mmlu"), row)
    assert ours["completion"] == "B" and tests is None
    assert "about elementary_mathematics" in ours["prompt"] and "\nA. 3\nB. 4\nC. 5\nD. 6\n" in ours["prompt"]
    with pytest.raises(ValueError, match="out of range"):
        convert(pack.definition("mmlu"), {**row, "answer": 7})
