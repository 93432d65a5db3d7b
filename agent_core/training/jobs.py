"""Training jobs and one-shot model work, each in its own `agent_core.ml.worker` subprocess.

The daemon never imports torch: it writes a spec file, starts the worker with a scrubbed
environment, and turns the worker's JSON lines (metric, score, progress, checkpoint, result,
error; completions and evaluation progress through agent_core.training.outputs) into events
that carry the job id. A worker that crashes, hangs or dies only fails its
own job.

A job is one declarative spec, stored as `<run>/jobs/<job id>.json` (stderr beside it as
`<job id>.stderr.log`); its fields are agent_core.training.spec.TrainSpec (docs/JOBS.md shows
them). Its `launcher` picks how it runs:

    "local" (default)   python -m agent_core.ml.worker SPEC
    "accelerate"        python -m accelerate.commands.launch --num_processes N [--config_file F]
                        [--num_machines M --machine_rank R --main_process_ip IP]
                        --main_process_port P --module agent_core.ml.worker SPEC
                        (the same spec file on every rank; only rank 0 reports and saves)

States: queued -> running -> (stopping ->) finished | stopped | failed. `stop` sends SIGTERM:
the worker ends training at the next step boundary and saves a checkpoint ("stopped").
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agent_core.record.events import LIVE_JOB_STATES, EventLog
from agent_core.training.outputs import OutputsRecorder
from agent_core.training.spec import LaunchSpec

# Environment variables a worker may see. Everything else (API keys, tokens, cloud
# credentials) stays in the daemon.
_ENV_KEEP = (
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "HF_HOME",
    "HF_HUB_CACHE",
    "TRANSFORMERS_CACHE",
    "XDG_CACHE_HOME",
    # A person who set these wants no downloads, approved or not.
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)
# Distributed-communication settings (network interface, debugging) a launcher job may need.
_ENV_KEEP_PREFIXES = ("NCCL_", "GLOO_")
STDERR_TAIL = 40
WORKER_MODULE = "agent_core.ml.worker"
# util-linux's setpriv sets the parent-death signal across exec, without a preexec_fn
SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def worker_env(extra: dict | None = None, offline: bool = True) -> dict:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith(_ENV_KEEP_PREFIXES)})
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    if offline:
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra or {})
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_command(
    spec: dict,
    spec_path: str | os.PathLike[str],
    module: str = WORKER_MODULE,
    base: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The argv that runs `spec` (see the module docstring). ValueError (SpecError) for a bad
    launcher field (agent_core.training.spec.LaunchSpec). A relative accelerate_config is resolved
    against `base` (the run's workspace)."""
    launch = LaunchSpec.from_dict(spec)
    if launch.launcher == "local":
        return [sys.executable, "-m", module, str(spec_path)]
    nproc = launch.num_processes or 1
    machines = launch.num_machines or 1
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(nproc),
        "--num_machines",
        str(machines),
    ]
    if launch.accelerate_config is not None:
        path = Path(launch.accelerate_config).expanduser()
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        if not path.is_file():
            raise ValueError(f"job spec: accelerate_config not found: {path}")
        _refuse_sharded_saves(path)
        cmd += ["--config_file", str(path)]
    elif nproc > 1:
        # torchrun-style processes: DDP over NCCL on GPUs, gloo on a CPU-only host
        cmd += ["--multi_gpu"]
    if machines > 1:  # LaunchSpec checked that rank, address and port are given
        cmd += ["--machine_rank", str(launch.machine_rank), "--main_process_ip", str(launch.main_process_ip)]
    port = launch.main_process_port if launch.main_process_port is not None else _free_port()
    cmd += ["--main_process_port", str(port), "--module", module, str(spec_path)]
    return cmd


def _refuse_sharded_saves(config: Path) -> None:
    """FSDP and DeepSpeed ZeRO-3 shard the weights: a checkpoint needs a gather on every rank,
    which the worker does not do yet (rank 0 saves what it holds). Refuse before anything runs
    rather than write a broken checkpoint."""
    import yaml

    try:
        cfg = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"job spec: accelerate_config {config} is not readable YAML: {exc}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"job spec: accelerate_config {config} must be a YAML mapping")
    kind = str(cfg.get("distributed_type") or "").upper()
    stage = None
    ds = cfg.get("deepspeed_config") if isinstance(cfg.get("deepspeed_config"), dict) else {}
    if ds.get("zero_stage") is not None:
        stage = ds.get("zero_stage")
    elif ds.get("deepspeed_config_file"):
        try:
            stage = (
                json.loads(Path(ds["deepspeed_config_file"]).expanduser().read_text())
                .get("zero_optimization", {})
                .get("stage")
            )
        except (OSError, ValueError, AttributeError):
            stage = None
    if kind == "FSDP" or (kind == "DEEPSPEED" and str(stage) == "3"):
        what = "FSDP" if kind == "FSDP" else "DeepSpeed ZeRO-3"
        raise ValueError(
            f"job spec: {what} is not supported yet: its sharded weights need a gather on "
            f"every rank to save a checkpoint, which the worker does not do; use DDP "
            f"(no accelerate_config) or DeepSpeed ZeRO-2 (zero_stage: 2)"
        )


