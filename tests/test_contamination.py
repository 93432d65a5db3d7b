"""Contamination check: verbatim and lightly reworded eval items in a training set are found;
disjoint splits, templated items with other numbers and unrelated texts are not."""

from __future__ import annotations

import json
import random
import time

import pytest

from agent_core.oversight.contamination import Report, check, normalize, row_parts, rows_text, tokens, train_text
from agent_core.training.tasks import arithmetic_task, generate_splits

GSM = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she "
    "needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much "
    "as her parents. How much more money does Betty need to buy the wallet?",
    "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
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
        q = (
            f"{name} has {a} {thing}. {name} buys {b} more {thing} and then gives away {c} of them to "
            f"friends at school. How many {thing} does {name} have now?"
        )
        rows.append({"question": q, "answer": str(a + b - c)})
    return rows


def test_rows_text_layouts():
    assert rows_text({"prompt": "12+7=", "completion": "19"}) == "12+7=\n19"
    assert row_parts({"prompt": "12+7=", "completion": "19"}) == ("12+7=\n19", "12+7=")
    msgs = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello"},
        ]
    }
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
    leaked = (
        train
        + [dict(r) for r in test[:5]]
        + [
            {
                "prompt": test[10]["prompt"].replace("+", " + ").replace("-", " - "),
                "completion": test[10]["completion"],
            },
            {"prompt": test[11]["prompt"], "completion": "The answer is " + test[11]["completion"] + "."},
        ]
    )
    report = check(leaked, test)
    assert report.contaminated == 7
    assert report.contaminated_indices == [0, 1, 2, 3, 4, 10, 11]
    assert report.verbatim == 6 and report.reworded == 1  # the spaced-out one; 11's prompt is verbatim
    assert len(report.examples) == 5
    assert report.overlap_fraction == pytest.approx(7 / len(test))


def test_short_templated_items_do_not_match():
    train = [{"prompt": "12+7=", "completion": "19"}, {"prompt": "What is 12+8?", "completion": "20"}]
    evals = [
        {"prompt": "12+8=", "completion": "20"},
        {"prompt": "What is 13+8?", "completion": "21"},
        {"prompt": "21+7=", "completion": "28"},
    ]
    assert check(train, evals).contaminated == 0
    assert check(train, [{"prompt": "  what IS 12 + 8 ?", "completion": "20"}]).contaminated == 1


@pytest.mark.parametrize(
    "edit",
    ["verbatim", "case_ws_punct", "one_word", "two_words", "answer_differs", "embedded_in_longer_row", "chat_format"],
)
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
            row = {
                "text": "Practice set.\n"
                + filler(1, 9)[0]["question"]
                + "\n"
                + q
                + "\nAnswer: 42\n"
                + filler(1, 8)[0]["question"]
            }
        else:
            row = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "42"}]}
        leaked.append(row)
    rng = random.Random(1)
    positions = sorted(rng.sample(range(len(train)), len(leaked)))
    for pos, row in zip(positions, leaked):
        train.insert(pos, row)
    report = check(train, evals)
    assert report.contaminated == len(GSM), report.format()
    expected_kind = (
        "verbatim" if edit in ("verbatim", "embedded_in_longer_row", "answer_differs", "chat_format") else "reworded"
    )
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
    pre = (
        "You are an expert. Read the question carefully and answer with the letter of the correct "
        "option only. Think before answering. Question: "
    )

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
    report = check(
        [{"prompt": "12+7=", "completion": "19"}, {}], [{"prompt": "12+7=", "completion": "19"}, ""], name="test.jsonl"
    )
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
    # A guard against a pairwise path (minutes here), not a speed target: bench/ holds those, and
    # this suite shares 2 cores between 3 processes.
    assert elapsed < 40.0, f"{elapsed:.1f}s"


# ------------------------------------------------------------------ red-team bypasses (closed)
ARITH_EVAL = [
    {"prompt": p, "completion": c}
    for p, c in (("12+7=", "19"), ("33+4=", "37"), ("5+61=", "66"), ("48-9=", "39"), ("7*8=", "56"))
]


def _found(train, evals=ARITH_EVAL, **kw):
    return check(train, evals, **kw).contaminated_indices


