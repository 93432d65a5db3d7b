"""Context management: a running digest of key findings, and requests held under a token budget
however long the run is (agent_core/agents/context.py and findings.py, used by the LLM agent).

The long runs go through the real LLMAgent and the real SDKs (OpenAI over httpx, Anthropic over
httpx2), served by a MockTransport whose handler records each request's size and checks the
tool-call pairing rules of its API. No network.
"""

from __future__ import annotations

import json
import math
import random
import re

import httpx
import pytest

from agent_core.agents.base import Brief, Call, Done, Say, ToolOutcome
from agent_core.agents.llm import make_llm_agent
from agent_core.agents.context import CHARS_PER_TOKEN, ContextManager, estimate_tokens, fixed_chars, message_chars
from agent_core.agents.markers import ALERT_MARK, DIGEST_MARK, SUPERVISOR_PREFIX
from agent_core.agents.providers import AssistantTurn, ToolCall, ToolResult, ToolResults, UserText, tool_specs
from agent_core.agents.providers.anthropic_provider import to_wire as anthropic_wire
from agent_core.agents.providers.openai_provider import to_wire as openai_wire
from agent_core.agents.tools import SCHEMAS

try:
    import httpx2 as ahttpx
except ImportError:
    ahttpx = httpx

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

BUDGET = 8000


# -- fit: the budget and the pairing rules ---------------------------------------------------------
def check_pairing(kind: str, msgs: list[dict]) -> None:
    """OpenAI: tool messages right after the assistant message whose tool_calls they answer, all
    answered. Anthropic: roles alternate, each user message's tool_result blocks come first and
    answer exactly the tool_use blocks of the assistant message before it."""
    if kind == "openai":
        open_ids: set[str] = set()
        for i, m in enumerate(msgs):
            if m["role"] == "tool":
                assert m["tool_call_id"] in open_ids, f"tool message {i} answers no open call"
                open_ids.discard(m["tool_call_id"])
            else:
                assert not open_ids, f"message {i} ({m['role']}) before every tool call was answered"
                if m["role"] == "assistant":
                    open_ids = {c["id"] for c in m.get("tool_calls") or []}
        assert not open_ids
        return
    assert msgs[0]["role"] == "user"
    uses: set[str] = set()
    for i, m in enumerate(msgs):
        assert i == 0 or m["role"] != msgs[i - 1]["role"], f"two {m['role']} messages in a row at {i}"
        if m["role"] == "user":
            kinds = [b["type"] for b in m["content"]]
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result")
            assert {b["tool_use_id"] for b in m["content"] if b["type"] == "tool_result"} == uses, i
            uses = set()
        else:
            uses = {b["id"] for b in m["content"] if b["type"] == "tool_use"}
    assert not uses


def synthetic_history(turns: int, result_chars: int = 1500, calls_per_turn: int = 2) -> list:
    hist: list = [UserText("Task: arithmetic. Start by looking at the data.")]
    for t in range(1, turns + 1):
        calls = [ToolCall(f"c{t}_{k}", "wait", {"job": "job1"}) for k in range(calls_per_turn)]
        hist.append(AssistantTurn(f"Turn {t}: waiting for job1.", calls))
        hist.append(
            ToolResults(
                [ToolResult(c.id, c.name, f"timeout: job1 running, turn {t}\n" + "m" * result_chars) for c in calls]
            )
        )
        hist.append(UserText(f"[tinker-tui clock] {t} minutes used"))
    return hist


def test_fit_leaves_a_short_history_alone():
    cm = ContextManager(BUDGET)
    hist = synthetic_history(3)
    out = cm.fit("system", [], hist)
    assert out == hist and all(a is b for a, b in zip(out, hist))
    assert cm.compactions == 0 and cm.last_tokens == estimate_tokens(
        fixed_chars("system", []) + sum(message_chars(m) for m in hist)
    )