def summarize_stderr(lines: list[str]) -> str:
    """The line that says what went wrong in a worker's stderr tail: the last exception line
    (skipping the launcher's own wrappers), with the frame it was raised in when known."""
    wrappers = ("CalledProcessError", "ChildFailedError", "SystemExit")
    exc_re = re.compile(r"^(?:\[rank\d+\]:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(:.*)?$")
    frame_re = re.compile(r'^\s*(?:\[rank\d+\]:\s*)?File "([^"]+)", line (\d+), in (\S+)')
    for i in range(len(lines) - 1, -1, -1):
        m = exc_re.match(lines[i].strip())
        if not m or any(w in m.group(1) for w in wrappers):
            continue
        text = lines[i].strip()
        for j in range(i - 1, max(-1, i - 40), -1):
            f = frame_re.match(lines[j])
            if f:
                text += f" (at {Path(f.group(1)).name}:{f.group(2)} in {f.group(3)})"
                break
        return text
    return lines[-1].strip() if lines else "no error output"


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
    schedule_steps: int | None = None  # the LR schedule's horizon, from the worker's "plan" line
    last_values: dict = field(default_factory=dict)
    result: dict | None = None
    error: dict | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    proc: asyncio.subprocess.Process | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stderr_tail: list[str] = field(default_factory=list)
    last_score: dict | None = None  # the latest periodic dev score {"value", "step", ...}
    killed: bool = False  # stop() had to SIGKILL it

    def brief(self) -> dict:
        out = {
            "job": self.id,
            "state": self.state,
            "step": self.step,
            "total": self.total,
            "elapsed_s": round((self.ended or time.time()) - self.started, 1),
        }
        for key in (
            "loss",
            "learning_rate",
            "grad_norm",
            "tokens_per_s",
            "mfu",
            "reward_mean",
            "reward_std",
            "frac_zero_std",
            "kl",
            "completion_length",
            "reward_errors",
            "reward_timeouts",
        ):
            if self.last_values.get(key) is not None:
                out[key] = self.last_values[key]
        if self.last_score:
            out["dev_score"] = self.last_score.get("value")
        if self.result:
            out["checkpoint"] = self.result.get("checkpoint")
        if self.error:
            out["error"] = self.error
        return out


