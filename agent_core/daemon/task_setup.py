"""A run's task from start to score: the public splits into the workspace's data/, the test split
and the scorer into hidden/ (no sandbox can see it), their hashes into the log (on resume, the
installed files are checked against the logged hashes and never installed again); the agent's
brief; and the harness that scores the submission on the hidden split at the end."""

from __future__ import annotations

import shutil

from agent_core.agents.base import Brief
from agent_core.daemon import memory
from agent_core.oversight import hidden
from agent_core.record.events import EventLog
from agent_core.record.runs import RunDir
from agent_core.training import tasks
from agent_core.training.jobs import WorkerError
from agent_core.training.models import RunModels


def install(task: tasks.Task, run: RunDir, hidden_dir, log: EventLog) -> tuple[dict, dict[str, str]]:
    """A new run (or one killed before its data was installed): (scorer spec, hidden hashes)."""
    staging = run.path / "data"
    # a generated task's hidden split comes from a secret seed no sandbox can see
    paths = tasks.materialize(task, staging, secret=hidden.new_secret(hidden_dir))
    data_dir = run.workspace / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    hidden_dir.mkdir(exist_ok=True)
    for split, path in paths.items():
        dest = (hidden_dir if split == "test" else data_dir) / f"{split}.jsonl"
        shutil.move(str(path), dest)
    shutil.rmtree(staging, ignore_errors=True)
    scorer = tasks.install_scorer(task, hidden_dir)  # a python scorer goes to hidden/
    hashes = hidden.digests(hidden_dir)
    log.emit("hidden_installed", **hashes)
    return scorer, hashes


def reinstate(task: tasks.Task, run: RunDir, hidden_dir) -> tuple[dict, dict[str, str]]:
    """A resumed run keeps the data it was given: (scorer spec, hidden hashes), or ValueError
    naming the hidden file that changed."""
    hashes = hidden.logged_digests(run.events_path)
    problem = hidden.verify(hidden_dir, hashes)
    if problem:
        raise ValueError(f"cannot resume: {problem}")
    return task.scorer_spec(hidden_dir), hashes


def brief(task: tasks.Task, run: RunDir, cfg: dict, datasets: list[str], limits: dict | None) -> Brief:
    """What the agent is told at the start: the task, the base model, the budget, the datasets, a
    recipe, and what earlier runs of this task on this model found (the runs home's ledger)."""
    model = cfg.get("model") or "tiny"
    out = Brief(
        task=task.name,
        description=task.description,
        base_model=model,
        budget_s=cfg.get("budget_s"),
        datasets=sorted(datasets),
        recipe=tasks.sft_recipe(task),
    )
    out.recipe["demo_flagged_action"] = bool(cfg.get("demo"))
    if limits is not None:
        out.limits = limits
    home = run.path.parent.parent  # <home>/runs/<id>
    out.memory = memory.digest(home, task.name, model, exclude=run.id)
    out.prior = memory.best_prior(home, task.name, model, exclude=run.id)
    return out


async def score_submission(models: RunModels, hidden_dir, submitted: str, log: EventLog) -> None:
    """The harness: score the base model and the submission on the hidden test split."""
    test = hidden_dir / "test.jsonl"
    if not test.exists() or models.base_path is None:
        return
    await models.ensure_base()
    for role, name in (("base", "base"), ("submitted", submitted)):
        path = models.checkpoint_path(name)
        if path is None:
            continue
        try:
            result = await models.evaluate(path, test)
        except WorkerError as exc:
            log.emit("alert", rule="harness", severity="high", message=f"scoring {name} failed: {exc.message}")
            continue
        log.emit("score", split="test", value=result["score"], checkpoint=name, role=role)
