"""The run's models: the base model (built on first use) and the checkpoints its jobs saved, and
scoring a model with the task's scorer after checking the hidden split.

The tools, the policy gate and the harness ask this object; the daemon sets the base model, the
scorer and the task's template and generation settings once the task is installed
(agent_core.daemon.supervisor.Supervisor.prepare), so that every evaluate, sample and training
job renders prompts and generates answers the same way.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent_core.oversight import hidden
from agent_core.training import base_models, tasks
from agent_core.training.jobs import JobManager, WorkerError


class RunModels:
    def __init__(self, run_path: Path, jobs: JobManager, hidden_dir: Path):
        self.run_path = Path(run_path)
        self.jobs = jobs
        self.hidden_dir = Path(hidden_dir)
        self.base_source: base_models.BaseSource | None = None  # set once the task is installed
        self.scorer: dict | None = None  # the task's scorer spec
        self.hidden_hashes: dict[str, str] = {}  # sha256 of the hidden split and scorer, checked before scoring
        self.template: str | None = None  # the task's template (None: each model's lineage, else auto)
        self.generation: dict = {}  # the task's max_new_tokens, stop, temperature, top_p
        self._base_lock = asyncio.Lock()

    @property
    def base_path(self) -> Path | None:
        return self.base_source.path if self.base_source is not None else None

    def set_base(self, source: base_models.BaseSource, task: tasks.Task | None = None) -> None:
        """The base model; with the task, also its template and generation settings (set_generation)."""
        self.base_source = source
        if task is not None:
            self.set_generation(task.template, task.generation)

    def set_generation(self, template: str | None, generation: dict | None) -> None:
        """The task's prompt template and generation settings (agent_core.training.tasks.Task)."""
        self.template = template
        self.generation = dict(generation or {})

    def generation_fields(self, data: Path | None, *, stop: list[str] | None = None, prefix: str = "") -> dict:
        """The spec fields (evaluate's names, or train's with prefix "eval_") that make a job generate
        as the task says: max_new_tokens (default: room for the longest answer in `data`), stop
        (default `stop`, else a newline, as the built-in tasks want), temperature, top_p."""
        g = self.generation
        out = {
            "max_new_tokens": g.get("max_new_tokens") or (tasks.answer_budget(data) if data is not None else None),
            "stop": list(g["stop"]) if g.get("stop") is not None else (["\n"] if stop is None else stop),
            "temperature": g.get("temperature"),
            "top_p": g.get("top_p"),
        }
        return {prefix + k: v for k, v in out.items() if v is not None}

    def template_field(self) -> dict:
        """{"template": the task's} when the task names one (else each model's lineage, else auto)."""
        return {"template": self.template} if self.template else {}

    async def ensure_base(self) -> Path:
        """Make the base model folder the first time a tool needs it: build `tiny`, convert the
        smollm2 GGUF, or fetch an approved hub model (agent_core.training.base_models)."""
        if self.base_source is None:
            self.base_source = base_models.resolve("tiny", self.run_path)
        source, path = self.base_source, self.base_source.path
        if source.built_here and not (path / "config.json").exists():
            async with self._base_lock:
                if not (path / "config.json").exists():
                    try:
                        await self.jobs.run_once(source.build_spec(), "build-base", offline=source.kind != "download")
                    except BaseException:
                        source.discard()
                        raise
                    source.publish()
        return path

    def checkpoints(self) -> dict[str, Path]:
        """{job id: checkpoint folder} of the jobs that saved one, in start order."""
        return {
            job.id: Path(job.result["checkpoint"])
            for job in self.jobs.jobs.values()
            if job.result and job.result.get("checkpoint")
        }

    def checkpoint_path(self, name: str) -> Path | None:
        """ "base", "latest" or a job id -> its model folder (None when there is none)."""
        if name == "base":
            return self.base_path
        ckpts = self.checkpoints()
        if name == "latest" and ckpts:
            return list(ckpts.values())[-1]
        return ckpts.get(name)

    async def evaluate(self, model: Path, data: Path, limit: int | None = None) -> dict:
        """Score `model` on `data` (a frozen copy or the hidden split) with the task's scorer, after
        checking that the hidden split and scorer are the ones installed at the start."""
        problem = hidden.verify(self.hidden_dir, self.hidden_hashes)
        if problem:
            raise WorkerError("bad_input", f"refusing to score: {problem}")
        spec = {
            "mode": "evaluate",
            "model": str(model),
            "dataset": str(data),
            "scorer": self.scorer,
            **self.template_field(),
            **self.generation_fields(data),  # long answers are not cut short
        }
        if limit:
            spec["limit"] = int(limit)
        return await self.jobs.run_once(spec, f"eval-{int(time.time() * 1000)}")