class JobManager:
    """The run's jobs. `on_planned(job)` is called once a job's total steps are known;
    `complete_spec(spec) -> spec` fills in what the daemon adds to every training spec."""

    def __init__(
        self,
        run_path: Path,
        log: EventLog,
        on_planned: Callable[[Job], None] | None = None,
        complete_spec: Callable[[dict], dict] | None = None,
    ):
        self.run_path = Path(run_path)
        self.jobs_dir = self.run_path / "jobs"
        self.jobs_dir.mkdir(exist_ok=True)
        self.log = log
        self.jobs: dict[str, Job] = {}
        self.progress = asyncio.Event()  # set on every job state change and new metric
        self.on_planned = on_planned
        self.complete_spec = complete_spec
        self._one_shot: set[asyncio.subprocess.Process] = set()

    def restore(self, job: Job) -> None:
        """Put back a job an earlier daemon of this run started (resume): its id stays taken."""
        job.done.set()
        self.jobs[job.id] = job

    def mark_interrupted(self, job_id: str, message: str, step: int) -> None:
        """A job the dead daemon left running: failed, logged with why."""
        job = self.jobs[job_id]
        job.error = {"kind": "interrupted", "message": message, "step": step}
        self._set_state(job, "failed", f"{message} (at step {step})")

    def _spawn(
        self,
        spec_path: Path,
        stderr_path: Path,
        module: str = WORKER_MODULE,
        offline: bool = True,
        argv: list[str] | None = None,
    ):
        # A launcher's ranks share its process group, so a kill reaches all of them.
        group = argv is not None and "accelerate.commands.launch" in argv
        argv = argv or [sys.executable, "-m", module, str(spec_path)]
        if SETPRIV:  # a worker dies with its daemon (SIGTERM: training saves a checkpoint first)
            argv = [SETPRIV, "--pdeathsig", "SIGTERM", "--", *argv]
        return asyncio.create_subprocess_exec(
            *argv,
            start_new_session=group,
            stdout=asyncio.subprocess.PIPE,
            stderr=open(stderr_path, "ab"),
            stdin=asyncio.subprocess.DEVNULL,
            env=worker_env(offline=offline),
            cwd=str(self.run_path),
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
        """Write the job's spec file and start it. ValueError (nothing started, no job id used)
        for a bad launcher field."""
        if self.complete_spec is not None:
            spec = self.complete_spec(spec)
        job_id = f"job{len(self.jobs) + 1}"
        spec_path = self.jobs_dir / f"{job_id}.json"
        argv = worker_command(spec, spec_path, base=self.run_path / "workspace")
        spec_path.write_text(json.dumps(spec, indent=2))
        job = Job(job_id, spec, spec_path, Path(spec.get("output_dir", "")))
        self.jobs[job_id] = job
        self._set_state(job, "queued")
        job.proc = await self._spawn(spec_path, self.jobs_dir / f"{job_id}.stderr.log", argv=argv)
        self._set_state(job, "running")
        asyncio.get_running_loop().create_task(self._pump(job))
        return job

    async def _pump(self, job: Job) -> None:
        assert job.proc and job.proc.stdout
        outputs = OutputsRecorder(self.log.emit, {"job": job.id})
        async for raw in job.proc.stdout:
            msg = _parse_line(raw)
            if msg is None:
                continue
            kind = msg.get("event")
            if kind == "completions":
                outputs.completions(msg)
            elif kind == "progress" and msg.get("what"):  # an evaluation inside the job
                outputs.progress(msg)
            elif kind == "metric":
                job.step = int(msg.get("step") or job.step)
                job.last_values = msg.get("values") or {}
                self.log.emit("metric", job=job.id, step=job.step, total=job.total, values=job.last_values)
                self._signal_progress()
            elif kind in ("progress", "plan"):
                # "plan" comes once, before the first step: the job's horizon and its LR schedule's
                if kind == "plan":
                    job.schedule_steps = msg.get("schedule_steps")
                else:
                    job.step = int(msg.get("step") or job.step)
                first_total = job.total is None and msg.get("total")
                job.total = msg.get("total", job.total)
                if first_total and self.on_planned:
                    self.on_planned(job)
            elif kind == "score":
                # periodic dev evaluation inside a training job
                fields = {k: msg[k] for k in ("split", "value", "step", "n", "checkpoint") if k in msg}
                fields.setdefault("split", "dev")
                job.last_score = fields
                self.log.emit("score", job=job.id, role="job", **fields)
                self._signal_progress()
            elif kind == "checkpoint":
                self.log.emit("checkpoint", job=job.id, path=msg.get("path"), step=msg.get("step"))
            elif kind == "result":
                job.result = msg
            elif kind == "error":
                job.error = {k: msg.get(k) for k in ("kind", "message", "step")}
        rc = await job.proc.wait()
        outputs.ended(ok=rc == 0)
        job.ended = time.time()
        # A launcher stopped by SIGTERM exits non-zero even when rank 0 saved its checkpoint.
        stopped_ok = job.state == "stopping" and bool((job.result or {}).get("stopped"))
        if job.result is not None and (rc == 0 or stopped_ok):
            stopped = bool(job.result.get("stopped"))
            self._set_state(job, "stopped" if stopped else "finished", f"checkpoint {job.result.get('checkpoint')}")
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
        tail = summarize_stderr(lines[-STDERR_TAIL:])
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        if job.killed:
            how += ": it did not stop within the stop timeout"
        elif rc is not None and rc in (-signal.SIGKILL, 137) and job.spec.get("mode", "train") == "train":
            from agent_core.training.failures import oom_advice

            how += ", likely the host's out-of-memory killer"
            tail += "; if memory ran out, " + oom_advice(job.spec).split("; try: ", 1)[-1]
        return f"worker died ({how}): {tail[:500]}"

    async def stop(self, job_id: str, timeout: float = 60.0) -> Job:
        job = self.jobs[job_id]
        if job.proc and job.proc.returncode is None:
            self._set_state(job, "stopping")
            job.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(job.done.wait(), timeout)
            except asyncio.TimeoutError:
                job.killed = True
                _kill_tree(job.proc)
                await job.done.wait()
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in LIVE_JOB_STATES]

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(j.id) for j in self.running()), return_exceptions=True)
        for proc in list(self._one_shot):
            if proc.returncode is None:
                proc.kill()

    async def run_once(
        self, spec: dict, name: str, timeout: float = 900.0, module: str = "agent_core.ml.worker", offline: bool = True
    ) -> dict:
        """Run a worker for evaluate / sample / build_base (or an approved download) and
        return its result line; its completions and progress lines become events naming it
        (`eval`: name)."""
        spec_path = self.jobs_dir / f"{name}.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        proc = await self._spawn(spec_path, self.jobs_dir / f"{name}.stderr.log", module, offline)
        self._one_shot.add(proc)
        outputs = OutputsRecorder(self.log.emit, {"eval": name})
        result = error = None
        try:

            async def read() -> None:
                nonlocal result, error
                assert proc.stdout
                async for raw in proc.stdout:
                    msg = _parse_line(raw)
                    kind = msg.get("event") if msg else None
                    if kind == "result":
                        result = msg
                    elif kind == "error":
                        error = msg
                    elif kind == "completions":
                        outputs.completions(msg)
                    elif kind == "progress":
                        outputs.progress(msg)
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
            outputs.ended(ok=result is not None and proc.returncode == 0)
        if result is not None and proc.returncode == 0:
            return result
        if error:
            raise WorkerError(error.get("kind", "crash"), error.get("message", "failed"), error.get("step"))
        fake = Job(name, spec, spec_path, Path())
        raise WorkerError("crash", self._stderr_summary(fake, proc.returncode))


def _kill_tree(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL a worker and, when it leads its own process group (a launcher), all its ranks."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def _parse_line(raw: bytes) -> dict | None:
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None
