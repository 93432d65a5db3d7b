"""What driving the Claude Code CLI costs against the plain Anthropic agent, on the same scripted
Messages API on 127.0.0.1 (tests/anthropic_stub.py), in one run, fully offline.

    .venv/bin/python bench/claude_code_overhead.py [--steps 40] [--rounds 3]

Each round runs both agents over the same script: STEPS tool calls (`note`), then a closing text.
The daemon's side is played by a loop that answers every Call at once (no tools run), so the
figures are the agent path's own cost:
- start-up: from the first next_action to the first Call (the CLI: process start, connect, MCP
  handshake and the first model request; the plain agent: the first request);
- per step: the mean time from handing back one outcome to getting the next Call;
- the CLI process's memory (VmRSS after the steps, VmHWM its peak), and the Python process's.
Ratios are CLI / plain (above 1: the CLI path is slower). Medians over the rounds. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from anthropic_stub import AnthropicStub, text, tool  # noqa: E402

from agent_core.agents.base import Brief, Call, Done, ToolOutcome  # noqa: E402

KEY = "sk-ant-bench-0000"


def brief() -> Brief:
    return Brief(task="arithmetic", description="Add two numbers.", base_model="tiny", budget_s=None)


def script(steps: int) -> list:
    return [[tool("note", text=f"step {i}")] for i in range(steps)] + [[text("Done.")]]


def cli_memory(work: Path) -> dict:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(work):
                    status = dict(
                        line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line
                    )
                    return {k: int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}
            except OSError:
                continue
    return {}


def drive(agent, steps: int, probe=None) -> dict:
    t0 = time.perf_counter()
    action, last, times, mem = agent.next_action(None), None, [], {}
    first = time.perf_counter() - t0
    calls = 0
    while not isinstance(action, Done):
        if isinstance(action, Call):
            calls += 1
            last = ToolOutcome(action.tool, True, "noted")
            if calls == steps and probe:
                mem = probe()
        else:
            last = None
        t = time.perf_counter()
        action = agent.next_action(last)
        if isinstance(action, Call):
            times.append(time.perf_counter() - t)
    agent.cancel()
    return {"startup_s": first, "step_ms": statistics.mean(times) * 1e3 if times else None, "calls": calls, **mem}


def plain_round(steps: int) -> dict:
    from agent_core.agents.llm import make_llm_agent

    with AnthropicStub(script(steps)) as stub:
        agent = make_llm_agent("anthropic:claude-stub", brief(), base_url=stub.url, api_key=KEY, max_retries=0)
        return drive(agent, steps)


def cli_round(steps: int, tmp: Path) -> dict:
    from agent_core.agents.claude_code import ClaudeCodeAgent
    from agent_core.record.runs import RunDir

    run = RunDir(Path(tempfile.mkdtemp(dir=tmp)))
    os.environ["ANTHROPIC_API_KEY"] = KEY
    with AnthropicStub(script(steps)) as stub:
        agent = ClaudeCodeAgent(brief(), run=run, model="claude-stub", base_url=stub.url)
        out = drive(agent, steps, probe=lambda: cli_memory(run.path / "agent_home" / "work"))
        if agent._thread is not None:
            agent._thread.join(10)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    plain, cc = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            plain.append(plain_round(args.steps))
            cc.append(cli_round(args.steps, Path(tmp)))
            print(f"round {r + 1}: plain {plain[-1]}  claude-code {cc[-1]}", flush=True)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows if r.get(key) is not None)

    result = {
        "steps": args.steps,
        "rounds": args.rounds,
        "plain_startup_s": med(plain, "startup_s"),
        "cli_startup_s": med(cc, "startup_s"),
        "plain_step_ms": med(plain, "step_ms"),
        "cli_step_ms": med(cc, "step_ms"),
        "cli_rss_mb": med(cc, "VmRSS"),
        "cli_peak_rss_mb": med(cc, "VmHWM"),
    }
    result["ratio_startup"] = result["cli_startup_s"] / result["plain_startup_s"]
    result["ratio_step"] = result["cli_step_ms"] / result["plain_step_ms"]
    result["cli_step_overhead_ms"] = result["cli_step_ms"] - result["plain_step_ms"]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
