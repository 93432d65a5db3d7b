"""What the fence costs: run_python start-up (`print(1)`) and the per-completion overhead of a GRPO
reward scored inside bubblewrap, against baselines measured in the same run, interleaved so load
hits every arm alike.

    .venv/bin/python bench/sandbox_cost.py [--repeats 15] [--completions 2000]

run_python arms (wall time of one call, median):
  plain      python -s -c 'print(1)' with the allow-listed environment (no fence)
  unshare    the fence before bubblewrap: `unshare -rmn` + a locked second namespace (the old
             run_python), where this machine allows it
  bwrap      agent_core.oversight.sandbox.run_code (bubblewrap, limits, pids cgroup where one can be made)
Reward arms: the same reward file scored through agent_core.ml.reward_sandbox.RewardSandbox with
fenced=False and fenced=True, and called in-process; per completion = batch time / completions;
plus the reward process's start-up (import of the reward file), fenced and not.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_core.oversight import fence, sandbox  # noqa: E402
from agent_core.ml.reward_sandbox import RewardSandbox  # noqa: E402

REWARD = """
def reward(prompt, completion, expected="", **fields):
    return 1.0 if completion.strip() == str(expected).strip() else 0.0
"""


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--completions", type=int, default=2000)
    a = ap.parse_args()
    ok, why = fence.available()
    if not ok:
        print(json.dumps({"error": why}))
        sys.exit(1)
    ws = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    (ws / "reward.py").write_text(REWARD)
    env = fence.sandbox_env()
    arms: dict[str, list[float]] = {"plain": [], "bwrap": []}
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rmn", "true"], capture_output=True).returncode == 0:
        arms["unshare"] = []
    script = f'mount --bind {ws} {ws}; cd {ws}; exec unshare -U -m -c -- "$@"'
    runs = {
        "plain": lambda: subprocess.run(
            [sys.executable, "-s", "-c", "print(1)"], env=env, cwd=ws, capture_output=True, check=True
        ),
        "unshare": lambda: subprocess.run(
            [unshare, "-rmn", "sh", "-c", script, "sh", sys.executable, "-s", "-c", "print(1)"],
            env=env,
            cwd=ws,
            capture_output=True,
            check=True,
        ),
        "bwrap": lambda: asyncio.run(sandbox.run_code("print(1)", ws, timeout=30)),
    }
    for _ in range(a.repeats + 1):  # the first round warms caches and is dropped
        for name in arms:
            arms[name].append(_time(runs[name]))
    call = {k: statistics.median(v[1:]) * 1000 for k, v in arms.items()}

    items = [("3+4=", str(i % 9), {"expected": "7"}) for i in range(a.completions)]
    starts: dict[str, list[float]] = {"unfenced": [], "bwrap": []}
    per: dict[str, list[float]] = {"unfenced": [], "bwrap": [], "in_process": []}
    ns: dict = {}
    exec(REWARD, ns)
    for _ in range(3):
        for name, fenced in (("unfenced", False), ("bwrap", True)):
            t0 = time.perf_counter()
            box = RewardSandbox(ws / "reward.py", timeout_s=30, fenced=fenced)
            starts[name].append(time.perf_counter() - t0)
            box.score("reward", items[:10])
            per[name].append(_time(lambda: box.score("reward", items)) / len(items))
            box.close()
        per["in_process"].append(_time(lambda: [ns["reward"](p, c, **f) for p, c, f in items]) / len(items))
    shutil.rmtree(ws, ignore_errors=True)
    us = {k: statistics.median(v) * 1e6 for k, v in per.items()}
    start_ms = {k: statistics.median(v) * 1000 for k, v in starts.items()}
    out = {
        "run_python_ms": {k: round(v, 1) for k, v in call.items()},
        "run_python_vs_plain": round(call["bwrap"] / call["plain"], 2),
        **({"run_python_vs_unshare": round(call["bwrap"] / call["unshare"], 2)} if "unshare" in call else {}),
        "reward_start_ms": {k: round(v, 1) for k, v in start_ms.items()},
        "reward_us_per_completion": {k: round(v, 2) for k, v in us.items()},
        "reward_fenced_vs_unfenced": round(us["bwrap"] / us["unfenced"], 2),
        "completions": a.completions,
        "repeats": a.repeats,
        "bwrap": why,
    }
    for k, v in out.items():
        if k not in ("completions", "repeats", "bwrap"):
            print(f"{k}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
