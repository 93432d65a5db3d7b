"""Contamination check: verbatim and lightly reworded eval items in a training set are found;
disjoint splits, templated items with other numbers and unrelated texts are not."""
from __future__ import annotations

import random
import time

import pytest

from agent_core.contamination import Report, check, normalize, row_parts, rows_text, tokens
from agent_core.tasks import arithmetic_task, generate_splits

GSM = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn?",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she "
    "needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much "
    "as her parents. How much more money does Betty need to buy the wallet?",
    "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write "
    "a year?",
    "Mark has a garden with flowers. He planted plants of three different colors in it. Ten of them "
    "are yellow, and there are 80% more of those in purple. There are only 25% as many green flowers "
    "as there are yellow and purple flowers. How many flowers does Mark have in his garden?",
]
HUMANEVAL = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    """
'''


def filler(n: int, seed: int = 0) -> list[dict]:
    """Unrelated but similar-looking word problems (shared phrasing, other numbers and names)."""
    rng = random.Random(seed)
    names = ["Ava", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivan", "Jo"]
    things = ["apples", "stickers", "marbles", "books", "pencils", "cookies", "coins", "shells"]
    rows = []
    for _ in range(n):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
        name, thing = rng.choice(names), rng.choice(things)
        q = (f"{name} has {a} {thing}. {name} buys {b} more {thing} and then gives away {c} of them to "
             f"friends at school. How many {thing} does {name} have now?")
        rows.append({"question": q, "answer": str(a + b - c)})
    return rows


def test_rows_text_layouts():
    assert rows_text({"prompt": "12+7=", "completion": "19"}) == "12+7=\n19"
    assert row_parts({"prompt": "12+7=", "completion": "19"}) == ("12+7=\n19", "12+7=")
    msgs = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                         {"role": "assistant", "content": "Hello"}]}
    assert rows_text(msgs) == "Be brief.\nHi there\nHello"
    assert row_parts(msgs)[1] == "Hi there"
    share = {"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]}
    assert row_parts(share) == ("Q?\nA.", "Q?")
    assert rows_text({"text": "plain"}) == "plain"
    assert rows_text({"question": "q", "answer": "a"}) == "q\na"
    assert rows_text("raw line") == "raw line"
    assert rows_text({"weird": "x", "n": 3}) == "x"
    assert rows_text({"content": [{"type": "text", "text": "part"}]}) == "part"
    assert rows_text(None) == ""


def test_normalization():
    assert tokens("12+7=") == tokens("12 + 7 =") == ["12", "+", "7", "="]
    assert tokens("12-7=") != tokens("12+7=")
    assert normalize("Hello,   WORLD!!") == normalize("hello world") == "hello world"
    assert normalize("1,000 well-known") == normalize("1000 well known")
    assert normalize("\u201cQuoted\u201d \u2212 3") == normalize('"quoted" - 3')


def test_disjoint_arithmetic_splits_are_clean_and_added_test_items_are_found():
    splits = generate_splits(arithmetic_task(3))
    train, test = splits["train"], splits["test"]
    assert check(train, test).contaminated == 0
    assert check(train, splits["dev"]).contaminated == 0
    leaked = train + [dict(r) for r in test[:5]] + [
        {"prompt": test[10]["prompt"].replace("+", " + ").replace("-", " - "), "completion": test[10]["completion"]},
        {"prompt": test[11]["prompt"], "completion": "The answer is " + test[11]["completion"] + "."},
    ]
    report = check(leaked, test)
    assert report.contaminated == 7
    assert report.contaminated_indices == [0, 1, 2, 3, 4, 10, 11]
    assert report.verbatim == 6 and report.reworded == 1  # the spaced-out one; 11's prompt is verbatim
    assert len(report.examples) == 5
    assert report.overlap_fraction == pytest.approx(7 / len(test))


def test_short_templated_items_do_not_match():
    train = [{"prompt": "12+7=", "completion": "19"}, {"prompt": "What is 12+8?", "completion": "20"}]
    evals = [{"prompt": "12+8=", "completion": "20"}, {"prompt": "What is 13+8?", "completion": "21"},
             {"prompt": "21+7=", "completion": "28"}]
    assert check(train, evals).contaminated == 0
    assert check(train, [{"prompt": "  what IS 12 + 8 ?", "completion": "20"}]).contaminated == 1


@pytest.mark.parametrize("edit", ["verbatim", "case_ws_punct", "one_word", "two_words", "answer_differs",
                                  "embedded_in_longer_row", "chat_format"])
def test_lightly_reworded_word_problems_are_found(edit):
    evals = [{"question": q, "answer": "42"} for q in GSM]
    train = filler(2000)
    leaked = []
    for q in GSM:
        if edit == "verbatim":
            row = {"question": q, "answer": "42"}
        elif edit == "case_ws_punct":
            row = {"question": "  " + q.upper().replace(", ", " ,  ").replace("?", "") + "\n", "answer": "42."}
        elif edit == "one_word":
            row = {"question": q.replace(" How ", " So how ", 1).replace("How much", "What amount"), "answer": "42"}
        elif edit == "two_words":
            words = q.split()
            alpha = [i for i, w in enumerate(words) if w.isalpha()]  # change words, not numbers
            words[alpha[len(alpha) // 3]] = "SOMETHING"
            words[alpha[2 * len(alpha) // 3]] = "ELSE"
            row = {"question": " ".join(words), "answer": "42"}
        elif edit == "answer_differs":
            row = {"prompt": q, "completion": "Let's think step by step. First, ... so the answer is 7."}
        elif edit == "embedded_in_longer_row":
            row = {"text": "Practice set.\n" + filler(1, 9)[0]["question"] + "\n" + q + "\nAnswer: 42\n" + filler(1, 8)[0]["question"]}
        else:
            row = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "42"}]}
        leaked.append(row)
    rng = random.Random(1)
    positions = sorted(rng.sample(range(len(train)), len(leaked)))
    for pos, row in zip(positions, leaked):
        train.insert(pos, row)
    report = check(train, evals)
    assert report.contaminated == len(GSM), report.format()
    expected_kind = "verbatim" if edit in ("verbatim", "embedded_in_longer_row", "answer_differs", "chat_format") else "reworded"
    if edit in ("verbatim", "embedded_in_longer_row"):
        assert report.verbatim == len(GSM)
    elif edit in ("case_ws_punct", "one_word", "two_words"):
        assert report.reworded == len(GSM)
    assert {m.kind for m in report.examples} <= {"verbatim", "reworded"}
    del expected_kind


def test_similar_but_different_word_problems_do_not_match():
    # same template, other numbers: distinct items, not contamination
    train = filler(3000, seed=1)
    seen = {tuple(tokens(r["question"])[i] for i in (2, 3, 6, 13)) for r in train}  # a, thing, b, c
    evals = [r for r in filler(400, seed=2) if tuple(tokens(r["question"])[i] for i in (2, 3, 6, 13)) not in seen]
    assert len(evals) > 350
    assert check(train, evals).contaminated == 0
    # the template's own words are boilerplate: only the slots (names, numbers, things) tell
    # items apart, so a copy is found but a chance twin with another name is not
    twin = {"question": evals[0]["question"].replace(evals[0]["question"].split()[0], "Zed"), "answer": "1"}
    copy = {"question": evals[1]["question"].upper(), "answer": "1"}
    report = check(train + [twin, copy], evals)
    assert report.contaminated_indices == [1] and report.reworded == 1


def test_shared_preamble_is_boilerplate():
    rng = random.Random(0)
    vocab = ["".join(rng.choice("abcdefghij") for _ in range(5)) for _ in range(3000)]
    pre = ("You are an expert. Read the question carefully and answer with the letter of the correct "
           "option only. Think before answering. Question: ")

    def item():
        return pre + " ".join(rng.choice(vocab) for _ in range(12)) + " Options: A) x B) y C) z D) w"
    evals, train = [item() for _ in range(200)], [item() for _ in range(3000)]
    assert check(train, evals).contaminated == 0
    words = evals[7].split()
    words[-12] = "changed"  # a word of the question itself
    report = check(train + [evals[3], " ".join(words)], evals)
    assert report.contaminated_indices == [3, 7]
    assert (report.verbatim, report.reworded) == (1, 1)
    # numbers changed in a real item: a new problem
    evals = [{"question": GSM[1], "answer": "10"}]
    train = [{"question": GSM[1].replace("$12", "$15").replace("50 minutes", "40 minutes"), "answer": "10"}]
    assert check(train, evals).contaminated == 0


def test_renamed_function_in_code_is_found():
    renamed = HUMANEVAL.replace("has_close_elements", "check_close")
    report = check([{"text": "x = 1"}, {"text": renamed}], [{"prompt": HUMANEVAL, "canonical_solution": "    pass"}])
    assert report.contaminated == 1 and report.reworded == 1
    m = report.examples[0]
    assert (m.eval_index, m.train_index, m.method) == (0, 1, "ngram")
    assert 0.5 <= m.score < 1


def test_threshold_and_n():
    q = GSM[4]
    words = q.split()
    for i in range(0, len(words), 6):  # change every sixth word
        words[i] = "zz"
    train, evals = [{"text": " ".join(words)}], [{"text": q}]
    assert check(train, evals, threshold=0.5).contaminated == 0
    assert check(train, evals, n=4, threshold=0.2).contaminated == 1
    with pytest.raises(ValueError):
        check(train, evals, threshold=0)
    with pytest.raises(ValueError):
        check(train, evals, n=0)


def test_report_format_and_dict():
    report = check([{"prompt": "12+7=", "completion": "19"}, {}], [{"prompt": "12+7=", "completion": "19"}, ""],
                   name="test.jsonl")
    assert isinstance(report, Report)
    d = report.to_dict()
    assert d["contaminated"] == 1 and d["eval_rows"] == 2 and d["overlap_fraction"] == 0.5
    assert d["empty_train"] == 1 and d["empty_eval"] == 1
    assert d["examples"][0]["train_index"] == 0
    text = report.format()
    assert text.startswith("test.jsonl: 1 of 2 eval items overlap") and "12+7=" in text
    assert "no overlap found" in check([], ["x y z"]).format()


def test_speed_scales_to_large_sets():
    """20k train x 2k eval of ~60-word rows; 100k x 10k is ~5x this (measured 6-7 s on 2 busy cores)."""
    rng = random.Random(0)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(20000)]

    def sent(k):
        return " ".join(rng.choice(vocab) for _ in range(k)) + "?"
    train = [{"prompt": sent(rng.randint(10, 60)), "completion": sent(rng.randint(5, 60))} for _ in range(20_000)]
    evals = [{"question": sent(rng.randint(8, 80)), "answer": str(rng.randint(0, 1000))} for _ in range(2_000)]
    for i in range(10):
        train[i * 1000]["prompt"] = evals[i * 7]["question"].lower()
    t0 = time.perf_counter()
    report = check(train, evals)
    elapsed = time.perf_counter() - t0
    assert report.contaminated == 10
    assert elapsed < 8.0, f"{elapsed:.1f}s"