def test_leak_hidden_in_an_extra_field_is_found():
    evals = ARITH_EVAL + [{"question": q, "answer": "42"} for q in GSM[:3]]
    train = filler(300) + [
        {"prompt": "x", "completion": "y", "notes": "12+7="},  # a field not read before
        {"prompt": "x", "completion": "y", "meta": {"scratch": [{"q": "33+4="}]}},  # nested deep
        {"prompt": "x", "completion": "y", "5+61=": "key"},  # text in a key
        {"prompt": "Say hi.", "completion": "hi", "notes": GSM[0]},  # long item
        {"input_ids": [1, 2], "comment": GSM[1].upper()},  # no known key at all
    ]
    report = check(train, evals)
    assert report.contaminated_indices == [0, 1, 2, 5, 6], report.format()
    assert train_text({"a": "x", "b": 7, "c": True, "d": None, "role": "user", "12+7=": ["y"]}) == "x\n7\n12+7=\ny"


def test_leak_in_nested_chat_messages_is_found():
    evals = ARITH_EVAL + [{"question": q, "answer": "42"} for q in GSM[:3]]
    train = [
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "calc", "arguments": json.dumps({"expr": "12+7="})}}
                    ],
                },
            ]
        },
        {
            "prompt": "x",
            "completion": "y",
            "history": [{"role": "user", "content": [{"type": "text", "text": "48-9="}]}],
        },
        {"data": {"turns": [{"from": "human", "value": GSM[0]}, {"from": "gpt", "value": "72"}]}},
        {"messages": [{"role": "user", "content": "Hello"}], "prompt": [{"role": "user", "content": GSM[2]}]},
    ]
    assert _found(train, evals) == [0, 3, 5, 7]
    # a chat copied as is keeps its turns together: the full item (question and answer) matches
    chat = {"messages": [{"role": "user", "content": "12+7="}, {"role": "assistant", "content": "19"}], "id": "a b"}
    [m] = check([chat], ARITH_EVAL[:1]).examples
    assert m.eval_text == "12+7=\n19" and m.method == "contained"


@pytest.mark.parametrize(
    "inserted",
    [
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u00ad",
        "\x01",
        "\x7f",
        "\x0b",
        "\u202e",
        "\U000e0041",
        "\ufe0f",
    ],
)
def test_invisible_characters_inside_a_short_item_are_removed(inserted):
    leaked = [
        {"prompt": "1" + inserted + "2+" + inserted + "7=", "completion": "1" + inserted + "9"},
        {"text": inserted.join("33+4=37")},
    ]
    assert _found(leaked) == [0, 1]
    words = GSM[0].split()
    long_leak = {"text": " ".join(w[:2] + inserted + w[2:] for w in words)}  # every word cut
    assert check([long_leak], [{"question": GSM[0], "answer": "72"}]).contaminated == 1


def test_every_format_character_is_invisible():
    import sys
    import unicodedata

    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(cf) > 150
    for ch in cf + [chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + ["\x7f", "\x85"]:
        assert tokens(f"ab{ch}c 1{ch}2") == ["abc", "12"], hex(ord(ch))
    assert tokens("a\tb\nc\rd") == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "Q: 12+7=", "completion": "19"},
        {"prompt": "Question 1. Compute 12+7= and explain.", "completion": "19"},
        {"text": "12+7= is 19, easy"},
        {"text": "Q12+7=19"},
        {"text": "\u2022 12+7=19"},
        {"text": "Item\u202212+7=19"},
        {"text": "[12+7=] -> 19"},
    ],
)
def test_prefix_or_suffix_around_a_short_item_is_found(row):
    report = check(filler(50) + [row], ARITH_EVAL)
    assert report.contaminated_indices == [0]
    assert report.examples[0].method in ("contained", "exact")  # exact: "\u2022" is punctuation, dropped


def test_packed_few_shot_counts_every_item():
    packed = "12+7=19\n33+4=37\n5+61=66\n48-9=39"
    report = check([{"prompt": "Solve.", "completion": "ok"}, {"text": packed}], ARITH_EVAL)
    assert report.contaminated_indices == [0, 1, 2, 3] and report.contaminated == 4
    assert {m.train_index for m in report.examples} == {1}
    # one per line, in a chat, each with its own prefix
    chat = {
        "messages": [
            {"role": "user", "content": "Examples:\n- Q: 12+7= A: 19\n- Q: 7*8= A: 56"},
            {"role": "assistant", "content": "Got it"},
        ]
    }
    assert _found([chat]) == [0, 4]


