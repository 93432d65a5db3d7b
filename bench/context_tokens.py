"""Prompt tokens per turn over a long run: does the LLM agent's context stay bounded?

Replays a synthetic 10-hour post-training run (by default) through the real LLMAgent and the
real OpenAI (or Anthropic) SDK, served by an httpx MockTransport: training jobs that stream
metrics and noisy logs, waits, job_status polls, evaluations with their examples, samples,
big log reads, watchdog alerts (NaN loss, a learning rate decayed to zero), a denied call,
notes, and messages from the person. No network, no key, no model.

The mock server records each request's size (its JSON body, 4 characters a token) and checks
every request for valid tool-call pairing. The uncompacted baseline is measured in the same
run: the history as it would be with nothing compacted (raw tool output, every turn kept).

    .venv/bin/python bench/context_tokens.py [--hours 10] [--provider openai|anthropic] [--budget 8000]

The last line is one JSON object: turns, tool calls, prompt tokens (first, middle, last, max),
the budget, whether it held, the baseline at the end and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from agent_core.agents.base import Brief, Call, Done, Say  # noqa: E402
from agent_core.agents.llm import make_llm_agent  # noqa: E402
from agent_core.agents.context import CHARS_PER_TOKEN  # noqa: E402

from context_world import NUDGES, WAIT_S, World  # noqa: E402


# -- the scripted model -----------------------------------------------------------------------------
class Model:
    """Decides the next turn from the world (it cheats: it reads the world directly)."""

    LRS = [1e-3, 5e-4, 2e-3, 3e-4, 1e-4, 2e-4, 3e-4, 1.5e-4, 2.5e-4, 3e-4]

    def __init__(self, world: World):
        self.w = world
        self.turn = 0
        self.phase = "start"
        self.job: str | None = None
        self.k = 0
        self.notes: list[str] = []
        self.done = False

    def next(self) -> tuple[str, list[tuple[str, dict]]]:
        self.turn += 1
        w, t = self.w, self.turn
        if self.done:
            return "Submitted.", []
        if w.t >= w.end - 20 * 60 and self.phase in ("start", "wait"):
            best = max((c for c in w.scores if c != "base"), key=lambda c: w.scores[c], default="base")
            self.done = True
            return f"Time is nearly up; submitting {best}, the best by dev score.", [("submit", {"checkpoint": best})]
        if t == 300:
            return "Checking whether an outside arithmetic set would help.", [("load_dataset", {"name": "hf:gsm8k"})]
        if t % 97 == 0:
            return "Let me think about the next step.", []  # a text-only turn: the agent nudges it on
        if self.phase == "start":
            lr = self.LRS[self.k % len(self.LRS)]
            self.k += 1
            self.phase = "wait"
            self.job = f"job{len(w.jobs) + 1}"
            return (
                f"Experiment {self.k}: SFT with lr {lr:g}, one change from the last run.",
                [
                    (
                        "start_training",
                        {
                            "dataset": "train",
                            "learning_rate": lr,
                            "epochs": 2,
                            "lora": self.k > 6,
                            "lr_scheduler_type": "constant",
                        },
                    )
                ],
            )
        if self.phase == "wait":
            j = w.jobs[self.job]
            if j["state"] == "finished":
                self.phase = "eval"
                return f"{self.job} finished; evaluating it on dev.", [("evaluate", {"checkpoint": self.job})]
            if j["state"] != "running":
                self.phase = "start"
                return f"{self.job} {j['state']}; recording why.", [("note", self._note(failed=True))]
            if t % 11 == 0:
                return "", [("job_status", {"job": self.job}), ("wait", {"job": self.job, "timeout_s": WAIT_S})]
            if t % 41 == 0:
                return "Reading the training log.", [("read_file", {"path": f"jobs/{self.job}.log"})]
            return "", [("wait", {"job": self.job, "timeout_s": WAIT_S})]
        if self.phase == "eval":
            self.phase = "start"
            return (
                "Reading a few completions, then recording the finding.",
                [
                    ("sample", {"checkpoint": self.job, "prompts": ["12+19=", "40+7=", "33+33="]}),
                    ("note", self._note()),
                ],
            )
        raise AssertionError(self.phase)

    def _note(self, failed: bool = False) -> dict:
        j = self.w.jobs[self.job]
        if failed:
            text = f"{self.job} (lr {j['lr']:g}) {j['state']}: loss went NaN; a lower lr next."
        else:
            text = f"{self.job} (lr {j['lr']:g}): dev {self.w.scores.get(self.job, 0):.1%}; completions look clean."
        self.notes.append(text)
        return {"text": text}


# -- the mock API ------------------------------------------------------------------------------------
def check_pairing(kind: str, body: dict) -> None:
    msgs = body["messages"]
    if kind == "openai":
        open_ids: set[str] = set()
        for i, m in enumerate(msgs):
            if m["role"] == "tool":
                assert m["tool_call_id"] in open_ids, f"tool message {i} answers no open tool call"
                open_ids.discard(m["tool_call_id"])
            else:
                assert not open_ids, f"message {i} ({m['role']}) before every tool call was answered"
                if m["role"] == "assistant":
                    open_ids = {c["id"] for c in m.get("tool_calls") or []}
        assert not open_ids, "the request ends with tool calls not answered"
    else:
        assert msgs[0]["role"] == "user"
        prev_uses: set[str] = set()
        for i, m in enumerate(msgs):
            assert i == 0 or m["role"] != msgs[i - 1]["role"], f"two {m['role']} messages in a row at {i}"
            blocks = m["content"]
            if m["role"] == "user":
                ids = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
                assert set(ids) == prev_uses, f"message {i}: tool_results {ids} do not answer {prev_uses}"
                kinds = [b.get("type") for b in blocks]
                assert kinds == sorted(kinds, key=lambda k: k != "tool_result"), "tool_result blocks must come first"
                prev_uses = set()
            else:
                prev_uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        assert not prev_uses


class MockAPI:
    def __init__(self, kind: str, model: Model, world: World):
        self.kind, self.model, self.world = kind, model, world
        self.sizes: list[int] = []  # request tokens: the whole JSON body / 4
        self.last_body: dict | None = None
        self.n = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        check_pairing(self.kind, body)
        self.last_body = body
        self.sizes.append(-(-len(request.content) // CHARS_PER_TOKEN))
        text, calls = self.model.next()
        self.n += 1
        return httpx.Response(200, json=self._reply(text, calls, self.sizes[-1]))

    def _reply(self, text: str, calls: list, prompt_tokens: int) -> dict:
        n = self.n
        if self.kind == "openai":
            tc = [
                {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for i, (name, args) in enumerate(calls)
            ]
            msg = {"role": "assistant", "content": text or None}
            if tc:
                msg["tool_calls"] = tc
            return {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4.1",
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if tc else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 40, "total_tokens": prompt_tokens + 40},
            }
        content = ([{"type": "text", "text": text}] if text else []) + [
            {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": args}
            for i, (name, args) in enumerate(calls)
        ]
        return {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": content or [{"type": "text", "text": "..."}],
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": 40},
        }


def client_for(kind: str, handler):
    if kind == "anthropic":
        try:
            import httpx2 as mod
        except ImportError:
            mod = httpx

        def h2(request):  # httpx2 requests/responses: convert through bytes
            req = httpx.Request(request.method, str(request.url), content=request.content)
            resp = handler(req)
            return mod.Response(resp.status_code, headers={"content-type": "application/json"}, content=resp.content)

        return mod.Client(transport=mod.MockTransport(h2))
    return httpx.Client(transport=httpx.MockTransport(handler))


# -- the run ----------------------------------------------------------------------------------------
def run(hours: float = 10.0, kind: str = "openai", budget: int = 8000, seed: int = 0, max_steps: int = 20_000) -> dict:
    world = World(hours, seed)
    model = Model(world)
    api = MockAPI(kind, model, world)
    brief = Brief(
        task="arithmetic",
        description="Answer two-digit additions with the number only.",
        base_model="tiny",
        budget_s=hours * 3600,
        datasets=["dev", "train"],
        recipe={"learning_rate": 1e-3, "epochs": 2},
    )
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key-000000000000")
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-not-a-real-key-000000000000")
    extra = {"stream": False} if kind == "anthropic" else {}
    agent = make_llm_agent(
        kind,
        brief,
        http_client=client_for(kind, api),
        backoff=0.0,
        max_backoff=0.0,
        context_tokens=budget,
        clock=world.clock,
        **extra,
    )
    raw_per_turn: list[int] = []
    last, t0 = None, time.perf_counter()
    for step in range(max_steps):
        if model.turn in NUDGES and model.turn not in getattr(agent, "_bench_nudged", set()):
            agent._bench_nudged = getattr(agent, "_bench_nudged", set()) | {model.turn}
            agent.on_nudge(NUDGES[model.turn])
        n_before = len(api.sizes)
        action = agent.next_action(last)
        if len(api.sizes) > n_before:
            raw_per_turn.append(agent.context.raw_tokens(agent.system, agent.tools))
        if isinstance(action, Say):
            last = None
        elif isinstance(action, Call):
            last = world.call(action.tool, action.args)
            if action.tool == "submit":
                break
        elif isinstance(action, Done):
            raise SystemExit(f"the agent stopped: {action.text}")
    elapsed = time.perf_counter() - t0
    final = json.dumps(api.last_body)
    kept = {
        "notes": sum(n in final for n in model.notes),
        "notes_total": len(model.notes),
        "nudges": sum(n in final for n in NUDGES.values()),
        "scores": sum(f"{c} (t" in final and f"dev {s:.1%}" in final for c, s in world.scores.items()),
        "scores_total": len(world.scores),
    }
    raw_end = agent.context.raw_tokens(agent.system, agent.tools)
    kept_end = agent.context.raw_tokens(agent.system, agent.tools, outputs_compacted=True)
    sizes = api.sizes
    return {
        "sizes": sizes,
        "kept_end": kept_end,
        "raw_per_turn": raw_per_turn,
        "raw_end": raw_end,
        "calls": world.calls,
        "hours": world.t / 3600,
        "elapsed": elapsed,
        "kept": kept,
        "agent": agent,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--provider", choices=("openai", "anthropic"), default="openai")
    ap.add_argument("--budget", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    r = run(a.hours, a.provider, a.budget, a.seed)
    sizes, raw = r["sizes"], r["raw_per_turn"]
    n = len(sizes)
    mid = n // 2
    ctx = r["agent"].context
    print(
        f"{a.provider}: {n} model turns, {r['calls']} tool calls, {r['hours']:.1f} simulated hours, "
        f"{r['elapsed']:.1f}s wall; budget {a.budget} tokens (request JSON / {CHARS_PER_TOKEN})"
    )
    for label, lo in (("start", 0), ("middle", max(0, mid - 2)), ("end", max(0, n - 5))):
        rows = [f"t{i + 1}: {sizes[i]} (uncompacted {raw[i]})" for i in range(lo, min(n, lo + 5))]
        print(f"  {label:<6} " + "; ".join(rows))
    print(
        f"  max {max(sizes)} at turn {sizes.index(max(sizes)) + 1} (the agent's own estimate: max "
        f"{ctx.max_tokens}); compactions {ctx.compactions}; turns summarized {ctx.compacted_turns}"
    )
    print(
        f"  uncompacted baseline at the end: {r['raw_end']:,} tokens = {r['raw_end'] / sizes[-1]:.0f}x the last "
        f"request; whole run {sum(sizes):,} prompt tokens vs {sum(raw):,} uncompacted "
        f"({sum(raw) / sum(sizes):.0f}x)"
    )
    print(f"  with tool outputs compacted but no turn dropped, the last request would hold {r['kept_end']:,} tokens")
    k = r["kept"]
    print(
        f"  in the last request: notes {k['notes']}/{k['notes_total']}, nudges {k['nudges']}/{len(NUDGES)}, "
        f"scores {k['scores']}/{k['scores_total']}"
    )
    out = {
        "provider": a.provider,
        "turns": n,
        "tool_calls": r["calls"],
        "tokens_first": sizes[0],
        "tokens_mid": sizes[mid],
        "tokens_last": sizes[-1],
        "tokens_max": max(sizes),
        "target": a.budget,
        "bounded": max(sizes) <= a.budget,
        "baseline_end": r["raw_end"],
        "baseline_end_outputs_compacted": r["kept_end"],
        "ratio_end": round(r["raw_end"] / sizes[-1], 1),
        "run_total": sum(sizes),
        "run_total_uncompacted": sum(raw),
        "ratio_run": round(sum(raw) / sum(sizes), 1),
        "findings_kept": k["notes"] == k["notes_total"]
        and k["nudges"] == len(NUDGES)
        and k["scores"] == k["scores_total"],
    }
    print(json.dumps(out))
    return 0 if out["bounded"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
