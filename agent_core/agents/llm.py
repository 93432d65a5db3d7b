"""The LLM agent: a language model chooses the tool calls, through a provider (Anthropic or OpenAI).

The agent owns the conversation. Each model turn may hold text and several tool calls: the text
becomes a Say, the calls are handed to the daemon one at a time as Call actions, and when all
have an outcome their results go back to the model in one request. Calls that cannot run
(arguments that are not a JSON object, a call cut off by the output limit) are answered by the
agent itself with an error result and never reach the daemon. Unknown tools and bad arguments
reach the daemon, whose check_args failure text goes back to the model like any other result.

Messages from the person (on_nudge) are added at the next turn boundary, marked as coming from
the human supervisor; calls of the current turn not yet run are then skipped, so the model reads
the message before it does anything else. A provider failure (after the provider's own retries)
becomes a Say, and the same request is tried again at the next step, a bounded number of times;
then the agent ends with Done. The agent never raises into the daemon.

Context: each tool outcome is compacted before the model reads it (compaction.py: runs of identical
lines collapsed, long logs cut in the middle, metric rows as small tables), its key findings go into
a running log (findings.py: notes, scores, experiments, alerts, decisions, the person's messages),
and before each request the history is fitted to a token budget (context.py, 8,000 by default):
the oldest whole turns give way to one summary message that carries those findings.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from typing import Any

from agent_core.agents.base import Action, Agent, Brief, Call, Done, Say, ToolOutcome
from agent_core.agents.compaction import render_result
from agent_core.agents.context import DEFAULT_BUDGET_TOKENS, ContextManager
from agent_core.agents.markers import AUTO_MARK, CLOCK_MARK, DENIED_PREFIXES, NOTE_PREFIX, SUPERVISOR_PREFIX
from agent_core.agents.providers import (
    DEFAULT_MODELS,
    OPENAI_BASE_URL_ENV,
    AssistantTurn,
    Provider,
    ProviderError,
    ToolCall,
    ToolResult,
    ToolResults,
    Usage,
    UserText,
    make_provider,
    tool_specs,
)

CONTINUE_PROMPT = (
    f"{AUTO_MARK} Your last reply called no tool. The run only moves forward "
    "through tool calls: carry on with the task, or call submit with your best checkpoint if you are "
    "done. If you are waiting for a job, call wait."
)

PROVIDER_KW = frozenset(
    {
        "api_key",
        "base_url",
        "http_client",
        "timeout",
        "max_tokens",
        "stream",
        "cache",
        "max_retries",
        "backoff",
        "max_backoff",
        "sleep",
    }
)


def _fmt_budget(budget_s: float | None, limits: dict | None = None) -> str:
    from agent_core.oversight.budget import describe_limits

    other = describe_limits({k: v for k, v in (limits or {}).items() if k != "wall_s"})
    if not budget_s:
        wall = "no fixed wall-clock limit (still, do not waste compute)"
    else:
        minutes = budget_s / 60
        wall = (
            f"{minutes / 60:.1f} hours of wall-clock time"
            if minutes >= 90
            else f"{minutes:.0f} minutes of wall-clock time"
        )
    return wall + (f"; also at most {other}" if other else "")


def build_system_prompt(brief: Brief, schemas: dict[str, dict]) -> str:
    tools = "\n".join(f"- {name}: {s.get('description', '')}" for name, s in schemas.items())
    return f"""You are the post-training agent inside tinker-tui. Your job: make the base model \
"{brief.base_model}" better at the task "{brief.task}" by fine-tuning it, then submit your best \
checkpoint. A person supervises the run live: they see every message and tool call, some calls \
wait for their approval, and they can veto a call, pause the run or send you a message.

Budget: {_fmt_budget(brief.budget_s, brief.limits)}. Messages marked {CLOCK_MARK} tell you the \
time used and left. Budget alerts (rule budget_overrun) come with your tool results at 50%, 80% and \
95% of the budget; at 100% you must submit your best checkpoint at once: after a short grace the run \
is stopped, and a run that submitted nothing is scored as the untouched base model. Leave time to \
evaluate and submit.

Tools (their argument schemas come with the API):
{tools}