def test_nfkc_and_case_folded_variants_are_found():
    evals = ARITH_EVAL + [{"prompt": "Wie heißt die Straße?", "completion": "Hauptstraße"}]
    train = [
        {"text": "Practice: \uff11\uff12\uff0b\uff17\uff1d\uff11\uff19"},  # full-width, with a prefix
        {"text": "Then 48\u20139= 39"},  # en dash as the minus
        {"text": "Note: 7\u00d78 is not it; 7*8=56 is"},
        {"text": "WIE HEISST DIE STRASSE? HAUPTSTRASSE"},
    ]  # ß folds to ss
    assert _found(train, evals) == [0, 3, 4, 5]
    assert tokens("\uff21\uff22\uff23 \ufb01ne \u2460") == ["abc", "fine", "1"]
    assert normalize("STRASSE") == normalize("Straße")


def test_whitespace_variants_inside_a_longer_row_are_found():
    train = [{"text": "Practice:\n\n12\u00a0+\u20097\t=\u3000 19\r\n"}, {"text": "Drill  33 +\n\n4 =\u2028 37"}]
    assert _found(train) == [0, 1]


def test_near_misses_of_a_short_item_do_not_match():
    evals = [
        {"prompt": "12+7=", "completion": "19"},
        {"prompt": "12+9=", "completion": "21"},
        {"prompt": "What is 3+4?", "completion": "7"},
    ]
    train = [
        {"text": "warm-up: 12+8=20"},  # a templated neighbour
        {"text": "then 112+9=121"},  # digit boundary before
        {"text": "and 12+91=103"},  # digit boundary after
        {"text": "also 1.12+9=10.12"},  # a decimal is one number
        {"text": "finally 12+9.5=21.5"},
        {"text": "What is 3+45?"},
        {"text": "What is 13+4?"},
        {"text": "Q: 12+7= 19"},
    ]  # the one real leak
    report = check(train, evals)
    assert report.contaminated_indices == [0], report.format()
    assert tokens("1.12+9=10.12, 1,000 and 3.") == ["1.12", "+", "9", "=", "10.12", "1000", "and", "3"]


def test_a_short_question_shared_by_many_eval_rows_is_a_template():
    evals = [
        {"question": "Which option is correct?", "answer": f"the {w} one"}
        for w in (
            "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
            "a b c d e f g h i j k l m n o p q r s t u v w x y z"
        ).split()
    ]
    assert len(evals) > 32
    assert check([{"prompt": "Which option is correct?", "completion": "Nobody knows."}], evals).contaminated == 0
    assert check([{"text": "Which option is correct?\nThe third one"}], evals).contaminated_indices == [2]


def test_content_digest_follows_content_not_mtime(tmp_path):
    import hashlib
    import os

    from agent_core.oversight.contamination import content_digest

    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "12+8=", "completion": "20"}\n')
    first = content_digest(str(path))
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    st = os.stat(path)
    path.write_text('{"prompt": "12+7=", "completion": "19"}\n')  # same size, a test item
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns and os.stat(path).st_size == st.st_size
    assert content_digest(str(path)) != first
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * (1 << 20) + 5))
    assert content_digest(str(big), chunk=1 << 16) == hashlib.sha256(big.read_bytes()).hexdigest()
    with pytest.raises(OSError):
        content_digest(str(tmp_path / "missing"))


def test_short_item_lookup_stays_fast_on_a_dense_template_set():
    """10k "What is a+b?" items over 0..99 (every number is in ~200 items) x 20k rows full of
    small numbers: short items are looked up by two tokens, not compared with every row."""
    rng = random.Random(3)
    evals = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b)} for a in range(100) for b in range(100)]
    train = [
        {"text": " ".join(f"Kim has {rng.randint(0, 99)} apples and {rng.randint(0, 99)} pears." for _ in range(5))}
        for _ in range(20_000)
    ]
    train[7] = {"text": "Warm-up. Q: what is 12+7? A: 19. Q: WHAT IS 99 + 0? A: 99"}
    t0 = time.perf_counter()
    report = check(train, evals)
    elapsed = time.perf_counter() - t0
    assert report.contaminated_indices == [12 * 100 + 7, 99 * 100 + 0]
    assert elapsed < 30.0, f"{elapsed:.1f}s"  # comparing every row with every item takes minutes