def test_fit_drops_whole_turns_keeps_the_brief_and_the_findings_and_pairing_stays_valid():
    tools = tool_specs(SCHEMAS)
    cm = ContextManager(BUDGET, keep_turns=6)
    cm.record_nudge("Use LoRA from now on.", turn=4)
    cm.record_result("note", {"text": "lr 1e-3 beats 1e-4 by 20 points"}, True, "noted", turn=5)
    cm.record_result(
        "start_training",
        {"dataset": "train", "learning_rate": 0.001},
        True,
        "job1 started: SFT on train from base, lr 0.001; call wait to park until it ends",
        {"job": "job1"},
        turn=6,
    )
    cm.record_result(
        "wait",
        {"job": "job1"},
        True,
        "job ended: job1 finished" + ALERT_MARK + "loss_spike (warning): loss jumped 4x at step 90",
        {"job": "job1", "state": "finished", "step": 100, "total": 100, "loss": 0.4},
        turn=7,
    )
    cm.record_result(
        "evaluate",
        {"checkpoint": "job1"},
        True,
        "job1 on dev: 62.0% exact match (31/50)",
        {"score": 0.62, "n": 50},
        turn=8,
    )
    cm.record_result(
        "load_dataset", {"name": "hf:gsm8k"}, False, "vetoed by the person [outside_download]: no", denied=True, turn=9
    )
    hist = synthetic_history(60)
    out = cm.fit("system prompt", tools, hist)
    assert cm.last_tokens <= BUDGET and cm.compactions == 1
    assert out[0] is hist[0] and isinstance(out[1], UserText) and out[1].text.startswith(DIGEST_MARK)
    assert isinstance(out[2], AssistantTurn)  # the kept turns start with a whole turn
    assert out[-3:] == hist[-3:]  # the latest turn as it was
    digest = out[1].text
    for s in (
        "t4: Use LoRA from now on.",
        "lr 1e-3 beats 1e-4 by 20 points",
        "job1 (t6): SFT on train from base",
        "finished, step 100/100, loss 0.4 -> dev 62.0% (31/50)",
        "loss_spike (warning) x1, t7",
        "DENIED load_dataset(name=hf:gsm8k)",
        "Earlier turns, one line each:",
    ):
        assert s in digest, s
    for wire, kind in ((openai_wire(out), "openai"), (anthropic_wire(out), "anthropic")):
        check_pairing(kind, wire)
    # Hysteresis: a few more turns fit without touching the prefix (the provider's cache stays valid).
    more = out + synthetic_history(62)[-6:]
    again = cm.fit("system prompt", tools, more)
    assert again[1] is out[1] and cm.compactions == 1


def test_one_huge_turn_is_shrunk_to_fit():
    cm = ContextManager(BUDGET)
    calls = [ToolCall(f"c{k}", "write_file", {"path": "train.py", "content": "x = 1\n" * 20_000}) for k in range(3)]
    hist = [
        UserText("brief"),
        AssistantTurn("Writing the script.", calls),
        ToolResults([ToolResult(c.id, c.name, "y" * 200_000) for c in calls]),
    ]
    out = cm.fit("system", tool_specs(SCHEMAS), hist)
    assert cm.last_tokens <= BUDGET and cm.over_budget == 0
    check_pairing("openai", openai_wire(out))
    check_pairing("anthropic", anthropic_wire(out))
    assert [c.id for c in out[-2].tool_calls] == ["c0", "c1", "c2"]


# -- a long run through the LLM agent ------------------------------------------------------------------
NUDGES = {
    100: "Keep the learning rate at or below 3e-4 from now on.",
    700: "Try LoRA next; full fine-tuning is too slow.",
    1500: "Leave 30 minutes at the end to evaluate and submit.",
}
CYCLE = 40  # turns per experiment


