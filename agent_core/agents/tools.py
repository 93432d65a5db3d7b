"""The post-training tools an agent calls. Every call has already passed the policy gate.

Each tool returns a ToolOutcome: ok, a compact decision-ready summary, and structured data.
Tool names and their argument names are public (the LLM agents see the schemas).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from agent_core.oversight import fence, safe_fs
from agent_core.agents.base import ToolOutcome
from agent_core.agents.compaction import compact_text
from agent_core.agents.tool_schemas import SCHEMAS, ToolArgError, check_args  # noqa: F401  (the contract, re-exported)
from agent_core.record.secrets import redact
from agent_core.training.jobs import WorkerError

if TYPE_CHECKING:
    from agent_core.record.events import EventLog
    from agent_core.record.runs import RunDir
    from agent_core.training.jobs import JobManager
    from agent_core.training.models import RunModels
    from agent_core.training.workspace import Workspace

MAX_READ = 20_000


@dataclass
class ToolContext:
    """What the tools may use of the run; the daemon builds one (agent_core.daemon.supervisor)."""

    run: RunDir  # the run's folders: workspace, checkpoints, jobs, downloads
    log: EventLog
    files: Workspace  # agent paths, resolved safely; datasets and their frozen copies
    jobs: JobManager
    models: RunModels  # the base model, the checkpoints, scoring
    model_name: str  # the base model as the person named it (for lineage)
    fenced: bool  # False only for a run started with --unsafe-no-sandbox
    wake_reason: Callable[[], str | None]  # why a parked `wait` should return now (None: keep waiting)
    submit: Callable[[str], None]  # record the submission


class Toolbox:
    def __init__(self, ctx: ToolContext, network_approved: bool = False):
        self.ctx = ctx
        # the gate flagged this call's network use and a person (or the policy) allowed it
        self.network_approved = network_approved

    async def call(self, tool: str, args: dict) -> ToolOutcome:
        fn = getattr(self, f"t_{tool}")
        try:
            return await fn(**args)
        except WorkerError as exc:
            where = f" at step {exc.step}" if exc.step is not None else ""
            return ToolOutcome(tool, False, f"{tool} failed ({exc.kind}{where}): {exc.message}")
        except (OSError, ValueError) as exc:
            return ToolOutcome(tool, False, f"{tool} failed: {exc}")

    # -- data -----------------------------------------------------------------
    async def t_list_datasets(self) -> ToolOutcome:
        ctx = self.ctx
        rows = []
        for name, rel in ctx.files.datasets().items():
            with os.fdopen(safe_fs.open_beneath(ctx.run.workspace, rel), "rb") as fh:  # streamed
                n = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            rows.append({"name": name, "rows": n, "path": rel})
        lines = [f"{r['name']}: {r['rows']} rows ({r['path']})" for r in rows]
        lines.append("test: hidden (the harness scores your submitted checkpoint on it)")
        return ToolOutcome("list_datasets", True, "; ".join(lines), {"datasets": rows})

    async def t_load_dataset(self, name: str, limit: int = 3) -> ToolOutcome:
        frozen = self.ctx.files.frozen_dataset(name)
        if frozen is None:
            return await self._download(name)
        rows, bad = [], 0
        with open(frozen[0], encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    bad += 1
        fields = sorted({k for r in rows[:100] if isinstance(r, dict) for k in r})
        head = rows[: max(0, min(limit, 20))]
        summary = f"{name}: {len(rows)} rows, fields {fields}; first: " + "; ".join(
            json.dumps(r, ensure_ascii=False)[:80] for r in head
        )
        if bad:
            summary += f"; WARNING {bad} malformed line(s) skipped"
        return ToolOutcome(
            "load_dataset", True, summary, {"rows": len(rows), "fields": fields, "head": head, "malformed": bad}
        )

    async def _download(self, name: str) -> ToolOutcome:
        # Reached only after a person approved the outside_download. The worker writes into the
        # daemon's own folder; the result is then written into the workspace without following
        # whatever the agent may have put at that name.
        source = name.removeprefix("hf:")
        filename = source.replace("/", "__") + ".jsonl"
        staged = self.ctx.run.path / "downloads" / filename
        staged.parent.mkdir(mode=0o700, exist_ok=True)
        spec = {"source": source, "out": str(staged)}
        try:
            result = await self.ctx.jobs.run_once(
                spec, f"download-{int(time.time())}", timeout=300, module="agent_core.ml.download", offline=False
            )
            safe_fs.write_text(
                self.ctx.run.workspace, f"data/{filename}", staged.read_text(encoding="utf-8", errors="replace")
            )
        except WorkerError as exc:
            return ToolOutcome(
                "load_dataset", False, f"could not download {source!r}: {exc.message}. Use the local datasets."
            )
        finally:
            staged.unlink(missing_ok=True)
        return ToolOutcome(
            "load_dataset",
            True,
            f"downloaded {source} to {filename}: {result.get('rows')} rows",
            {**result, "out": f"data/{filename}"},
        )

    # -- files: resolved beneath the workspace, no symlink followed (agent_core/oversight/safe_fs.py) -------
    async def t_read_file(self, path: str) -> ToolOutcome:
        with os.fdopen(safe_fs.open_beneath(self.ctx.run.workspace, path), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(4 * MAX_READ + 4)  # never the whole of a huge (or sparse) file
        text = raw.decode("utf-8", "replace")
        if len(raw) >= size and len(text) <= MAX_READ:
            return ToolOutcome("read_file", True, f"{path}: {len(text)} characters", {"content": text})
        more = f"{len(text) - MAX_READ} more characters" if len(raw) >= size else f"{size} bytes in all"
        return ToolOutcome("read_file", True, f"{path}: {size} bytes", {"content": text[:MAX_READ] + f"\n[... {more}]"})

    async def t_write_file(self, path: str, content: str) -> ToolOutcome:
        safe_fs.write_text(self.ctx.run.workspace, path, content)
        return ToolOutcome("write_file", True, f"wrote {len(content)} characters to {path}")

    async def t_list_files(self, path: str = ".") -> ToolOutcome:
        files = sorted(safe_fs.walk_files(self.ctx.run.workspace, path))
        return ToolOutcome("list_files", True, f"{len(files)} files: " + ", ".join(files[:50]), {"files": files})

    # -- training -------------------------------------------------------------
    async def t_start_training(
        self,
        dataset: str,
        base: str = "base",
        lora: bool = False,
        learning_rate: float | None = None,
        epochs: float = 1.0,
        batch_size: int = 16,
        lr_scheduler_type: str = "constant",
        max_steps: int | None = None,
        warmup_steps: int = 0,
        weight_decay: float = 0.0,
        adam_beta2: float | None = None,
        lora_r: int | None = None,
        launcher: str = "local",
        num_processes: int | None = None,
        method: str = "sft",
        reward_file: str | None = None,
        num_generations: int | None = None,
        temperature: float | None = None,
        max_completion_length: int | None = None,
        beta: float | None = None,
        eval_steps: int | None = None,
    ) -> ToolOutcome:
        ctx = self.ctx
        frozen = ctx.files.frozen_dataset(dataset)  # the job reads this copy, never the live file
        if frozen is None:
            return ToolOutcome("start_training", False, f"no dataset {dataset!r}; see list_datasets")
        data, data_sha = frozen
        method = (method or "sft").lower()
        if method not in ("sft", "grpo"):
            return ToolOutcome("start_training", False, f"method must be sft or grpo, not {method!r}")
        grpo_only = {
            "reward_file": reward_file,
            "num_generations": num_generations,
            "temperature": temperature,
            "max_completion_length": max_completion_length,
            "beta": beta,
        }
        if method == "sft" and any(v is not None for v in grpo_only.values()):
            named = ", ".join(k for k, v in grpo_only.items() if v is not None)
            return ToolOutcome("start_training", False, f"{named} apply to method grpo only")
        reward_rel = None
        if method == "grpo":
            if not reward_file:
                return ToolOutcome(
                    "start_training",
                    False,
                    "grpo needs reward_file: a workspace Python file defining "
                    "reward(prompt, completion, **fields) -> float",
                )
            reward_rel = os.path.normpath(reward_file)
            if not safe_fs.is_regular(ctx.run.workspace, reward_rel) or reward_rel.startswith("data/"):
                return ToolOutcome(
                    "start_training",
                    False,
                    f"reward_file {reward_file!r} not found in the workspace "
                    "(a regular file outside data/; symlinks are not followed)",
                )
        if eval_steps is not None and eval_steps < 1:
            return ToolOutcome("start_training", False, "eval_steps must be a positive number of steps")
        dev = (ctx.files.frozen_dataset("dev") or (None,))[0] if eval_steps else None
        if eval_steps and dev is None:
            return ToolOutcome("start_training", False, "eval_steps needs a dev split; there is none")
        if learning_rate is None:
            learning_rate = 1e-5 if method == "grpo" else 1e-3
        parent = ctx.models.checkpoint_path(base)
        if parent is None:  # reached only through an approved model_substitution
            parent = Path(base).expanduser()
            if not (parent / "config.json").is_file():
                return ToolOutcome(
                    "start_training", False, f"{base!r} is neither a checkpoint of this run nor a local model folder"
                )
        await ctx.models.ensure_base()
        job_no = len(ctx.jobs.jobs) + 1
        out = ctx.run.checkpoints / f"job{job_no}"
        spec = {
            "mode": "train",
            "method": "sft",
            "base_model": str(ctx.models.base_path),
            "init_from": None if base == "base" else str(parent),
            "dataset": str(data),
            "dataset_source": dataset,
            "dataset_sha256": data_sha,
            "output_dir": str(out),
            "lora": lora,
            "learning_rate": learning_rate,
            "num_train_epochs": epochs,
            "per_device_train_batch_size": batch_size,
            "lr_scheduler_type": lr_scheduler_type,
            "seed": 0,
            "max_steps": max_steps,
            "warmup_steps": warmup_steps,
            "weight_decay": weight_decay,
            "adam_beta2": adam_beta2,
            "lora_r": lora_r,
            "launcher": launcher,
            "num_processes": num_processes,
            "lineage": {"base_model": ctx.model_name, "parent": base, "run": ctx.run.id},
            **ctx.models.template_field(),  # the task's rendering of prompts, recorded in lineage.json
        }
        if eval_steps:
            spec.update(
                eval_dataset=str(dev),
                eval_steps=eval_steps,
                eval_limit=256,
                eval_scorer=ctx.models.scorer,
                **ctx.models.generation_fields(dev, prefix="eval_"),
            )
        if method == "grpo":
            # the reward and the workspace files it may read, frozen read-only for this job: a later
            # edit of any of them changes nothing here; a new job with a new bundle asks first
            bundle = ctx.run.jobs / f"{out.name}.reward"
            manifest = ctx.files.freeze_bundle(bundle)
            if reward_rel not in manifest["files"]:
                return ToolOutcome(
                    "start_training",
                    False,
                    f"reward_file {reward_file!r} could not be frozen: "
                    + "; ".join(f"{r}: {why}" for r, why in manifest["skipped"] if r == reward_rel),
                )
            group = num_generations or 8
            spec.update(
                method="grpo",
                reward_file=str(bundle / reward_rel),
                reward_cwd=str(bundle),
                reward_source=reward_rel,
                reward_sha256=manifest["sha256"],
                reward_manifest=manifest["files"],
                sandbox="bwrap" if ctx.fenced else "none",
                num_generations=group,
                per_device_train_batch_size=batch_size * group,
                temperature=1.0 if temperature is None else temperature,
                max_completion_length=max_completion_length,
                beta=beta,
            )
            spec["lineage"].update(reward_file=reward_rel, reward_sha256=manifest["sha256"])
        job = await ctx.jobs.start(spec)
        if method == "grpo":
            what = (
                f"GRPO on {dataset} from {base}, reward {reward_file}, lr {learning_rate:g} "
                f"({lr_scheduler_type}), {batch_size} prompts x {spec['num_generations']} completions per "
                f"step, temperature {spec['temperature']:g}, {'LoRA' if lora else 'full'}"
            )
        else:
            what = (
                f"SFT on {dataset} from {base}, lr {learning_rate:g}, "
                f"{epochs:g} epoch(s), batch {batch_size}, {'LoRA' if lora else 'full'}"
            )
        if eval_steps:
            what += f", dev score every {eval_steps} steps"
        return ToolOutcome(
            "start_training", True, f"{job.id} started: {what}; call wait to park until it ends", {"job": job.id}
        )

    def _job(self, job: str):
        if job not in self.ctx.jobs.jobs:
            raise ValueError(f"no job {job!r}; jobs: {', '.join(self.ctx.jobs.jobs) or 'none'}")
        return self.ctx.jobs.jobs[job]

    async def t_job_status(self, job: str) -> ToolOutcome:
        j = self._job(job)
        return ToolOutcome("job_status", True, _job_line(j.brief()), j.brief())

    async def t_wait(self, job: str | None = None, timeout_s: float = 300.0) -> ToolOutcome:
        ctx = self.ctx
        target = self._job(job) if job else (ctx.jobs.running() or [None])[-1]
        if target is None:
            return ToolOutcome("wait", True, "no job is running", {})
        deadline = time.monotonic() + max(1.0, min(timeout_s, 3600.0))
        reason = "timeout"
        while True:
            if target.done.is_set():
                reason = "job ended"
                break
            woke = ctx.wake_reason()
            if woke:
                reason = woke
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(target.done.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass
        brief = target.brief()
        brief["woke"] = reason
        return ToolOutcome("wait", True, f"{reason}: {_job_line(brief)}", brief)

    async def t_stop_training(self, job: str) -> ToolOutcome:
        j = await self.ctx.jobs.stop(self._job(job).id)
        return ToolOutcome("stop_training", True, _job_line(j.brief()), j.brief())

    async def t_sample(self, checkpoint: str, prompts: list, max_new_tokens: int | None = None) -> ToolOutcome:
        path = await self._model(checkpoint)
        spec = {
            "mode": "sample",
            "model": str(path),
            "prompts": [str(p) for p in prompts[:32]],
            "temperature": 0.0,
            **self.ctx.models.template_field(),
            "max_new_tokens": 16,
            **self.ctx.models.generation_fields(None, stop=[]),  # the task's settings; no cut unless it asks
        }
        if max_new_tokens:
            spec["max_new_tokens"] = max_new_tokens
        result = await self.ctx.jobs.run_once(spec, f"sample-{int(time.time() * 1000)}")
        samples = result.get("samples", [])
        text = "; ".join(f"{s.get('prompt')!r} -> {s.get('completion')!r}" for s in samples[:8])
        return ToolOutcome("sample", True, f"{len(samples)} samples: {text}", {"samples": samples})

    async def t_evaluate(self, checkpoint: str, split: str = "dev", limit: int | None = None) -> ToolOutcome:
        path = await self._model(checkpoint)
        frozen = self.ctx.files.frozen_dataset(split)
        if frozen is None:
            return ToolOutcome("evaluate", False, f"no split {split!r}; use dev")
        result = await self.ctx.models.evaluate(path, frozen[0], limit)
        self.ctx.log.emit("score", split=split, value=result["score"], checkpoint=checkpoint, role="agent")
        wrong = [e for e in result.get("examples", []) if not e.get("correct")][:3]
        misses = "; ".join(f"{e['prompt']!r} wanted {e['expected']!r} got {e['got']!r}" for e in wrong)
        scorer = result.get("scorer", "exact")
        what = "exact match" if scorer == "exact" else f"mean {scorer} score"
        failed = (
            f"; the task's scorer failed on {result['scorer_errors']} row(s), scored 0"
            if result.get("scorer_errors")
            else ""
        )
        return ToolOutcome(
            "evaluate",
            True,
            f"{checkpoint} on {split}: {result['score']:.1%} {what} "
            f"({result.get('correct')}/{result.get('n')}{'' if scorer == 'exact' else ' fully right'})"
            + (f"; misses: {misses}" if misses else "")
            + failed,
            {"score": result["score"], "n": result.get("n"), "examples": result.get("examples", [])},
        )

    async def _model(self, name: str) -> Path:
        if name == "base":
            return await self.ctx.models.ensure_base()
        return self._checkpoint(name)

    def _checkpoint(self, name: str) -> Path:
        path = self.ctx.models.checkpoint_path(name)
        if path is None:
            raise ValueError(
                f"no checkpoint {name!r}; use 'base' or a finished job id "
                f"({', '.join(self.ctx.models.checkpoints()) or 'none yet'})"
            )
        return path

    # -- bookkeeping ----------------------------------------------------------
    async def t_run_python(self, code: str, timeout_s: float = 60.0) -> ToolOutcome:
        """Called after the gate: `network_approved` only when it flagged this call's network use
        and a person (or a policy that allows it) approved it."""
        from agent_core.oversight import sandbox

        try:
            res = await sandbox.run_code(
                code, self.ctx.run.workspace, timeout=timeout_s, network=self.network_approved, fenced=self.ctx.fenced
            )
        except fence.FenceUnavailable as exc:
            return ToolOutcome("run_python", False, f"run_python cannot run: {exc}")
        output = redact(compact_text(res["output"], max_chars=4000)) if res["output"].strip() else "(no output)"
        blocked = res["network_attempts"]
        if blocked:
            self.ctx.log.emit(
                "alert",
                rule="network",
                severity="warning",
                message=f"run_python tried to reach the network and was blocked: {'; '.join(blocked[:3])}",
            )
        if res["timed_out"]:
            head = f"timed out after {sandbox.effective_timeout(timeout_s):g}s (killed)"
        else:
            head = f"exit {res['exit']} in {res['seconds']:g}s"
        data = {k: res[k] for k in ("exit", "timed_out", "bytes", "isolation", "seconds")}
        if blocked:
            data["network_blocked"] = blocked[:5]
        ok = res["exit"] == 0 and not res["timed_out"]
        return ToolOutcome("run_python", ok, f"{head}; output:\n{output}", data)

    async def t_note(self, text: str) -> ToolOutcome:
        old = (
            safe_fs.read_text(self.ctx.run.workspace, "NOTES.md")
            if safe_fs.is_regular(self.ctx.run.workspace, "NOTES.md")
            else ""
        )
        safe_fs.write_text(self.ctx.run.workspace, "NOTES.md", old + f"- {redact(text.strip())}\n")
        self.ctx.log.emit("note", text=text)
        return ToolOutcome("note", True, "noted")

    async def t_submit(self, checkpoint: str) -> ToolOutcome:
        self._checkpoint(checkpoint)
        self.ctx.submit(checkpoint)
        self.ctx.log.emit("submitted", checkpoint=checkpoint)
        return ToolOutcome("submit", True, f"submitted {checkpoint}; the harness scores it on the hidden test split")


def _job_line(b: dict) -> str:
    parts = [f"{b['job']} {b['state']}", f"step {b['step']}" + (f"/{b['total']}" if b.get("total") else "")]
    if "reward_mean" in b:  # GRPO: the reward tells more than the loss
        parts.append(f"reward {b['reward_mean']:.3g}" + (f"±{b['reward_std']:.2g}" if "reward_std" in b else ""))
        for key, label in (
            ("frac_zero_std", "groups without variance"),
            ("kl", "kl"),
            ("completion_length", "completion length"),
        ):
            if key in b:
                parts.append(f"{label} {b[key]:.3g}")
        if b.get("reward_errors") or b.get("reward_timeouts"):
            parts.append(f"reward errors {b.get('reward_errors', 0):.0f}, timeouts {b.get('reward_timeouts', 0):.0f}")
    elif "loss" in b:
        parts.append(f"loss {b['loss']:.4g}")
    if "learning_rate" in b:
        parts.append(f"lr {b['learning_rate']:.3g}")
    if b.get("checkpoint"):
        parts.append(f"checkpoint {b['checkpoint']}")
    if b.get("error"):
        parts.append(f"error {b['error'].get('kind')}: {b['error'].get('message')}")
    parts.append(f"{b['elapsed_s']}s")
    return ", ".join(parts)
