"""Synthetic event streams for the UI benchmarks (a realistic mix of a post-training run).

    gen_events(n, t0, dt, seed)  -> iterator of event dicts (seq from 1, ts t0 + ~dt apart)
    write_log(path, n, ...)      -> writes a whole events.jsonl (for replay)

Mix: metric ~70%, host_sample ~10%, tool_call ~6%, tool_result ~6%, agent_message ~5%,
alert ~1%, job_state ~1%, plus run_state at the ends and the odd approval / nudge / score.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

TOOLS = ("shell", "read_file", "write_file", "train", "evaluate", "list_datasets", "sample")
WORDS = (
    "the loss is still dropping so I will keep the learning rate and run another epoch "
    "before evaluating on the dev split; gsm8k accuracy improved from 31 to 38 percent "
    "with LoRA rank 16 on Qwen3 0.6B and the grad norm looks stable"
).split()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def gen_events(
    n: int,
    t0: float = 1_750_000_000.0,
    dt: float = 0.072,
    seed: int = 7,
    finish: bool = False,
    gaps: bool = False,
    approvals: bool = True,
) -> Iterator[dict]:
    """n events; `finish` ends with a score and run_state finished; `gaps` adds a few long
    idle gaps (an agent thinking, a job loading) as in a real 10-hour log; `approvals`
    False leaves out approval requests (a live screen would prompt for each)."""
    rng = random.Random(seed)
    t = t0
    seq = 0
    job = 1
    step = 0
    call = 0
    open_call: str | None = None

    def ev(type_: str, **fields) -> dict:
        nonlocal seq
        seq += 1
        return {"seq": seq, "ts": iso(t), "type": type_, **fields}

    head = [
        ("run_state", {"state": "starting"}),
        ("run_state", {"state": "running"}),
        ("brief", {"task": "gsm8k", "description": "post-train Qwen3-0.6B on gsm8k"}),
        ("job_state", {"job": "j1", "state": "running"}),
    ]
    for type_, fields in head[: max(0, n - (2 if finish else 0))]:
        yield ev(type_, **fields)
        t += dt
    tail = 2 if finish else 0
    while seq < n - tail:
        r = rng.random()
        if r < 0.70:
            step += 1
            loss = 2.2 * (0.9995**step) + 0.05 * rng.random()
            yield ev(
                "metric",
                job=f"j{job}",
                step=step,
                values={
                    "loss": round(loss, 5),
                    "lr": 2e-5,
                    "grad_norm": round(0.5 + rng.random(), 4),
                    "epoch": round(step / 5000, 4),
                },
            )
        elif r < 0.80:
            yield ev(
                "host_sample",
                gpus=[
                    {
                        "index": 0,
                        "name": "NVIDIA H100 80GB HBM3",
                        "util": rng.randint(60, 99),
                        "mem_used": rng.randint(40000, 78000),
                        "mem_total": 81559,
                        "power": rng.randint(300, 690),
                        "temp": rng.randint(50, 80),
                    }
                ],
                cpu=round(rng.uniform(5, 90), 1),
                memory={"used": rng.randint(8, 60) << 30, "total": 128 << 30},
            )
        elif r < 0.86:
            call += 1
            open_call = f"c{call}"
            tool = rng.choice(TOOLS)
            yield ev(
                "tool_call",
                id=open_call,
                tool=tool,
                args={"cmd": _sentence(rng, 2, 12), "timeout": 600}
                if tool == "shell"
                else {"path": f"workspace/run{call}/config.json", "limit": 200},
            )
        elif r < 0.92:
            cid = open_call or f"c{call}"
            ok = rng.random() < 0.9
            yield ev("tool_result", id=cid, ok=ok, summary=("exit 1: " if not ok else "") + _sentence(rng, 5, 45))
        elif r < 0.97:
            lines = [_sentence(rng, 6, 40) for _ in range(rng.choice((1, 1, 1, 2, 4, 8)))]
            yield ev("agent_message", text="\n".join(lines))
        elif r < 0.98:
            yield ev(
                "alert",
                rule=rng.choice(("loss_plateau", "gpu_idle", "nan_loss")),
                severity=rng.choice(("warning", "warning", "critical")),
                message=_sentence(rng, 4, 14),
            )
        elif r < 0.99:
            if rng.random() < 0.004:  # a new training job: ~20 jobs in a 500k-event run
                yield ev("job_state", job=f"j{job}", state="finished")
                job += 1
                if seq < n - tail:
                    yield ev("job_state", job=f"j{job}", state="running")
            elif rng.random() < 0.5:
                yield ev("job_state", job=f"j{job}", state="running")
            else:
                yield ev("checkpoint", job=f"j{job}", path=f"checkpoints/j{job}/step-{step}", step=step)
        elif r < 0.995 and not approvals:
            yield ev("note", text=_sentence(rng, 4, 20))
        elif r < 0.995:
            aid = f"a{seq}"
            yield ev(
                "approval_request",
                id=aid,
                rule="network",
                summary=_sentence(rng, 4, 12),
                details={"url": "https://huggingface.co/datasets/gsm8k"},
            )
            if seq < n - tail:
                t += dt
                yield ev("approval_decision", id=aid, decision="approve", scope="once", reason="", by="person")
        else:
            yield ev("human_nudge", text=_sentence(rng, 3, 12))
        t += dt * rng.uniform(0.2, 1.8)
        if gaps and rng.random() < 0.0005:
            t += rng.uniform(30, 600)
    if finish and n >= 2:
        yield ev("score", split="test", value=0.4125, checkpoint=f"checkpoints/j{job}")
        t += dt
        yield ev("run_state", state="finished")


def gen_lines(n: int, **kw) -> list[bytes]:
    return [(json.dumps(e, ensure_ascii=False) + "\n").encode() for e in gen_events(n, **kw)]


def write_log(path: Path, n: int, **kw) -> int:
    """Write a whole log of n events; returns its size in bytes."""
    size = 0
    with open(path, "wb") as fh:
        buf = []
        for e in gen_events(n, **kw):
            buf.append(json.dumps(e, ensure_ascii=False))
            if len(buf) >= 10000:
                data = ("\n".join(buf) + "\n").encode()
                fh.write(data)
                size += len(data)
                buf = []
        if buf:
            data = ("\n".join(buf) + "\n").encode()
            fh.write(data)
            size += len(data)
    return size
