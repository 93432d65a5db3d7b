"""The simulated world of bench/context_tokens.py: a 10-hour post-training run's jobs, clock and
tools (metrics and noisy logs, waits, evaluations, samples, log reads, watchdog alerts, a denied
call, notes, the person's messages), answered as the real tools would answer."""

from __future__ import annotations

import math
import random

from agent_core.agents.base import ToolOutcome
from agent_core.agents.markers import ALERT_MARK, ALERT_SEP, PERSON_VETOED

WAIT_S = 30.0
NUDGES = {
    150: "Keep the learning rate at or below 3e-4 from now on.",
    500: "Try LoRA next; full fine-tuning is too slow on this box.",
    900: "Leave 30 minutes at the end to evaluate and submit.",
}
WARNINGS = [
    "UserWarning: `pad_token` is not set; using `eos_token` as padding",
    "FutureWarning: `torch.cuda.amp.autocast(args...)` is deprecated",
    "WARNING: gradient checkpointing is on; use_cache=True is incompatible, setting use_cache=False",
]


# -- the simulated world: jobs, clock, tools ----------------------------------------------------
class World:
    def __init__(self, hours: float, seed: int = 0):
        self.rng = random.Random(seed)
        self.t = 0.0
        self.end = hours * 3600
        self.jobs: dict[str, dict] = {}
        self.scores: dict[str, float] = {}
        self.alerts: list[str] = []
        self.calls = 0

    def clock(self) -> float:
        return self.t

    def start(self, args: dict) -> ToolOutcome:
        job = f"job{len(self.jobs) + 1}"
        n = len(self.jobs)
        lr = float(args.get("learning_rate", 1e-3))
        self.jobs[job] = {
            "lr": lr,
            "total": 1200,
            "step": 0,
            "state": "running",
            "t0": self.t,
            "nan_at": 700 if n == 2 else None,  # the third job diverges
            "decay": n == 4,  # the fifth uses a decaying schedule with the wrong horizon
            "reported": 0,
            "speed": 1200 / (20 * 60) * self.rng.uniform(0.8, 1.2),
        }
        return ToolOutcome(
            "start_training",
            True,
            f"{job} started: SFT on {args.get('dataset')} from {args.get('base', 'base')}, "
            f"lr {lr:g}, {args.get('epochs', 1):g} epoch(s), batch 16, "
            f"{'LoRA' if args.get('lora') else 'full'}; call wait to park until it ends",
            {"job": job},
        )

    def _loss(self, j: dict, step: int) -> float:
        if j["nan_at"] is not None and step >= j["nan_at"]:
            return float("nan")
        return 0.25 + 2.0 * math.exp(-step * j["lr"] / 0.4) + self.rng.random() * 0.03

    def _lr(self, j: dict, step: int) -> float:
        return j["lr"] * max(0.0, 1 - step / 400) if j["decay"] else j["lr"]

    def _advance(self, dt: float) -> None:
        self.t += dt
        for j in self.jobs.values():
            if j["state"] != "running":
                continue
            j["step"] = min(j["total"], int((self.t - j["t0"]) * j["speed"]))
            if j["nan_at"] is not None and j["step"] >= j["nan_at"] + 20:
                j["state"], j["step"] = "failed", j["nan_at"] + 20
                self.alerts.append(
                    "loss_nan (high): the loss is NaN since step %d; the job was stopped. "
                    "Check: the learning rate" % j["nan_at"]
                )
            elif j["decay"] and j["step"] >= 400 and not j.get("lr_alerted"):
                j["lr_alerted"] = True
                self.alerts.append(
                    "lr_zero (warning): the learning rate reached 0 at step 400 of 1200; "
                    "training has stopped moving. Check: lr_scheduler_type"
                )
            elif j["step"] >= j["total"]:
                j["state"] = "finished"

    def brief(self, job: str) -> dict:
        j = self.jobs[job]
        step = j["step"]
        b = {
            "job": job,
            "state": j["state"],
            "step": step,
            "total": j["total"],
            "elapsed_s": round(self.t - j["t0"], 1),
            "loss": self._loss(j, step),
            "learning_rate": self._lr(j, step),
        }
        if j["state"] == "finished":
            b["checkpoint"] = job
        if j["state"] == "failed":
            b["error"] = {"kind": "nan_loss", "message": f"loss is NaN at step {j['nan_at']}"}
        return b

    def _line(self, b: dict) -> str:
        return (
            f"{b['job']} {b['state']}, step {b['step']}/{b['total']}, loss {b['loss']:.4g}, "
            f"lr {b['learning_rate']:.3g}, {b['elapsed_s']}s"
        )

    def _alerts(self) -> str:
        if not self.alerts:
            return ""
        out, self.alerts = ALERT_MARK + ALERT_SEP.join(self.alerts), []
        return out

    def wait(self, args: dict) -> ToolOutcome:
        job = args.get("job") or next(reversed(self.jobs))
        j = self.jobs[job]
        before = j["step"]
        self._advance(min(float(args.get("timeout_s", WAIT_S)), WAIT_S))
        b = self.brief(job)
        rows = [
            {
                "step": s,
                "loss": round(self._loss(j, s), 5),
                "learning_rate": self._lr(j, s),
                "grad_norm": round(1.0 + self.rng.random(), 4),
                "tokens_per_s": round(self.rng.uniform(900, 1100), 1),
            }
            for s in range(before + 1, b["step"] + 1)
        ]
        log = []
        for r in rows:
            log.append(
                f"{r['step']}/{j['total']} [{'#' * (r['step'] * 20 // j['total']):<20}] loss={r['loss']} "
                f"lr={r['learning_rate']:.2e} {r['tokens_per_s']} tok/s"
            )
            if r["step"] % 7 == 0:
                log.append(WARNINGS[r["step"] % 3])
        reason = "job ended" if j["state"] != "running" else "timeout"
        b.update(woke=reason, metrics=rows, log_tail="\n".join(log))
        return ToolOutcome("wait", True, f"{reason}: {self._line(b)}" + self._alerts(), b)

    def job_status(self, args: dict) -> ToolOutcome:
        self._advance(2)
        b = self.brief(args["job"])
        return ToolOutcome("job_status", True, self._line(b) + self._alerts(), b)

    def evaluate(self, args: dict) -> ToolOutcome:
        self._advance(60)
        ck = args["checkpoint"]
        j = self.jobs.get(ck)
        score = (
            0.12
            if j is None
            else min(0.95, 0.3 + 0.5 * (1 - math.exp(-j["lr"] * 2000)) + self.rng.uniform(-0.05, 0.05))
        )
        n = 50
        correct = round(score * n)
        ex = [
            {
                "prompt": f"{a}+{a + 7}=",
                "expected": str(2 * a + 7),
                "got": str(2 * a + 7 if i < correct else a),
                "correct": i < correct,
            }
            for i, a in enumerate(range(10, 10 + n))
        ]
        self.scores[ck] = correct / n
        misses = "; ".join(f"{e['prompt']!r} wanted {e['expected']!r} got {e['got']!r}" for e in ex if not e["correct"])
        return ToolOutcome(
            "evaluate",
            True,
            f"{ck} on dev: {correct / n:.1%} exact match ({correct}/{n})"
            + (f"; misses: {misses[:300]}" if misses else "")
            + self._alerts(),
            {"score": correct / n, "n": n, "examples": ex},
        )

    def sample(self, args: dict) -> ToolOutcome:
        self._advance(20)
        samples = [{"prompt": p, "completion": p.split("+")[0] + " " * 3 + "<|eot|>" * 2} for p in args["prompts"]]
        text = "; ".join(f"{s['prompt']!r} -> {s['completion']!r}" for s in samples[:8])
        return ToolOutcome("sample", True, f"{len(samples)} samples: {text}", {"samples": samples})

    def read_file(self, args: dict) -> ToolOutcome:
        self._advance(1)
        lines = [f"[{i:05d}] step {i} loss {1 / (1 + i / 300):.5f}" for i in range(3000)]
        lines[1500:1500] = ["Traceback (most recent call last):", "  File 'train.py', line 88", "OSError: disk quota"]
        content = "\n".join(lines)
        return ToolOutcome(
            "read_file",
            True,
            f"{args['path']}: {len(content)} characters",
            {"content": content[:20_000] + f"\n[... {len(content) - 20_000} more characters]"},
        )

    def call(self, name: str, args: dict) -> ToolOutcome:
        self.calls += 1
        if name == "start_training":
            return self.start(args)
        if name == "load_dataset" and str(args.get("name", "")).startswith("hf:"):
            return ToolOutcome(name, False, f"{PERSON_VETOED} [outside_download]: use the local data only", denied=True)
        if name == "note":
            return ToolOutcome(name, True, "noted")
        if name == "submit":
            return ToolOutcome(
                name, True, f"submitted {args['checkpoint']}; the harness scores it on the hidden test split"
            )
        return getattr(self, name)(args)
