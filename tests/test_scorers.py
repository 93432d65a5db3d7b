"""The benchmark scorers a user's task relies on: `numeric` (GSM8K's final number, however it is
written), `choice` (the option letter, however it is said) and `code` (the answer run against its
tests in the real bubblewrap fence: right, wrong, looping forever, reaching for the network or a
host file), and their [scorer] tables in task files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_core.oversight import fence
from agent_core.training import tasks

needs_fence = pytest.mark.skipif(not fence.available()[0], reason="bubblewrap cannot make a sandbox here")


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("She has 3 + 4 = 7 apples left.\n#### 7", "#### 7"),
        ("#### 1,250", "So the total is 1250.\n#### 1250"),
        ("The total cost is $1,250.00.", "#### 1250"),
        ("The answer is 72.", "#### 72"),
        ("42.0", "#### 42"),
        ("He lost 15 dollars, so the change is -15", "#### -15"),
        ("The temperature fell to \u221215 degrees", "#### -15"),
        ("3/4 of the cake", "#### 0.75"),
        ("So the answer is 18 eggs. Then next question: 5 cats", "#### 18"),
        ("Thus \\boxed{70000}. Check: 2 + 3 = 5", "#### 70,000"),
        ("It takes 5 km", "#### 5"),
        ("first 12, then 3 more: 15%", "#### 15"),
    ],
)
def test_numeric_reads_the_final_number_however_it_is_written(completion, expected):
    score = tasks.make_scorer({"kind": "numeric", "marker": "####"})
    assert score("q", completion, expected) == 1.0, (completion, expected)


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("#### 71", "#### 72"),
        ("I don't know", "#### 72"),
        ("#### 7.2", "#### 72"),
        ("the answer is 72 #### 27", "#### 72"),  # after the marker is what counts
        ("-72", "#### 72"),
    ],
)
def test_numeric_wrong_answers_score_zero(completion, expected):
    assert tasks.make_scorer({"kind": "numeric", "marker": "####"})("q", completion, expected) == 0.0


def test_numeric_without_marker_and_an_unreadable_expected_answer_is_counted():
    score = tasks.make_scorer({"kind": "numeric"})
    assert score("q", "we get 1,000,000", "1000000") == 1.0
    assert score("q", "12", "twelve") == 0.0
    assert score.errors == 1 and "no number" in score.first_error


@pytest.mark.parametrize(
    "completion",
    ["B", " B\n", "(B)", "B)", "B) Planetary years", "B. Planetary years", "The answer is B", "Answer: (B).", "b"],
)
def test_choice_reads_the_letter_however_it_is_said(completion):
    assert tasks.make_scorer({"kind": "choice", "letters": "ABCD"})("q", completion, "B") == 1.0


@pytest.mark.parametrize(
    "completion, expected, value",
    [
        ("A good question; the answer is C", "C", 1.0),  # the article "A" is no answer
        ("A", "A", 1.0),
        ("I think (D) fits best", "D", 1.0),
        ("E", "E", 0.0),  # not among this task's letters
        ("C", "B", 0.0),
        ("no idea", "B", 0.0),
    ],
)
def test_choice_letters_come_from_the_task(completion, expected, value):
    assert tasks.make_scorer({"kind": "choice", "letters": "ABCD"})("q", completion, expected) == value


def test_choice_with_five_options_and_a_bad_expected_letter():
    score = tasks.make_scorer({"kind": "choice", "letters": "ABCDE"})
    assert score("q", "E", "E") == 1.0
    assert score("q", "A", "9") == 0.0 and score.errors == 1
    with pytest.raises(ValueError, match="distinct capital letters"):
        tasks.make_scorer({"kind": "choice", "letters": "AAB"})


PROMPT = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n'
TEST = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


@pytest.fixture
def code_tests(tmp_path) -> Path:
    path = tmp_path / "tests.jsonl"
    path.write_text(json.dumps({"prompt": PROMPT, "test": TEST, "entry_point": "add"}) + "\n")
    return path


@needs_fence
def test_code_runs_the_answer_against_the_tests_in_the_fence(code_tests, tmp_path):
    score = tasks.make_scorer({"kind": "code", "tests": str(code_tests), "timeout_s": 2})
    assert score(PROMPT, "    return a + b\n", "") == 1.0  # a continuation of the prompt
    assert score(PROMPT, "    return a - b\n", "") == 0.0  # wrong
    fenced_whole = "Sure:\n```python\ndef add(a, b):\n    return sum([a, b])\n```\nIt adds."
    assert score(PROMPT, fenced_whole, "") == 1.0  # a whole function in a fenced block
    assert score(PROMPT, "    return a +\n", "") == 0.0  # a syntax error
    assert score(PROMPT, "    import sys\n    sys.exit(0)\n", "") == 0.0  # leaving before the tests
    assert score(PROMPT, "    import os\n    os._exit(0)\n", "") == 0.0
    assert score.errors == 0  # a wrong answer is wrong, not a scorer error
    assert score("a prompt without tests", "    return a + b\n", "") == 0.0
    assert score.errors == 1 and "no tests" in score.first_error


@needs_fence
def test_code_that_loops_forever_is_killed_at_the_time_limit(code_tests):
    import time

    score = tasks.make_scorer({"kind": "code", "tests": str(code_tests), "timeout_s": 1.5})
    t0 = time.monotonic()
    assert score(PROMPT, "    while True:\n        pass\n", "") == 0.0
    assert time.monotonic() - t0 < 15 and score.timeouts == 1  # killed, not left running
    assert score(PROMPT, "    return a + b\n", "") == 1.0  # the next answer runs as usual


@needs_fence
def test_code_cannot_reach_the_network_or_a_host_file(code_tests, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("5")
    reads_host = f"    return int(open({str(secret)!r}).read()) if (a, b) == (2, 3) else a + b\n"
    net = "    import socket\n    socket.create_connection(('1.1.1.1', 53), timeout=2).close()\n    return a + b\n"
    big = "    x = bytearray(2 << 30)\n    return a + b\n"
    spec = {"kind": "code", "tests": str(code_tests), "timeout_s": 5, "memory_mb": 256}
    score = tasks.make_scorer(spec)
    assert score(PROMPT, reads_host, "") == 0.0  # the host file is not there inside
    assert score(PROMPT, net, "") == 0.0  # no network inside
    assert score(PROMPT, big, "") == 0.0  # past the memory limit
    # the same answers pass without the fence: the fence, not the answer, made them fail
    open_score = tasks.make_scorer({**spec, "fenced": False})
    assert open_score(PROMPT, reads_host, "") == 1.0


def test_task_files_take_the_new_scorer_tables(tmp_path, code_tests):
    (tmp_path / "d").mkdir()
    for split in ("dev", "test"):
        (tmp_path / "d" / f"{split}.jsonl").write_text(json.dumps({"prompt": PROMPT, "completion": "    return a+b"}))
    head = 'name = "t"\ndescription = "d"\n[data]\ndev = "d/dev.jsonl"\ntest = "d/test.jsonl"\n'

    def load(scorer: str):
        path = tmp_path / "task.toml"
        path.write_text(head + scorer)
        return tasks.get_task(path)

    task = load('[scorer]\nkind = "numeric"\nmarker = "####"\n')
    assert task.scorer_spec() == {"kind": "numeric", "marker": "####"}
    assert load('[scorer]\nkind = "choice"\n').scorer_spec() == {"kind": "choice", "letters": "ABCD"}
    task = load(f'[scorer]\nkind = "code"\ntests = "{code_tests.name}"\ntimeout_s = 3\n')
    spec = tasks.install_scorer(task, tmp_path / "hidden")  # the tests go to hidden/ with the test split
    hidden_tests = tmp_path / "hidden" / tasks.CODE_TESTS_FILE
    assert spec == {"kind": "code", "tests": str(hidden_tests), "timeout_s": 3, "memory_mb": 1024}
    assert hidden_tests.read_text() == code_tests.read_text() and task.scorer_spec(tmp_path / "hidden") == spec
    for bad, message in (
        ('kind = "code"\n', "needs tests"),
        ('kind = "code"\ntests = "missing.jsonl"\n', "tests file not found"),
        ('kind = "code"\ntests = "tests.jsonl"\ntimeout_s = -1\n', "timeout_s"),
        ('kind = "choice"\nletters = "abcd"\n', "capital letters"),
        ('kind = "numeric"\npattern = "x"\n', "takes no pattern"),
        ('kind = "numeric"\nmarker = ""\n', "marker"),
    ):
        with pytest.raises(ValueError, match=message):
            load("[scorer]\n" + bad)