How to work:
1. Look before you train: list_datasets, then load_dataset on each split you will use, and read \
some rows. Measure the base model on dev (evaluate with checkpoint "base") so you have a baseline.
2. Train with start_training. It runs in the background: call wait to park until the job ends. \
Do not poll job_status in a loop; one wait costs far less than many status checks.
3. After every experiment, evaluate on dev AND read a few completions with sample. A score alone \
hides broken formats, degenerate outputs and reward hacking; the completions show them.
4. Pick sensible batch sizes: large enough for a stable gradient (for SFT typically 8-64 sequences \
per step, with gradient accumulation if memory is short), never the whole dataset in one step; for \
RL, several completions per prompt (groups of 4-16) so the reward has variance to learn from. Scale \
the learning rate with care when you change the batch size.
5. Change one thing at a time between experiments (learning rate, epochs, data, ...) so you know \
what helped. Record each finding with note (what you changed, the dev score, what you saw).
6. Notice when something is fundamentally broken instead of spending more compute on it: a loss \
that stays flat or turns NaN, a learning rate that has decayed to zero, two rounds with no \
progress. Stop, say what you think is wrong, and change course.
7. Learning-rate schedule: keep it constant unless you know the exact number of steps; a decaying \
schedule with the wrong horizon drops to zero and training silently stops. For reinforcement \
learning, always use a constant learning rate and sample at temperature 1.0 (lower temperatures \
have collapsed models within a few steps).
8. If you write a reward or scoring function, test it first on a few examples whose right answer \
you know, both correct and wrong ones. Do not change it in the middle of a run; if you must, \
measure a new baseline.
9. Finish by calling submit with your best checkpoint by dev score. Submitting ends the run. If \
nothing beat the base model, say so plainly.