class Run:
    """A scripted model and the tools it calls: one experiment per CYCLE turns (start, waits that
    stream metric rows and noisy logs, sometimes a job_status poll beside the wait, the job's end,
    evaluate, sample + note, a turn without a tool call), watchdog alerts, a vetoed call, and the
    person's messages. Experiment e scores (10 + e)% on 100 dev items, so every score is unique."""

    def __init__(self, kind: str, turns: int):
        self.kind, self.turns = kind, turns
        self.n = 0
        self.sizes: list[int] = []
        self.texts: list[str] = []
        self.notes: list[str] = []
        self.scores: list[str] = []
        self.nudged: list[str] = []
        self.alerts: list[str] = []
        self.failure: AssertionError | None = None
        self.rng = random.Random(7)

    # the model
    def turn(self) -> tuple[str, list[tuple[str, dict]]]:
        t = self.n
        e, pos = divmod(t - 1, CYCLE)
        job = f"job{e + 1}"
        if t == self.turns:
            return "Submitting the best checkpoint.", [("submit", {"checkpoint": "job1"})]
        if t == 222:
            return "An outside set might help.", [("load_dataset", {"name": "hf:gsm8k"})]
        if pos == 0:
            return f"Experiment {e + 1}.", [("start_training", {"dataset": "train", "learning_rate": 1e-4 * (e + 1)})]
        if pos < 35:
            calls = [("wait", {"job": job, "timeout_s": 60})]
            return ("", ([("job_status", {"job": job})] + calls) if pos % 9 == 0 else calls)
        if pos == 35:
            return "Evaluating.", [("evaluate", {"checkpoint": job})]
        if pos == 36:
            note = f"{job} lr={1e-4 * (e + 1):.0e} dev={10 + e}% finding-{e + 1}"
            return "Sampling and noting.", [
                ("sample", {"checkpoint": job, "prompts": ["1+1="]}),
                ("note", {"text": note}),
            ]
        if pos == 37:
            return "Thinking about the next experiment.", []
        return "", [("job_status", {"job": job})]

    # the tools
    def outcome(self, action: Call) -> ToolOutcome:
        name, args = action.tool, action.args
        e = (self.n - 1) // CYCLE
        alert = ""
        if self.n % 150 == 0:
            rule = ("loss_spike", "lr_zero", "stalled")[self.n // 150 % 3]
            alert = ALERT_MARK + f"{rule} (warning): seen at turn {self.n}. Check: the learning rate"
            self.alerts.append(rule)
        if name == "start_training":
            return ToolOutcome(
                name,
                True,
                f"job{e + 1} started: SFT on train from base, lr {args['learning_rate']:g}; "
                f"call wait to park until it ends",
                {"job": f"job{e + 1}"},
            )
        if name in ("wait", "job_status"):
            pos = (self.n - 1) % CYCLE
            state = "finished" if pos >= 34 else "running"
            step = min(pos * 30, 1020)
            rows = [
                {
                    "step": s,
                    "loss": round(2 * math.exp(-s / 400) + self.rng.random() / 50, 5),
                    "learning_rate": args.get("learning_rate", 3e-4),
                    "grad_norm": round(self.rng.uniform(0.5, 2), 4),
                }
                for s in range(max(0, step - 30), step)
            ]
            log = "\n".join(
                f"{r['step']}/1020 loss={r['loss']} grad_norm={r['grad_norm']}"
                + ("\nUserWarning: pad_token is not set" if r["step"] % 4 == 0 else "")
                for r in rows
            )
            data = {
                "job": args["job"],
                "state": state,
                "step": step,
                "total": 1020,
                "loss": rows[-1]["loss"] if rows else 2.0,
                "metrics": rows if name == "wait" else [],
                "log_tail": log if name == "wait" else "",
            }
            if state == "finished":
                data["checkpoint"] = args["job"]
            return ToolOutcome(name, True, f"{args['job']} {state}, step {step}/1020" + alert, data)
        if name == "evaluate":
            c = 10 + e
            self.scores.append((f"{c / 100:.1%} ({c}/100)", f"{c / 100:.1%} exact match ({c}/100)"))
            ex = [
                {"prompt": f"{i}+{i}=", "expected": str(2 * i), "got": str(2 * i), "correct": i < c} for i in range(100)
            ]
            return ToolOutcome(
                name,
                True,
                f"{args['checkpoint']} on dev: {c / 100:.1%} exact match ({c}/100)" + alert,
                {"score": c / 100, "n": 100, "examples": ex},
            )
        if name == "sample":
            return ToolOutcome(
                name, True, "1 samples: '1+1=' -> '2'", {"samples": [{"prompt": "1+1=", "completion": "2"}]}
            )
        if name == "note":
            self.notes.append(args["text"])
            return ToolOutcome(name, True, "noted")
        if name == "load_dataset":
            return ToolOutcome(name, False, "vetoed by the person [outside_download]: use the local data", denied=True)
        if name == "submit":
            return ToolOutcome(name, True, "submitted job1")
        raise AssertionError(name)

    # the API
    def handler(self, request):
        try:
            return self._handle(request)
        except AssertionError as exc:  # the SDK would see a connection error: keep it for the test
            self.failure = exc
            raise

    def _handle(self, request):
        body = json.loads(request.content)
        msgs = body["messages"]
        check_pairing(self.kind, msgs)
        self.sizes.append(-(-len(request.content) // CHARS_PER_TOKEN))
        self.texts.append(request.content.decode())
        self.check_findings(self.texts[-1])
        self.n += 1
        text, calls = self.turn()
        n = self.n
        if self.kind == "openai":
            msg: dict = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = [
                    {"id": f"call_{n}_{i}", "type": "function", "function": {"name": c, "arguments": json.dumps(a)}}
                    for i, (c, a) in enumerate(calls)
                ]
            reply = {
                "id": f"x{n}",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4.1",
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": {
                    "prompt_tokens": self.sizes[-1],
                    "completion_tokens": 20,
                    "total_tokens": self.sizes[-1] + 20,
                },
            }
            return httpx.Response(200, json=reply)
        content = ([{"type": "text", "text": text}] if text else []) + [
            {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": c, "input": a} for i, (c, a) in enumerate(calls)
        ]
        reply = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": self.sizes[-1], "output_tokens": 20},
        }
        return ahttpx.Response(200, json=reply)

    def check_findings(self, wire: str) -> None:
        """Every finding so far is in this request: notes, the person's messages, scores, alerts."""
        for s in self.notes + self.nudged + self.alerts:
            assert s in wire, f"request {len(self.texts)} lost {s!r}"
        for digest_form, result_form in self.scores:  # in the summary, or still in the tool result
            assert digest_form in wire or result_form in wire, f"request {len(self.texts)} lost {digest_form!r}"


def drive(kind: str, turns: int, monkeypatch) -> tuple[Run, object]:
    run = Run(kind, turns)
    if kind == "openai":
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-context-0000000000000000")
        client, extra = httpx.Client(transport=httpx.MockTransport(run.handler)), {}
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-context-0000000000000000")
        client, extra = ahttpx.Client(transport=ahttpx.MockTransport(run.handler)), {"stream": False}
    brief = Brief(
        task="arithmetic",
        description="Answer two-digit additions.",
        base_model="tiny",
        budget_s=36_000.0,
        datasets=["dev", "train"],
    )
    agent = make_llm_agent(kind, brief, http_client=client, max_retries=0, max_failures=0, **extra)
    last = None
    for _ in range(turns * 4):
        if run.n in NUDGES and NUDGES[run.n] not in run.nudged:
            agent.on_nudge(NUDGES[run.n])
            run.nudged.append(NUDGES[run.n])
        action = agent.next_action(last)
        if isinstance(action, Call):
            last = run.outcome(action)
            if action.tool == "submit":
                break
        elif isinstance(action, Say):
            last = None
        else:
            assert isinstance(action, Done)
            if run.failure:
                raise run.failure
            raise AssertionError(f"the agent stopped: {action.text}")
    return run, agent


@pytest.mark.parametrize("kind,turns", [("openai", 800), ("anthropic", 2000)])
def test_long_run_prompt_tokens_stay_bounded_and_findings_survive(monkeypatch, kind, turns):
    run, agent = drive(kind, turns, monkeypatch)
    assert run.n == turns  # every turn asked the model, the last one submitted
    assert max(run.sizes) <= BUDGET, (max(run.sizes), run.sizes.index(max(run.sizes)))
    assert run.sizes[-1] < BUDGET and agent.context.over_budget == 0
    ctx = agent.context
    assert ctx.compacted_turns > turns * 0.95 and ctx.compactions > 10
    raw = ctx.raw_tokens(agent.system, agent.tools)
    assert raw > 50 * run.sizes[-1]  # the uncompacted history would be far beyond any window
    assert len(run.notes) == turns // CYCLE and len(run.nudged) == sum(t < turns for t in NUDGES)
    assert len(run.alerts) >= turns // 150 - 1
    last = run.texts[-1]
    assert DIGEST_MARK in last and "DENIED load_dataset(name=hf:gsm8k)" in last
    assert re.search(r"t\d+: " + re.escape(NUDGES[700]), last)
    # The estimate the agent budgets with is not below what went over the wire.
    assert ctx.max_tokens >= max(run.sizes[len(run.sizes) // 2 :]) * 0.9


def test_the_persons_message_reaches_the_model_verbatim_and_stays_after_compaction(monkeypatch):
    run, agent = drive("anthropic", 400, monkeypatch)
    first = next(i for i, t in enumerate(run.texts) if NUDGES[100] in t)
    assert f"{SUPERVISOR_PREFIX} {NUDGES[100]}" in run.texts[first]
    assert all(NUDGES[100] in t for t in run.texts[first:])
    assert agent.context.compacted_turns > 300
