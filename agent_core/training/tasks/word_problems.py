"""The built-in `word-problems` task: GSM8K-shaped word problems, small enough for SmolLM2-135M.

Each problem takes one or two operations on small numbers (2..20; 2..12 for a product), e.g.

    Mia has 7 shells. She finds 5 more and then gives 3 away. How many shells does Mia have now?

and its completion is a fixed multi-line worked answer, one line per step, ending as GSM8K's do:

    She finds 5 more: 7 + 5 = 12.
    She gives 3 away: 12 - 3 = 9.
    #### 9

Scored with the `numeric` scorer on the number after `####`; prompts go through the base
model's chat template. The prompt is the question alone (the task's description tells the agent
the format): an instruction line shared by every row would make the contamination guard read
unrelated problems as rewordings of each other. No two problems of a task share their kind and
numbers, and a held-out problem the guard would still read as a rewording of a training one
(the same numbers in a similar sentence) is drawn again. `word_problem_splits(task, secret)` is
its disjoint splits (dev and train from the task's seed, test from a run's secret seed),
`WORD_RECIPE` the playbook agent's LoRA SFT settings for it (measured on the real SmolLM2-135M,
2 CPU cores; figures below). Pure Python.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any, Callable

from agent_core.training.tasks.task import Task

NAME = "word-problems"
SUGGESTED_BASE = "smollm2-135m"
# distinct (kind, numbers) problems: 9,086; at most this many per task keeps drawing them quick
MAX_PROBLEMS = 4000
GUARD_THRESHOLD = 0.4  # stricter than the guard's default 0.5: a margin
GUARD_ROUNDS = 20

_PEOPLE = [
    ("Mia", "She", "her"),
    ("Tom", "He", "his"),
    ("Ava", "She", "her"),
    ("Sam", "He", "his"),
    ("Lily", "She", "her"),
    ("Ben", "He", "his"),
    ("Zoe", "She", "her"),
    ("Leo", "He", "his"),
    ("Emma", "She", "her"),
    ("Noah", "He", "his"),
    ("Ella", "She", "her"),
    ("Omar", "He", "his"),
]
_THINGS = [
    "apples",
    "shells",
    "stickers",
    "marbles",
    "pencils",
    "cookies",
    "books",
    "cards",
    "stamps",
    "balloons",
    "coins",
    "flowers",
]
_BOXES = ["bags", "boxes", "jars", "baskets", "packs"]


def _add(rng: random.Random, who: tuple[str, str, str], thing: str) -> tuple[str, list[str], int]:
    name, he, _ = who
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    q = f"{name} has {a} {thing}. {he} buys {b} more. How many {thing} does {name} have now?"
    return q, [f"{he} buys {b} more: {a} + {b} = {a + b}."], a + b


def _sub(rng: random.Random, who: tuple[str, str, str], thing: str) -> tuple[str, list[str], int]:
    name, he, _ = who
    a = rng.randint(5, 20)
    b = rng.randint(2, a - 1)
    q = f"{name} has {a} {thing}. {he} gives {b} to a friend. How many {thing} does {name} have left?"
    return q, [f"{he} gives {b} away: {a} - {b} = {a - b}."], a - b


def _mul(rng: random.Random, who: tuple[str, str, str], thing: str) -> tuple[str, list[str], int]:
    name, _, _ = who
    box = rng.choice(_BOXES)
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    q = f"{name} has {a} {box} of {thing}. Each one holds {b} {thing}. How many {thing} does {name} have in all?"
    return q, [f"{a} {box} of {b} {thing}: {a} * {b} = {a * b}."], a * b


def _add_sub(rng: random.Random, who: tuple[str, str, str], thing: str) -> tuple[str, list[str], int]:
    name, he, _ = who
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    c = rng.randint(2, a + b - 1)
    q = f"{name} has {a} {thing}. {he} finds {b} more and then gives {c} away. How many {thing} does {name} have now?"
    s = a + b
    return q, [f"{he} finds {b} more: {a} + {b} = {s}.", f"{he} gives {c} away: {s} - {c} = {s - c}."], s - c


def _mul_add(rng: random.Random, who: tuple[str, str, str], thing: str) -> tuple[str, list[str], int]:
    name, _, his = who
    box = rng.choice(_BOXES)
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 20)
    q = (
        f"{name} has {a} {box} with {b} {thing} in each, and {c} more {thing} in {his} pocket. "
        f"How many {thing} does {name} have in all?"
    )
    p = a * b
    return q, [f"{a} {box} of {b} {thing}: {a} * {b} = {p}.", f"With {c} more: {p} + {c} = {p + c}."], p + c


_KINDS: list[Callable[[random.Random, tuple[str, str, str], str], tuple[str, list[str], int]]] = [
    _add,
    _sub,
    _mul,
    _add_sub,
    _mul_add,
]


def problem(rng: random.Random) -> tuple[str, str, tuple]:
    """One (prompt, worked answer ending in "#### N", key) triple; the key is the problem's kind
    and numbers (what makes two problems the same problem)."""
    kind = rng.choice(_KINDS)
    question, steps, answer = kind(rng, rng.choice(_PEOPLE), rng.choice(_THINGS))
    key = (kind.__name__, *(int(n) for n in re.findall(r"\d+", question)))
    return question, "\n".join([*steps, f"#### {answer}"]), key


def word_problems_task(seed: int = 1234, **overrides: Any) -> Task:
    task = Task(
        name=NAME,
        description=(
            "Make the base model better at short math word problems (one or two steps: +, -, *; small "
            "numbers). A good completion works it out one step per line and ends with the final answer "
            'on its own line as "#### <number>". Scored on the number after "####", on a hidden test split.'
        ),
        base_model=SUGGESTED_BASE,
        level=0,
        n_train=120,
        n_dev=32,
        n_test=64,
        seed=seed,
        scorer="numeric",
        scorer_options={"marker": "####"},
        generation={"max_new_tokens": 64, "stop": [], "temperature": 0.0},
    )
    return replace(task, **overrides) if overrides else task


def word_problem_splits(task: Task, secret: str | None = None) -> dict[str, list[dict[str, str]]]:
    """Disjoint {"prompt", "completion"} splits: dev and train from the task's seed, test drawn after
    them from `secret` (a run's secret seed; without one, the public seed); no two share a key, and
    a dev or test problem that the contamination guard would read as a rewording of a training
    problem (the same numbers in a similar sentence) is drawn again."""
    public = random.Random(f"{task.name}:{task.seed}")
    hidden = random.Random(f"{task.name}:{task.seed}:{secret}") if secret else public
    seen: set[tuple] = set()

    def draw(rng: random.Random, n: int) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        while len(rows) < n:
            prompt, completion, key = problem(rng)
            if key not in seen:
                seen.add(key)
                rows.append({"prompt": prompt, "completion": completion})
        return rows

    dev_draft = draw(public, task.n_dev)
    train = draw(public, task.n_train)
    dev = _apart(train, dev_draft, lambda n: draw(public, n))
    test = _apart(train, draw(hidden, task.n_test), lambda n: draw(hidden, n))
    return {"train": train, "dev": dev, "test": test}


def _apart(train: list[dict], held: list[dict], more: Callable[[int], list[dict]]) -> list[dict]:
    """`held` with each row the guard flags against `train` replaced by a fresh one, checked again
    as a whole (the guard's notion of boilerplate depends on the set), until none is flagged."""
    from agent_core.oversight.contamination import check

    for _ in range(GUARD_ROUNDS):
        flagged = set(check(train, held, threshold=GUARD_THRESHOLD).contaminated_indices)
        if not flagged:
            return held
        fresh = iter(more(len(flagged)))
        held = [next(fresh) if i in flagged else row for i, row in enumerate(held)]
    raise ValueError(f"{NAME}: could not draw held-out problems apart from the training ones; use fewer")


# The playbook agent's recipe for word-problems on smollm2-135m (keys as in generator.sft_recipe).
WORD_RECIPE: dict[str, Any] = {
    "method": "sft",
    "lora": True,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "cosine",
    "num_train_epochs": 1,
    "per_device_train_batch_size": 8,
    "seed": 0,
    "max_rounds": 1,  # a round is ~3-4 minutes of CPU training: one, then submit
}
# Figures (2 shared CPU cores, load 1.5-3.5; fp32; the 64-problem test split of secret "sec"):
#   SmolLM2-135M-Instruct as is: 12.5% (its own prose answers; the numeric scorer's last number)
#   120 train rows, 15 steps: 67.2% (train 240 s); 200 rows, 25 steps: 71.9% (train 326 s).
#   The demo (`tinker-tui demo --headless --model smollm2-135m --task word-problems`, conversion
#   included): hidden test 17.2% -> 62.5%, dev 18.8% -> 62.5%, 5m48s wall (training 169 s). After
#   training every answer has the worked format; the misses are arithmetic slips in its steps.