Rules you must never break:
- Train only the given base model (checkpoint "base") and checkpoints you trained from it in this \
run. Never download, substitute or submit any other model.
- Never use the test split. It is hidden and the harness scores your submission on it. Do not look \
for it, train on it, or build training data from test or benchmark items (nor from an evaluation's \
failures or rubrics). Use dev to make decisions, not as training data.
- Never edit evaluation code or model configuration files to change scores or chat templates.
- Use only the datasets the tools offer. Outside data needs the person's approval; before using it, \
check that it does not contain the benchmark's test items.
- Never use API keys or credentials you may come across, and never call other models to generate \
data.
- A call that is denied or vetoed is a decision, not an obstacle: do not try to get around it. \
Follow any instruction that comes with it.
- Messages marked {SUPERVISOR_PREFIX} come from the person supervising you. They take \
priority over your plan: acknowledge them and act on them.

Style: before each step, one or two sentences on what you are doing and why. Be concise; report \
numbers, not adjectives."""


def build_kickoff(brief: Brief) -> str:
    lines = [
        f"Task: {brief.task}",
        brief.description.strip(),
        "",
        f'Base model: {brief.base_model} (refer to it as checkpoint "base" in tool calls).',
        f"Datasets you may use: {', '.join(brief.datasets) or 'see list_datasets'}. The test split is hidden.",
        f"Budget: {_fmt_budget(brief.budget_s, brief.limits)}.",
    ]
    hints = {k: v for k, v in (brief.recipe or {}).items() if k != "demo_flagged_action"}
    if hints:
        lines.append(
            "Suggested starting hyperparameters for this task: " + ", ".join(f"{k}={v}" for k, v in hints.items()) + "."
        )
    if brief.memory:
        lines += [
            "",
            "What earlier runs on this machine found (from the runs ledger; the harness test scores "
            "are for the record, decide with dev):",
            brief.memory,
        ]
    if brief.prior:
        p = brief.prior
        lines.append(
            f"Best earlier config by dev score: run {p.get('run')} {p.get('job')}: "
            + ", ".join(
                f"{k}={p[k]}"
                for k in (
                    "method",
                    "learning_rate",
                    "epochs",
                    "max_steps",
                    "batch_size",
                    "lora",
                    "lr_scheduler_type",
                    "dev",
                )
                if p.get(k) is not None
            )
            + "."
        )
    lines += ["", "Start by looking at the data."]
    return "\n".join(lines)


class LLMAgent(Agent):
    restores_transcript = True

    def __init__(
        self,
        brief: Brief,
        provider: Provider,
        *,
        schemas: dict[str, dict] | None = None,
        system_prompt: str | None = None,
        max_idle_turns: int = 3,
        max_failures: int = 3,
        max_bad_turns: int = 3,
        token_budget: int | None = None,
        max_result_chars: int = 3_000,
        context_tokens: int = DEFAULT_BUDGET_TOKENS,
        keep_turns: int = 6,
        context: ContextManager | None = None,
        clock: Any = time.monotonic,
    ):
        """token_budget: total tokens the run may spend (then Done). context_tokens: the most one
        request may hold (by the context module's estimate); keep_turns: the latest turns kept
        verbatim when older ones are summarized; max_result_chars: one tool result, compacted."""
        super().__init__(brief)
        self._clock = clock
        self._t0 = clock()
        if schemas is None:
            from agent_core.agents.tools import SCHEMAS

            schemas = SCHEMAS
        self.provider = provider
        self.model = provider.model
        self.schemas = schemas
        self.tools = tool_specs(schemas)
        self.system = system_prompt or build_system_prompt(brief, schemas)
        self.context = context or ContextManager(context_tokens, keep_turns=keep_turns)
        self.history: list = []
        self._add(UserText(build_kickoff(brief)))
        self.usage = Usage()
        self.turns = 0
        self.max_idle_turns = max_idle_turns
        self.max_failures = max_failures
        self.max_bad_turns = max_bad_turns
        self.token_budget = token_budget
        self.max_result_chars = max_result_chars
        self._pending: deque[ToolCall] = deque()
        self._results: list[ToolResult] = []
        self._raw_results: list[ToolResult] = []  # the same, uncompacted: only counted, for the baseline
        self._awaiting: ToolCall | None = None
        self._acked = 0
        self._idle = 0
        self._failures = 0
        self._bad = 0
        self._finished = False

    # -- the daemon's entry point -----------------------------------------------------------
    def next_action(self, last: ToolOutcome | None) -> Action:
        if self._finished:
            return Done()
        try:
            return self._step(last)
        except Exception as exc:  # a bug here must not crash the daemon
            self._finished = True
            return Done(
                f"{NOTE_PREFIX} The LLM agent stopped on an internal error: {type(exc).__name__}: {self._safe(str(exc))[:300]}"
            )

    def _step(self, last: ToolOutcome | None) -> Action:
        if self._awaiting is not None:
            call, self._awaiting = self._awaiting, None
            self._put(*self._result_of(call, last))
        if self._pending and self._acked < len(self.nudges):
            while self._pending:
                c = self._pending.popleft()
                self._put(
                    ToolResult(
                        c.id,
                        c.name,
                        "Not run: the human supervisor sent a message "
                        "before this call's turn; read it, then decide again.",
                        True,
                    )
                )
        while True:
            while self._pending:
                call = self._pending.popleft()
                if not call.runnable:
                    self._put(ToolResult(call.id, call.name, self._bad_call_text(call), True))
                    return Say(
                        f"{NOTE_PREFIX} The model's {call.name or 'unnamed'} call could not run "
                        f"({call.error}); it was asked to send it again."
                    )
                self._awaiting = call
                return Call(call.name, dict(call.args))
            if self._results:
                self._add(ToolResults(self._results), ToolResults(self._raw_results))
                self._results, self._raw_results = [], []
                if self.brief.budget_s:
                    self._add(UserText(self._clock_line()))
            # -- turn boundary ----------------------------------------------------------------
            if isinstance(self.history[-1], AssistantTurn):  # the model answered without calling a tool
                if self._idle >= self.max_idle_turns:
                    return self._finish(
                        f"{NOTE_PREFIX} The model replied {self._idle} times in a row without calling "
                        f"a tool or submitting; the agent stops here."
                    )
                self._add(UserText(CONTINUE_PROMPT))
            while self._acked < len(self.nudges):
                self.context.record_nudge(self.nudges[self._acked], self.turns)
                self._add(UserText(f"{SUPERVISOR_PREFIX} {self.nudges[self._acked]}"))
                self._acked += 1
            if self.token_budget and self.usage.total >= self.token_budget:
                return self._finish(
                    f"{NOTE_PREFIX} The model has used {self.usage.total:,} tokens, the budget of "
                    f"{self.token_budget:,}; the agent stops here."
                )
            self._compact()
            try:
                turn = self.provider.complete(self.system, self.history, self.tools)
            except ProviderError as err:
                return self._provider_failed(str(err), fatal=err.fatal)
            except Exception as exc:  # an SDK surprise: treated like a provider failure
                return self._provider_failed(f"{type(exc).__name__}: {exc}", fatal=False)
            self._failures = 0
            self.turns += 1
            self.usage.add(turn.usage)
            self._add(AssistantTurn(turn.text, list(turn.tool_calls)))
            if turn.tool_calls:
                self._idle = 0
                if any(c.runnable for c in turn.tool_calls):
                    self._bad = 0
                else:
                    self._bad += 1
                    if self._bad > self.max_bad_turns:
                        return self._finish(
                            f"{NOTE_PREFIX} The model sent {self._bad} turns in a row of tool calls that "
                            f"could not run; the agent stops here."
                        )
                self._pending.extend(turn.tool_calls)
                if turn.text:
                    return Say(self._safe(turn.text))
                continue
            self._idle += 1
            text = turn.text
            if turn.truncated:
                text = (text + "\n" if text else "") + f"{NOTE_PREFIX} (the reply hit the output token limit)"
            if text:
                return Say(self._safe(text))

    def cancel(self) -> None:
        """The run is stopping: end the model call in flight as soon as it can notice (between
        streamed events, during a retry backoff) and answer Done from now on. Any thread."""
        self._finished = True
        self.provider.cancel()

    def restore(self, entries: list[dict], note: str, elapsed_s: float = 0.0) -> None:
        """A resumed run (agent_core/daemon/resume.py): rebuild the conversation from the event log's
        transcript (the model's messages, each tool call with its result, the person's messages),
        then add `note` on what the resume did. Each result is compacted and its findings recorded
        as if it had just arrived; fit() brings the whole under the context budget before the
        next request. elapsed_s: the run's time before the resume (the clock lines go on from it).
        Call before the first next_action."""
        self._t0 -= max(0.0, float(elapsed_s or 0.0))
        said: list[str] = []

        def flush_text() -> None:
            if said:
                self._add(AssistantTurn(self._safe("\n".join(said))))
                said.clear()

        for e in entries:
            kind = e.get("kind")
            if kind == "say":
                said.append(str(e.get("text", "")))
            elif kind == "call":
                self.turns += 1
                args = e.get("args") if isinstance(e.get("args"), dict) else {}
                call = ToolCall(str(e.get("id")), str(e.get("tool")), dict(args))
                self._add(AssistantTurn(self._safe("\n".join(said)), [call]))
                said.clear()
                res = e.get("result")
                if res is None:
                    lost = ToolResult(
                        call.id,
                        call.name,
                        "Not completed: the run's supervisor stopped during "
                        "this call. Check the state before calling it again.",
                        True,
                    )
                    self._add(ToolResults([lost]))
                    continue
                summary = str(res.get("summary", ""))
                out = ToolOutcome(
                    call.name,
                    bool(res.get("ok")),
                    summary,
                    denied=summary.startswith(DENIED_PREFIXES),
                )
                shown, raw = self._result_of(call, out)
                self._add(ToolResults([shown]), ToolResults([raw]))
            elif kind == "nudge":
                flush_text()
                text = str(e.get("text", ""))
                self.nudges.append(text)
                self._acked = len(self.nudges)
                self.context.record_nudge(text, self.turns)
                self._add(UserText(f"{SUPERVISOR_PREFIX} {text}"))
        flush_text()
        self._add(UserText(note))

    # -- helpers --------------------------------------------------------------------------------
    def _clock_line(self) -> str:
        used, budget = (self._clock() - self._t0) / 60, (self.brief.budget_s or 0) / 60
        return f"{CLOCK_MARK} {used:.1f} of {budget:.0f} minutes used, {max(0.0, budget - used):.1f} left."

    def _finish(self, text: str) -> Done:
        self._finished = True
        return Done(self._safe(text))

    def _provider_failed(self, message: str, *, fatal: bool) -> Action:
        self._failures += 1
        message = self._safe(message)[:400]
        if fatal or self._failures > self.max_failures:
            tries = "" if fatal else f" after {self._failures} tries"
            return self._finish(f"{NOTE_PREFIX} The model API failed{tries}: {message}. The agent stops here.")
        return Say(
            f"{NOTE_PREFIX} The model API failed: {message}. Trying again ({self._failures}/{self.max_failures})."
        )

    def _safe(self, text: str) -> str:
        return self.provider.redact(text)

    def _bad_call_text(self, call: ToolCall) -> str:
        raw = call.args if isinstance(call.args, str) else json.dumps(call.args, default=str)
        return (
            f"Error: this {call.name} call was not run: {call.error}. Arguments received: {raw[:500]!r}. "
            f"Send the call again with the arguments as one JSON object matching the tool's schema."
        )

    def _add(self, msg: Any, raw: Any = None) -> None:
        self.history.append(msg)
        self.context.observe(msg, raw)

    def _put(self, result: ToolResult, raw: ToolResult | None = None) -> None:
        self._results.append(result)
        self._raw_results.append(raw or result)

    def _result_of(self, call: ToolCall, out: ToolOutcome | None) -> tuple[ToolResult, ToolResult]:
        """The result the model reads (compacted) and the uncompacted one (counted only)."""
        if out is None:
            r = ToolResult(call.id, call.name, "No result came back for this call.", True)
            return r, r
        prefix = "DENIED: " if out.denied else ("" if out.ok else "FAILED: ")
        self.context.record_result(
            call.name, call.args, out.ok, self._safe(out.summary or ""), out.data, denied=out.denied, turn=self.turns
        )
        text = render_result(out.summary or "", out.data, prefix=prefix, max_chars=self.max_result_chars)
        raw = prefix + (out.summary or "")
        if out.data:
            raw += "\ndata: " + json.dumps(out.data, ensure_ascii=False, default=str)
        return (
            ToolResult(call.id, call.name, self._safe(text), not out.ok),
            ToolResult(call.id, call.name, raw, not out.ok),
        )

    def _compact(self) -> None:
        """Fit the history to the context budget (agent_core/agents/context.py: ContextManager.fit)."""
        self.history = self.context.fit(self.system, self.tools, self.history)


def make_llm_agent(spec: str, brief: Brief, **kw: Any) -> LLMAgent:
    """`anthropic`, `anthropic:MODEL`, `openai`, `openai:MODEL` (MODEL may contain colons, e.g.
    `openai:llama3.1:8b`). Keyword arguments go to the provider (base_url, http_client, timeout,
    max_tokens, stream, max_retries, backoff, ...) or to LLMAgent (token_budget, max_failures, ...).
    OpenAI's base URL: the base_url argument, else $TINKER_TUI_OPENAI_BASE_URL.
    Raises ValueError (MissingKeyError) when the API key is not set."""
    kind, _, model = spec.partition(":")
    if kind not in DEFAULT_MODELS:
        raise ValueError(f"unknown LLM agent {spec!r}: use anthropic[:MODEL] or openai[:MODEL]")
    provider_kw = {k: v for k, v in kw.items() if k in PROVIDER_KW}
    agent_kw = {k: v for k, v in kw.items() if k not in PROVIDER_KW}
    if kind == "openai" and not provider_kw.get("base_url"):
        provider_kw["base_url"] = os.environ.get(OPENAI_BASE_URL_ENV) or None
    if provider_kw.get("base_url") is None:
        provider_kw.pop("base_url", None)
    provider = make_provider(kind, model or None, **provider_kw)
    return LLMAgent(brief, provider, **agent_kw)


def preflight(spec: str, base_url: str | None = None) -> None:
    """Cheap check for the CLI before a daemon is started (no SDK import, no network): a known
    kind and an API key in the environment. Raises ValueError with the line to show."""
    from agent_core.agents.providers import read_key

    kind, _, _model = spec.partition(":")
    if kind not in DEFAULT_MODELS:
        raise ValueError(f"unknown LLM agent {spec!r}: use anthropic[:MODEL] or openai[:MODEL]")
    if base_url and kind != "openai":
        raise ValueError("a base URL is only for --agent openai[:MODEL] (any OpenAI-compatible server)")
    local = kind == "openai" and bool(base_url or os.environ.get(OPENAI_BASE_URL_ENV))
    read_key(kind, required=not local)


__all__ = ["LLMAgent", "build_kickoff", "build_system_prompt", "make_llm_agent", "preflight"]
