"""Training jobs and one-shot model work, each in its own `agent_core.ml.worker` subprocess.

The daemon never imports torch: it writes a spec file, starts the worker with a scrubbed
environment, and turns the worker's JSON lines (metric, progress, checkpoint, result,
error) into events. A worker that crashes, hangs or dies only fails its own job.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_core.events import EventLog

# Environment variables a worker may see. Everything else (API keys, tokens, cloud
# credentials) stays in the daemon.
_ENV_KEEP = (
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "HF_HOME", "HF_HUB_CACHE",
    "TRANSFORMERS_CACHE", "XDG_CACHE_HOME",
    # A person who set these wants no downloads, approved or not.
    "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
)
STDERR_TAIL = 40


def worker_env(extra: dict | None = None, offline: bool = True) -> dict:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    if offline:
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra or {})
    return env


class WorkerError(RuntimeError):
    def __init__(self, kind: str, message: str, step: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.step = kind, message, step


@dataclass
class Job:
    id: str
    spec: dict
    spec_path: Path
    output_dir: Path
    state: str = "queued"
    step: int = 0
    total: int | None = None
    last_values: dict = field(default_factory=dict)
    result: dict | None = None
    error: dict | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    proc: asyncio.subprocess.Process | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stderr_tail: list[str] = field(default_factory=list)

    def brief(self) -> dict:
        out = {"job": self.id, "state": self.state, "step": self.step, "total": self.total,
               "elapsed_s": round((self.ended or time.time()) - self.started, 1)}
        for key in ("loss", "learning_rate", "grad_norm", "tokens_per_s"):
            if key in self.last_values:
                out[key] = self.last_values[key]
        if self.result:
            out["checkpoint"] = self.result.get("checkpoint")
        if self.error:
            out["error"] = self.error
        return out


class JobManager:
    def __init__(self, run_path: Path, log: EventLog):
        self.run_path = Path(run_path)
        self.jobs_dir = self.run_path / "jobs"
        self.jobs_dir.mkdir(exist_ok=True)
        self.log = log
        self.jobs: dict[str, Job] = {}
        self.progress = asyncio.Event()  # set on every job state change and new metric
        self.on_planned = None  # callback(job) once a job's total steps are known
        self._one_shot: set[asyncio.subprocess.Process] = set()

    def _spawn(self, spec_path: Path, stderr_path: Path, module: str = "agent_core.ml.worker",
               offline: bool = True):
        return asyncio.create_subprocess_exec(
            sys.executable, "-m", module, str(spec_path),
            stdout=asyncio.subprocess.PIPE, stderr=open(stderr_path, "ab"),
            stdin=asyncio.subprocess.DEVNULL, env=worker_env(offline=offline), cwd=str(self.run_path),
            limit=1 << 22,
        )

    def _signal_progress(self) -> None:
        self.progress.set()
        self.progress = asyncio.Event()

    def _set_state(self, job: Job, state: str, detail: str = "") -> None:
        job.state = state
        fields = {"detail": detail} if detail else {}
        self.log.emit("job_state", job=job.id, state=state, **fields)
        self._signal_progress()

    async def start(self, spec: dict) -> Job:
        job_id = f"job{len(self.jobs) + 1}"
        spec_path = self.jobs_dir / f"{job_id}.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        job = Job(job_id, spec, spec_path, Path(spec.get("output_dir", "")))
        self.jobs[job_id] = job
        self._set_state(job, "queued")
        job.proc = await self._spawn(spec_path, self.jobs_dir / f"{job_id}.stderr.log")
        self._set_state(job, "running")
        asyncio.get_running_loop().create_task(self._pump(job))
        return job

    async def _pump(self, job: Job) -> None:
        assert job.proc and job.proc.stdout
        async for raw in job.proc.stdout:
            msg = _parse_line(raw)
            if msg is None:
                continue
            kind = msg.get("event")
            if kind == "metric":
                job.step = int(msg.get("step") or job.step)
                job.last_values = msg.get("values") or {}
                self.log.emit("metric", job=job.id, step=job.step, values=job.last_values)
                self._signal_progress()
            elif kind == "progress":
                job.step = int(msg.get("step") or job.step)
                first_total = job.total is None and msg.get("total")
                job.total = msg.get("total", job.total)
                if first_total and self.on_planned:
                    self.on_planned(job)
            elif kind == "checkpoint":
                self.log.emit("checkpoint", job=job.id, path=msg.get("path"), step=msg.get("step"))
            elif kind == "result":
                job.result = msg
            elif kind == "error":
                job.error = {k: msg.get(k) for k in ("kind", "message", "step")}
        rc = await job.proc.wait()
        job.ended = time.time()
        if job.result is not None and rc == 0:
            stopped = bool(job.result.get("stopped"))
            self._set_state(job, "stopped" if stopped else "finished",
                            f"checkpoint {job.result.get('checkpoint')}")
        else:
            if job.error is None:
                job.error = {"kind": "crash", "message": self._stderr_summary(job, rc), "step": job.step}
            self._set_state(job, "failed", f"{job.error['kind']}: {job.error['message']}")
        job.done.set()

    def _stderr_summary(self, job: Job, rc: int | None) -> str:
        path = self.jobs_dir / f"{job.id}.stderr.log"
        try:
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        tail = lines[-1] if lines else "no error output"
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        return f"worker died ({how}): {tail[:300]}"

    async def stop(self, job_id: str, timeout: float = 60.0) -> Job:
        job = self.jobs[job_id]
        if job.proc and job.proc.returncode is None:
            self._set_state(job, "stopping")
            job.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(job.done.wait(), timeout)
            except asyncio.TimeoutError:
                job.proc.kill()
                await job.done.wait()
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in ("queued", "running", "stopping")]

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(j.id) for j in self.running()), return_exceptions=True)
        for proc in list(self._one_shot):
            if proc.returncode is None:
                proc.kill()

    async def run_once(self, spec: dict, name: str, timeout: float = 900.0,
                       module: str = "agent_core.ml.worker", offline: bool = True) -> dict:
        """Run a worker for evaluate / sample / build_base (or an approved download) and
        return its result line."""
        spec_path = self.jobs_dir / f"{name}.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        proc = await self._spawn(spec_path, self.jobs_dir / f"{name}.stderr.log", module, offline)
        self._one_shot.add(proc)
        result = error = None
        try:
            async def read() -> None:
                nonlocal result, error
                assert proc.stdout
                async for raw in proc.stdout:
                    msg = _parse_line(raw)
                    if msg and msg.get("event") == "result":
                        result = msg
                    elif msg and msg.get("event") == "error":
                        error = msg
                await proc.wait()
            await asyncio.wait_for(read(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            raise WorkerError("timeout", f"{spec.get('mode')} took longer than {timeout:.0f}s")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            self._one_shot.discard(proc)
        if result is not None and proc.returncode == 0:
            return result
        if error:
            raise WorkerError(error.get("kind", "crash"), error.get("message", "failed"), error.get("step"))
        fake = Job(name, spec, spec_path, Path())
        raise WorkerError("crash", self._stderr_summary(fake, proc.returncode))


def _parse_line(raw: bytes) -> dict | None:
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None
