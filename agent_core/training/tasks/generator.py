"""The built-in task generators: `arithmetic`, with difficulty levels, and `word-problems`
(word_problems.py: GSM8K-shaped, for smollm2-135m). Pure Python.

    level 1   a+b, single digits                      "3+4="    -> "7"
    level 2   a+b, two two-digit numbers (10..99)     "12+57="  -> "69"
    level 3   a+b or a-b, up to two digits (a >= b)   "52-17="  -> "35"
    level 4   a+b / a-b up to three digits (results may be negative), a*b two digits x one digit
    level 5   a+b / a-b up to three digits, a*b two digits x two digits

`arithmetic_task(level, seed)` is the Task, `arithmetic_splits(task, secret)` its disjoint
splits (dev and train from the task's seed, then test from a run's secret seed, without
replacement), `sft_recipe(task)` the offline playbook agent's tuned SFT settings for it (and for
word-problems).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Callable

from agent_core.training.tasks.scorers import SCORERS
from agent_core.training.tasks import word_problems
from agent_core.training.tasks.task import Task

TINY_BASE = "tiny-char-llama"  # built offline by agent_core.ml.tiny.build_tiny_model
DEFAULT_LEVEL = 2
MAX_LEVEL = 5


def _level1(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(10), rng.randrange(10)
    return f"{a}+{b}=", str(a + b)


def _level2(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(10, 100), rng.randrange(10, 100)
    return f"{a}+{b}=", str(a + b)


def _level3(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randrange(100), rng.randrange(100)
    if rng.random() < 0.5:
        return f"{a}+{b}=", str(a + b)
    a, b = max(a, b), min(a, b)
    return f"{a}-{b}=", str(a - b)


def _level4(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 1 / 3:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}+{b}=", str(a + b)
    if r < 2 / 3:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}-{b}=", str(a - b)
    a, b = rng.randrange(100), rng.randrange(10)
    return f"{a}*{b}=", str(a * b)


def _level5(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.25:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}+{b}=", str(a + b)
    if r < 0.5:
        a, b = rng.randrange(1000), rng.randrange(1000)
        return f"{a}-{b}=", str(a - b)
    a, b = rng.randrange(100), rng.randrange(100)
    return f"{a}*{b}=", str(a * b)


# level -> (generator, number of distinct prompts, description)
_ARITH: dict[int, tuple[Callable[[random.Random], tuple[str, str]], int, str]] = {
    1: (_level1, 100, "single-digit addition, e.g. 3+4=7"),
    2: (_level2, 90 * 90, "addition of two two-digit numbers, e.g. 12+57=69"),
    3: (_level3, 100 * 100 + 100 * 101 // 2, "addition and subtraction of numbers up to two digits, e.g. 52-17=35"),
    4: (
        _level4,
        2 * 1000 * 1000 + 100 * 10,
        "three-digit addition/subtraction (negative results) and two-digit x one-digit multiplication",
    ),
    5: (
        _level5,
        2 * 1000 * 1000 + 100 * 100,
        "three-digit addition/subtraction and two-digit x two-digit multiplication",
    ),
}

# default split sizes per level (level 1 has only 100 distinct problems)
_SIZES = {
    1: (60, 10, 30),
    2: (7000, 200, 500),
    3: (8000, 200, 500),
    4: (8000, 200, 500),
    5: (8000, 200, 500),
}

DEMO_TASK = Task(
    name="arithmetic",
    description=f"arithmetic level {DEFAULT_LEVEL}: {_ARITH[DEFAULT_LEVEL][2]}; answer with the number only",
    base_model=TINY_BASE,
    level=DEFAULT_LEVEL,
    n_train=_SIZES[DEFAULT_LEVEL][0],
    n_dev=_SIZES[DEFAULT_LEVEL][1],
    n_test=_SIZES[DEFAULT_LEVEL][2],
    seed=1234,
)

BUILTIN_TASKS = ("arithmetic", word_problems.NAME)


def arithmetic_task(level: int = DEFAULT_LEVEL, seed: int = 1234, **overrides: Any) -> Task:
    if level not in _ARITH:
        raise ValueError(f"arithmetic has levels 1..{MAX_LEVEL}, not {level!r}")
    n_train, n_dev, n_test = _SIZES[level]
    task = Task(
        name="arithmetic",
        description=f"arithmetic level {level}: {_ARITH[level][2]}; answer with the number only",
        base_model=TINY_BASE,
        level=level,
        n_train=n_train,
        n_dev=n_dev,
        n_test=n_test,
        seed=seed,
    )
    return replace(task, **overrides) if overrides else task


def validate(task: Task) -> None:
    """The task's scorer is known and a generated task's split sizes fit its level (ValueError if not)."""
    if task.scorer not in SCORERS:
        raise ValueError(f"unknown scorer {task.scorer!r} (known: {SCORERS})")
    if task.data:
        return
    for key in ("n_train", "n_dev", "n_test"):
        value = getattr(task, key)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    words = task.name == word_problems.NAME
    space = word_problems.MAX_PROBLEMS if words else _ARITH[task.level][1]
    total = task.n_train + task.n_dev + task.n_test
    if total > space:
        what = task.name if words else f"arithmetic level {task.level}"
        raise ValueError(f"{what} allows at most {space} problems; n_train+n_dev+n_test = {total}")


def arithmetic_splits(task: Task, secret: str | None = None) -> dict[str, list[dict[str, str]]]:
    """A generated task's splits as lists of {"prompt", "completion"} rows (disjoint).

    The dev and train splits follow the task's public seed (the same data every run, so a
    recipe's result is reproducible); the test split is drawn after them with `secret`
    (a run's secret seed, kept in the run's hidden/ folder), so nobody can rebuild a run's hidden
    split from the public generator. Where train and dev nearly exhaust a level's problems (level
    2: 7,200 of 8,100), the test is necessarily among the rest: the contamination guard, not the
    seed, is what catches training on them. Without a secret the test split follows the public
    seed too (offline checks, tests)."""
    if task.name not in BUILTIN_TASKS:
        raise ValueError(f"unknown task {task.name!r}")
    validate(task)
    if task.name == word_problems.NAME:
        return word_problems.word_problem_splits(task, secret)
    gen = _ARITH[task.level][0]
    public = random.Random(f"{task.name}:{task.level}:{task.seed}")
    hidden = random.Random(f"{task.name}:{task.level}:{task.seed}:{secret}") if secret else public
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for split, n, rng in (("dev", task.n_dev, public), ("train", task.n_train, public), ("test", task.n_test, hidden)):
        rows: list[dict[str, str]] = []
        while len(rows) < n:
            prompt, completion = gen(rng)
            if prompt in seen:
                continue
            seen.add(prompt)
            rows.append({"prompt": prompt, "completion": completion})
        splits[split] = rows
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["test"]}


def sft_recipe(task: Task) -> dict[str, Any]:
    """Hyperparameters for the offline playbook agent's SFT job on `task` with the tiny base
    (agent_core.ml.tiny defaults: 4 layers, width 128, BOS-prefixed character tokenizer).

    Keys map one-to-one onto the worker's train spec fields. Tuned for DEMO_TASK (arithmetic
    level 2, 7000 training problems) on 2 CPU cores; see the figures in the module notes below.
    Levels other than 2 are not tuned: they get more epochs as a starting point.
    """
    if task.name == word_problems.NAME:
        return dict(word_problems.WORD_RECIPE)
    recipe = dict(_RECIPE)
    if task.level == 1:
        recipe["num_train_epochs"] = 60  # ~120 steps; see the level 1 note below
    elif task.level >= 3:
        recipe["num_train_epochs"] = 5 + 3 * (task.level - 2)
    return recipe


# Tuning notes (arithmetic level 2, tiny base, 1 CPU thread, batch 32; test exact match):
# - This recipe through the worker (TRL SFTTrainer, 1095 steps, ~58-75 s of training):
#   seed 0 (the demo) 0.0 -> 1.0; other seeds (model init, data, order) 1.0, 0.918, 1.0.
# - What made it work: the BOS token in the tiny tokenizer (an attention anchor). Without BOS,
#   lr 1.5e-3 for 5 epochs passed 0.9 for 1 of 8 seed/format runs; the rest sat on a ~0.65-loss
#   plateau at 10-25% (tens digit right, units digit wrong). AdamW weight decay 0.1 + beta2 0.98
#   rescued 2 of 3 seeds without BOS; with BOS they give no gain (0.986, 1.0, 0.946), so the
#   recipe keeps the plain optimizer and needs only the standard spec fields.
# - Without BOS, lr 2e-3 (batch 32 or 64) stalled, and so did 2-layer or width-96 models.
# - LoRA (r=16, lr 3e-3) on the randomly initialised base reaches only 0.14: the frozen random
#   embeddings / tied head / norms cap the logit scale (loss stays ~2.5), so use full fine-tuning.
# - Level 1 (60 training problems out of 100) does not generalise to its unseen test pairs
#   (0.27 with 60 epochs): it is a memorisation level, not a good demo.
_RECIPE: dict[str, Any] = {
    "method": "sft",
    "lora": False,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "cosine",
    "num_train_epochs": 5,
    "per_device_train_batch_size": 32,
    "seed": 0,
}
