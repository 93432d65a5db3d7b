"""The GPU check: one short run (under 8 minutes on one H100/H200) that measures the project's
training and evaluation paths against plain baselines measured in the same run.

    bash bench/gpu_check.sh            # after `make install` on a machine where nvidia-smi works
    bash bench/gpu_check.sh --smoke    # the same code on a tiny model, on the CPU, under 90 s

Model: a randomly initialised Qwen3-1.7B shape (Qwen3Config with Qwen3-1.7B's sizes, built
in-process, nothing downloaded) with a byte-level BPE tokenizer built offline (151,936 tokens, one
token per byte of text). Parts, each "project" against "baseline":
  sft_full, sft_lora  tokens/s and MFU at 2k context, batch 4: the project's worker
                      (agent_core.ml.worker.run_job: speed_defaults, trainer_args, sft.py) against
                      plain TRL SFTTrainer defaults, same rows; a few dozen steps, the first not timed
  grpo                seconds per step: the worker's GRPO (vLLM colocate when `import vllm` works,
                      the project's defaults otherwise) against plain TRL GRPOTrainer (transformers
                      generation); same prompts, group size, batch and completion length
  eval                1,319 GSM8K-shaped prompts x 256 new tokens (greedy, exactly 256 each):
                      vLLM through its own API against transformers' model.generate in batches of
                      128 (the project's evaluate batch), both timed directly (not through
                      agent_core.ml.generation); transformers runs as many batches as fit its slot
Figures: every line of a child is timestamped here as it arrives (one clock, one method):
  tokens/s = (num_tokens[last] - num_tokens[warm]) / (t[last] - t[warm]); s/step likewise;
  MFU = tokens/s x 6N (4N for LoRA; N = base parameters) / the device's dense bf16 peak
  (agent_core.ml.callbacks.PEAK_FLOPS), the same estimate the worker streams.
  Every "ratio" is a speed-up: > 1 means the project's path is faster than the baseline.
Each part runs in its own child process (bench/gpu_check_jobs.py; --smoke runs them all in one, to
pay the imports once) under a wall-clock guard: a part gets at most its slot and never the time
the parts after it need; one that cannot run (no GPU, no vLLM, OOM, a crash, the guard) is listed
in "skipped" with its reason and the run goes on. The last line is one JSON object:
  {"device", "sft_full": {"tokens_per_s", "mfu", "baseline_tokens_per_s", "ratio", ...},
   "sft_lora": {...}, "grpo": {"step_s", "baseline_step_s", "ratio", "vllm"},
   "eval": {"prompts_per_s", "baseline_prompts_per_s", "ratio", "engine"}, "skipped": [...], ...}
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOBS_PY = Path(__file__).resolve().with_name("gpu_check_jobs.py")
sys.path.insert(0, str(JOBS_PY.parent))

from gpu_check_plan import CASES, GPU, SMOKE, Plan, make_jobs, write_data  # noqa: E402

# ---------------------------------------------------------------- running children under the guard


class Interrupted(Exception):
    pass


@dataclass
class Record:
    lines: list[tuple[float, dict]] = field(default_factory=list)
    status: str = "not run"  # done | error | skip | timeout | not run
    reason: str = ""
    seconds: float = 0.0

    def last(self, event: str) -> dict | None:
        return next((o for _, o in reversed(self.lines) if o.get("event") == event), None)


class Runner:
    def __init__(self, plan: Plan, tmp: Path, log=print):
        self.plan, self.tmp, self.log = plan, tmp, log
        self.t0 = time.monotonic()
        self.deadline = self.t0 + plan.budget_s
        self.records: dict[str, Record] = {}
        self.proc: subprocess.Popen | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        self.log(f"[{self.elapsed():5.0f}s] {text}")

    def slot(self, name: str, later: list[str]) -> tuple[float, float]:
        """(seconds this job may run, the least it needs): its slot, less what the jobs after it need."""
        most, least = self.plan.slots.get(name, (self.plan.budget_s, 0.0))
        reserve = sum(self.plan.slots.get(n, (0.0, 0.0))[1] for n in later)
        left = self.deadline - time.monotonic()
        return min(most, left - reserve), least

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: vLLM's engine processes too
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def run_group(self, jobs: list[dict], later: list[str], stop_when_done: bool) -> None:
        """Run `jobs` in one child. `later`: the names of jobs after this group (their time is kept)."""
        names = [j["name"] for j in jobs]
        for n in names:
            self.records[n] = Record()
        path = self.tmp / f"jobs-{names[0].replace('/', '-')}.json"
        path.write_text(json.dumps(jobs))
        err = open(self.tmp / f"{path.stem}.stderr", "w+")
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
        if self.plan.shape == "tiny":
            env["CUDA_VISIBLE_DEVICES"] = ""  # --smoke runs on the CPU, GPU or not
            env["OMP_NUM_THREADS"] = "1"  # both sides on one thread (the worker's choice for tiny models)
        self.proc = subprocess.Popen(
            [sys.executable, str(JOBS_PY), str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue = queue.Queue()

        def read(out) -> None:
            for raw in out:
                try:
                    lines.put((time.monotonic(), json.loads(raw)))
                except ValueError:
                    continue
            lines.put(None)

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True).start()
        current: str | None = None
        job_end = self.deadline
        started = time.monotonic()
        stopped = ""  # why this process ended the child early
        try:
            while True:
                wait = max(0.05, min(job_end, self.deadline) - time.monotonic())
                try:
                    item = lines.get(timeout=wait)
                except queue.Empty:
                    who = current or names[0]
                    rec = self.records[who]
                    rec.status = "timeout"
                    rec.reason = stopped = f"wall-clock guard: stopped after {time.monotonic() - started:.0f}s"
                    self.say(f"{who}: {rec.reason}")
                    break
                if item is None:
                    break
                t, obj = item
                ev = obj.get("event")
                if ev == "job":
                    current, started = obj["name"], t
                    most, least = self.slot(current, names[names.index(current) + 1 :] + later)
                    if most < least:
                        rec = self.records[current]
                        rec.status = "skip"
                        rec.reason = stopped = f"wall-clock guard: {most:.0f}s left for it, it needs {least:.0f}s"
                        self.say(f"{current}: {rec.reason}")
                        break
                    job_end = t + most
                    self.say(f"{current}: started (at most {most:.0f}s)")
                    continue
                if current is None:
                    continue
                rec = self.records[current]
                rec.lines.append((t, obj))
                rec.seconds = t - started
                if ev in ("done", "error", "skip"):
                    rec.status = ev
                    rec.reason = obj.get("reason") or obj.get("message") or ""
                    note = f": {rec.reason[:300]}" if rec.reason else ""
                    self.say(f"{current}: {ev} after {rec.seconds:.0f}s{note}")
                    if stop_when_done:
                        break  # its figures are in: the child's teardown is not waited for
                elif ev == "progress":
                    step, total = obj.get("step"), obj.get("total")
                    if step == 1 or step == total or (isinstance(step, int) and step % 5 == 0):
                        self.say(f"{current}: step {step}/{total}")
                elif ev == "eval_progress":
                    self.say(f"{current}: {obj.get('prompts')}/{obj.get('of')} prompts in {obj.get('seconds')}s")
                elif ev == "metric" and stop_when_done and obj.get("step") == _steps(jobs, current):
                    rec.status = "done"  # measured: the final save and the teardown are not needed
                    self.say(f"{current}: measured after {rec.seconds:.0f}s")
                    break
        except (Interrupted, KeyboardInterrupt):
            stopped = "the run was stopped"
            raise
        finally:
            self.kill()
            rc = self.proc.returncode if self.proc else None
            self.proc = None
            err.seek(0)
            tail = " | ".join([x for x in err.read().strip().splitlines() if x.strip()][-3:])[:400]
            err.close()
            for n in names:
                rec = self.records[n]
                if rec.status != "not run":
                    continue
                if n == current and not stopped:
                    rec.status, rec.reason = "error", f"the child exited (rc {rc}) in this part: {tail}"
                elif n == current:
                    rec.status, rec.reason = "skip", stopped
                else:
                    rec.status, rec.reason = "skip", f"not reached: {stopped or f'the child exited (rc {rc}): {tail}'}"

    def run(self, jobs: list[dict], isolate: bool) -> None:
        groups = [[j] for j in jobs] if isolate else [jobs]
        for i, group in enumerate(groups):
            later = [j["name"] for g in groups[i + 1 :] for j in g]
            self.run_group(group, later, stop_when_done=isolate)
            build = self.records.get("build")
            if group[0]["name"] == "build" and build and build.status != "done":
                for j in jobs[1:]:
                    self.records[j["name"]] = Record(
                        status="skip", reason=f"no model: build {build.status}: {build.reason}"
                    )
                return


def _steps(jobs: list[dict], name: str) -> int | None:
    return next((j.get("steps") for j in jobs if j["name"] == name), None)


# ---------------------------------------------------------------- figures


def measure(rec: Record, warm: int) -> dict:
    """Rates from the timestamps of the progress lines at and after step `warm`."""
    steps = [(t, o["step"]) for t, o in rec.lines if o.get("event") == "progress" and o.get("step", 0) >= warm]
    tokens = {o["step"]: o.get("values", {}).get("num_tokens") for _, o in rec.lines if o.get("event") == "metric"}
    if tokens and steps and steps[-1][1] not in tokens:
        steps = [s for s in steps if s[1] in tokens]  # the last step's tokens did not arrive
    if len(steps) < 2:
        why = rec.reason or rec.status
        raise ValueError(f"{len(steps)} timed step(s) ({rec.status}{': ' + why if why != rec.status else ''})")
    (t0, s0), (t1, s1) = steps[0], steps[-1]
    out = {"steps": s1 - s0, "step_s": (t1 - t0) / (s1 - s0)}
    if tokens.get(s0) is not None and tokens.get(s1) is not None:
        out["tokens_per_s"] = (tokens[s1] - tokens[s0]) / (t1 - t0)
    return out


def summarize(r: Runner, plan: Plan) -> dict:
    recs = r.records
    build = recs.get("build", Record()).last("done") or {}
    skipped: list[str] = []
    if not build:
        b = recs.get("build", Record())
        skipped.append(f"all: no model ({b.status}: {b.reason})")
    params, peak = build.get("params"), build.get("peak_flops")

    def pair(case: str, warm: int) -> tuple[dict | None, dict | None]:
        out = []
        for side in ("project", "baseline"):
            rec = recs.get(f"{case}/{side}", Record(reason="not run"))
            try:
                out.append(measure(rec, warm))
            except ValueError as exc:
                out.append(None)
                if build:
                    skipped.append(f"{case} {side}: {exc}"[:500])
        return out[0], out[1]

    def ratio(a, b) -> float | None:
        return a / b if a and b else None

    device = build.get("device") or (recs.get("build", Record()).last("skip") or {}).get("device")
    summary: dict = {"bench": "gpu_check", "device": device, "smoke": plan.shape == "tiny"}
    for case, k in (("sft_full", 6.0), ("sft_lora", 4.0)):
        a, b = pair(case, plan.sft_warm)
        tps, base = (a or {}).get("tokens_per_s"), (b or {}).get("tokens_per_s")
        flops = k * params / peak if params and peak else None
        summary[case] = {
            "tokens_per_s": tps,
            "mfu": tps * flops if tps and flops else None,
            "baseline_tokens_per_s": base,
            "baseline_mfu": base * flops if base and flops else None,
            "ratio": ratio(tps, base),
            "steps_timed": [(a or {}).get("steps"), (b or {}).get("steps")],
        }
    a, b = pair("grpo", plan.grpo_warm)
    step, base = (a or {}).get("step_s"), (b or {}).get("step_s")
    summary["grpo"] = {
        "step_s": step,
        "baseline_step_s": base,
        "ratio": ratio(base, step),
        "vllm": bool(build.get("cuda") and build.get("vllm_installed")),
        "steps_timed": [(a or {}).get("steps"), (b or {}).get("steps")],
        "completions_per_step": plan.grpo_batch,
        "completion_tokens": plan.grpo_len,
    }
    ev = {}
    for side in ("project", "baseline"):
        rec = recs.get(f"eval/{side}", Record(reason="not run"))
        ev[side] = rec.last("done") or {}
        if not ev[side] and build:
            skipped.append(f"eval {side}: {rec.status}: {rec.reason}"[:500])
    pps, base = ev["project"].get("prompts_per_s"), ev["baseline"].get("prompts_per_s")
    summary["eval"] = {
        "prompts_per_s": pps,
        "baseline_prompts_per_s": base,
        "ratio": ratio(pps, base),
        "engine": ev["project"].get("engine"),
        "prompts": ev["project"].get("prompts"),
        "baseline_prompts": ev["baseline"].get("prompts"),
        "max_new_tokens": plan.eval_new,
        "init_s": ev["project"].get("init_s"),
        "baseline_init_s": ev["baseline"].get("init_s"),
    }
    summary["skipped"] = skipped
    summary.update(
        shape=plan.shape,
        params=params,
        seq=plan.seq,
        batch=plan.batch,
        setup={k: build.get(k) for k in ("torch", "flash_attn", "liger_kernel", "fence", "vllm_installed")},
        wall_s=round(r.elapsed(), 1),
    )
    return summary


def _round(x):
    if isinstance(x, float):
        return float(f"{x:.4g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny model on the CPU, every part, under 90 s")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole run (default 440; smoke 85)")
    ap.add_argument("--isolate", action="store_true", help="one child per part with --smoke too (the GPU layout)")
    ap.add_argument("--parts", default=",".join(CASES), help=f"a subset of {','.join(CASES)}")
    args = ap.parse_args(argv)
    plan = SMOKE if args.smoke else GPU
    if args.budget:
        plan = Plan(**{**plan.__dict__, "budget_s": args.budget})
    parts = {p for p in args.parts.split(",") if p}

    def stop(signum, frame):  # noqa: ARG001 - a TERM from `timeout` still ends with the JSON line
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        runner = Runner(plan, tmp)
        interrupted = None
        try:
            data = write_data(tmp, plan)
            jobs = [j for j in make_jobs(tmp, plan, data) if j["name"] == "build" or j["name"].split("/")[0] in parts]
            runner.say(
                f"gpu_check{' --smoke' if args.smoke else ''}: {plan.shape}, seq {plan.seq}, {len(jobs)} jobs, "
                f"budget {plan.budget_s:.0f}s"
            )
            runner.run(jobs, isolate=args.isolate or not args.smoke)
        except (Interrupted, KeyboardInterrupt) as exc:
            interrupted = str(exc) or "interrupted"
            runner.kill()
        summary = summarize(runner, plan)
        if interrupted:
            summary["skipped"].append(f"the run was stopped ({interrupted}): parts after it did not run")
        for case in CASES:
            if case not in parts:
                summary[case] = {"skipped": "not asked for (--parts)"}
    for case in ("sft_full", "sft_lora", "grpo", "eval"):
        s = summary.get(case, {})
        if "ratio" in s:
            print(f"  {case:9s} " + ", ".join(f"{k} {_round(v)}" for k, v in s.items()), flush=True)
    print(json.dumps(_round(summary)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
