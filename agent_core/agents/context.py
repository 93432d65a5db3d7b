"""What the LLM agent's model reads of the conversation: a history held under a token budget.

A history that grows with every tool call makes each request dearer and, past the model's
window, impossible. Each tool outcome is compacted before it joins the history
(agents/compaction.py), and its key findings go into a running log (agents/findings.py). Pure
Python, no tokenizer:

- `ContextManager`: the agent's running log of key findings (the person's messages, notes,
  experiments with their settings, outcome and scores, watchdog alerts, decisions) and `fit()`,
  which keeps every request under `budget_tokens` (default 8,000; 4 characters a token, counted
  on the JSON the APIs receive, so it over-counts a little). Over budget, the oldest whole turns
  (an assistant message with its tool calls, their results and the user lines after them) give
  way to one summary message: the findings, which are never dropped, then one line per older
  turn. The first user message (the brief) stays; the last K turns stay verbatim. Whole turns
  go, so every tool result still follows the call it answers (Anthropic's tool_use/tool_result
  rule, OpenAI's assistant tool_calls/tool rule). It compacts down to `refill` of the budget, so
  the prefix (and the provider's prompt cache) then stays the same for several turns.
- `message_chars`, `fixed_chars`, `estimate_tokens`: the sizes the budget counts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from typing import Any

from agent_core.agents.compaction import compact_text, cut_line, dumps, hard_cap
from agent_core.agents.findings import Findings, args_short
from agent_core.agents.markers import ALERT_MARK, AUTO_MARK, DIGEST_MARK, SUPERVISOR_PREFIX
from agent_core.agents.providers import AssistantTurn, Message, ToolResult, ToolResults, UserText

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET_TOKENS = 8000


def estimate_tokens(text_or_chars: str | int) -> int:
    """Tokens by the 4-characters rule (no tokenizer is installed; this over-counts prose a
    little and under-counts dense numbers a little)."""
    n = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return -(-n // CHARS_PER_TOKEN)


# -- sizes ---------------------------------------------------------------------------------------
def message_chars(m: Message) -> int:
    """Characters a message takes in a request (its JSON, with room for the wire's keys)."""
    if isinstance(m, UserText):
        return len(json.dumps(m.text)) + 40
    if isinstance(m, AssistantTurn):
        n = len(json.dumps(m.text)) + 40
        for c in m.tool_calls:
            args = c.args if c.runnable else "{}"
            n += len(json.dumps(args, default=str)) + len(c.name) + len(c.id) + 90
        return n
    if isinstance(m, ToolResults):
        return sum(len(json.dumps(r.content or "(empty)")) + len(r.call_id) + 90 for r in m.results) + 20
    return len(json.dumps(str(m)))


def fixed_chars(system: str, tools: list[dict]) -> int:
    """The system prompt and the tool specs, as sent with every request."""
    return len(json.dumps(system)) + sum(len(json.dumps(t)) + 60 for t in tools) + 200


# -- the conversation --------------------------------------------------------------------------
def _first_sentence(text: str, cap: int = 110) -> str:
    text = " ".join((text or "").split())
    m = re.search(r"(?<=[.!?])\s", text)
    if m and m.start() < cap:
        text = text[: m.start()]
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _groups(msgs: list[Message]) -> list[list[Message]]:
    """Split at each assistant message: a group is one model turn with its results and the user
    lines after them (a group before the first assistant message holds user lines only)."""
    groups: list[list[Message]] = []
    for m in msgs:
        if isinstance(m, AssistantTurn) or not groups:
            groups.append([m])
        else:
            groups[-1].append(m)
    return groups


class ContextManager:
    """The running log of key findings, and the budget every request is held to (see the module
    docstring). The LLM agent records into it as tool results and messages arrive, and calls
    fit() before each request."""

    def __init__(
        self,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        *,
        keep_turns: int = 6,
        full_turns: int = 2,
        older_chars: int = 700,
        digest_share: float = 0.30,
        refill: float = 0.65,
        note_chars: int = 400,
        nudge_chars: int = 800,
    ):
        self.budget_tokens = int(budget_tokens)
        self.keep_turns = max(1, int(keep_turns))
        self.full_turns = max(1, int(full_turns))
        self.older_chars = older_chars
        self.digest_share = digest_share
        self.refill = refill
        self.findings = Findings(note_chars=note_chars, nudge_chars=nudge_chars)
        self.turn_lines: list[tuple[int, str, list[str]]] = []  # (turn, line, tool names), compacted turns
        self.compacted_turns = 0
        self.compactions = 0
        self.raw_chars = 0  # the whole history as it would be with nothing compacted
        self.added_chars = 0  # the whole history with tool output compacted but no turn dropped
        self.last_tokens = 0
        self.max_tokens = 0
        self.over_budget = 0  # requests that could not be brought under the budget
        self._digest: UserText | None = None

    # -- findings (agents/findings.py) -----------------------------------------------------------
    def record_nudge(self, text: str, turn: int = 0) -> None:
        self.findings.record_nudge(text, turn)

    def add_finding(self, kind: str, text: str, turn: int = 0) -> None:
        """Any other finding to keep for the whole run (kind: note, decision, or a free label)."""
        self.findings.add(kind, text, turn)

    def record_result(
        self,
        tool: str,
        args: Any,
        ok: bool,
        summary: str,
        data: dict | None = None,
        *,
        denied: bool = False,
        turn: int = 0,
    ) -> None:
        """Pull the key findings out of one tool outcome (before it is compacted)."""
        self.findings.record_result(tool, args, ok, summary, data, denied=denied, turn=turn)

    # -- sizes ---------------------------------------------------------------------------------
    def observe(self, msg: Message, raw: Message | None = None) -> None:
        """Count a message added to the history; `raw` is what it was before its tool output
        was compacted (the uncompacted baseline)."""
        size = message_chars(msg)
        self.added_chars += size
        self.raw_chars += size if raw is None else message_chars(raw)

    def estimate(self, system: str, tools: list[dict], history: list[Message]) -> int:
        return estimate_tokens(fixed_chars(system, tools) + sum(message_chars(m) for m in history))

    def raw_tokens(self, system: str, tools: list[dict], *, outputs_compacted: bool = False) -> int:
        """The uncompacted baseline: the request if every message ever added were still there
        (with its raw tool output, or with outputs_compacted, as the model read it)."""
        return estimate_tokens(fixed_chars(system, tools) + (self.added_chars if outputs_compacted else self.raw_chars))

    # -- the budget ----------------------------------------------------------------------------
    def fit(self, system: str, tools: list[dict], history: list[Message]) -> list[Message]:
        """The history to send: unchanged while under the budget, else compacted (see the
        module docstring). Returns a new list; the messages in it are not changed in place."""
        budget = self.budget_tokens * CHARS_PER_TOKEN
        fixed = fixed_chars(system, tools)
        total = fixed + sum(message_chars(m) for m in history)
        if total <= budget or len(history) < 2:
            return self._done(history, total)
        pin = 2 if len(history) > 1 and history[1] is self._digest else 1  # the brief (and the summary)
        head = history[:1]
        groups = _groups(history[pin:])
        head_chars = sum(message_chars(m) for m in head)
        digest_cap = int(budget * self.digest_share)
        digest_est = max(digest_cap, len(self._render_digest(digest_cap, 0)) + 400)
        target = budget * self.refill - fixed - head_chars - digest_est
        # The latest `full_turns` turns stay as they are; older kept turns have long parts shortened.
        keep = [groups[-1]]
        used = sum(message_chars(m) for m in groups[-1])
        for g in reversed(groups[:-1]):
            if len(keep) >= self.keep_turns:
                break
            if len(keep) >= self.full_turns:
                g = [_shrink(m, self.older_chars) for m in g]
            size = sum(message_chars(m) for m in g)
            if used + size > target:
                break
            keep.insert(0, g)
            used += size
        dropped = groups[: len(groups) - len(keep)]

        def assemble(level: int = 0, cap: int = digest_cap) -> tuple[list[Message], int]:
            if self.compacted_turns or self._digest is not None or self.findings.has_any():
                self._digest = UserText(self._render_digest(cap, level))
            msgs = head + ([self._digest] if self._digest is not None else []) + [m for g in keep for m in g]
            return msgs, fixed + sum(message_chars(m) for m in msgs)

        if dropped:
            self.compactions += 1
            self._summarize(dropped)
        new, total = assemble()
        # Still over: fewer verbatim turns, then a shorter summary, then shorter kept messages.
        while total > budget and len(keep) > 1:
            self._summarize([keep.pop(0)])
            new, total = assemble()
        level = 0
        while total > budget and level < 3:
            level += 1
            new, total = assemble(level, digest_cap // (2 ** (level - 1)))
        n_head = len(new) - sum(len(g) for g in keep)
        for limit in (1500, 700, 300, 120):
            if total <= budget:
                break
            new = [_shrink(new[0], limit)] + new[1:n_head] + [_shrink(m, limit) for m in new[n_head:]]
            total = fixed + sum(message_chars(m) for m in new)
        return self._done(new, total)

    def _done(self, history: list[Message], total: int) -> list[Message]:
        self.last_tokens = estimate_tokens(total)
        self.max_tokens = max(self.max_tokens, self.last_tokens)
        if self.last_tokens > self.budget_tokens:
            self.over_budget += 1
        return list(history)

    def _summarize(self, groups: list[list[Message]]) -> None:
        for g in groups:
            if not isinstance(g[0], AssistantTurn):
                continue  # user lines only: nudges are findings, the rest is clock and prompts
            self.compacted_turns += 1
            self.turn_lines.append(_turn_line(self.compacted_turns, g))

    # -- the summary message ---------------------------------------------------------------------
    def _render_digest(self, cap: int, level: int) -> str:
        what = f"turns 1-{self.compacted_turns}" if self.compacted_turns else "earlier messages"
        intro = (
            f"{DIGEST_MARK} To keep this conversation within its context budget, {what} were replaced "
            f"by this summary. The key findings below are kept for the whole run; the latest turns follow "
            f"verbatim."
        )
        findings = self.findings.text(level)
        if level >= 3:
            findings = hard_cap(findings, max(200, cap - len(intro) - 300))
        room = cap - len(intro) - len(findings) - 60
        turns = self._turns_text(max(room, 200 if level < 3 else 120))
        parts = [intro]
        if findings:
            parts.append("Key findings:\n" + findings)
        if turns:
            parts.append(turns)
        return "\n\n".join(parts)

    def _turns_text(self, room: int) -> str:
        """One line per compacted turn, newest last; those that do not fit are counted by tool."""
        if not self.turn_lines:
            return ""
        title = "Earlier turns, one line each:"
        shown: list[str] = []
        used = len(title) + 120
        i = len(self.turn_lines)
        while i > 0 and len(shown) < 40:
            line = self.turn_lines[i - 1][1]
            if used + len(line) + 1 > room:
                break
            shown.append(line)
            used += len(line) + 1
            i -= 1
        shown.reverse()
        lines = [title]
        if i > 0:
            counts = Counter(name for _, _, names in self.turn_lines[:i] for name in names)
            calls = ", ".join(f"{name} x{c}" for name, c in counts.most_common(8)) or "no tool calls"
            lines.append(f"- t1-t{self.turn_lines[i - 1][0]}: {i} turns; calls: {calls}")
        if shown:
            body = compact_text("\n".join(shown), max(200, room - len(lines[-1]) - 40), header=False, similar_keep=3)
            lines.append(body)
        return "\n".join(lines)

    def stats(self, system: str = "", tools: list[dict] | None = None) -> dict:
        return {
            "budget_tokens": self.budget_tokens,
            "last_tokens": self.last_tokens,
            "max_tokens": self.max_tokens,
            "raw_tokens": self.raw_tokens(system, tools or []),
            "compactions": self.compactions,
            "compacted_turns": self.compacted_turns,
            "over_budget": self.over_budget,
            "findings": self.findings.counts(),
        }


def _turn_line(n: int, group: list[Message]) -> tuple[int, str, list[str]]:
    a = group[0]
    assert isinstance(a, AssistantTurn)
    results = {r.call_id: r for m in group if isinstance(m, ToolResults) for r in m.results}
    bits: list[str] = []
    if a.text.strip():
        bits.append(_first_sentence(a.text))
    for c in a.tool_calls:
        r = results.get(c.id)
        out = "no result"
        if r is not None:
            first = " ".join(r.content.split("\n", 1)[0].split())
            first = first.split(ALERT_MARK.strip())[0].strip(" |")
            out = cut_line(first, 90) if len(first) <= 90 else first[:87] + "..."
        bits.append(f"{c.name}({args_short(c.args, 60)}) -> {out}")
    for m in group[1:]:
        if isinstance(m, UserText):
            if m.text.startswith(SUPERVISOR_PREFIX):
                bits.append("(the supervisor sent a message: see above)")
            elif m.text.startswith(AUTO_MARK):
                bits.append("(no tool called)")
    line = f"- t{n}: " + " | ".join(bits or ["(empty turn)"])
    return n, (line if len(line) <= 240 else line[:237] + "..."), [c.name for c in a.tool_calls]


def _shrink(m: Message, limit: int) -> Message:
    """A copy of a message with its long parts compacted to about `limit` characters each."""
    if isinstance(m, UserText):
        return m if len(m.text) <= limit else UserText(compact_text(m.text, limit))
    if isinstance(m, AssistantTurn):
        text = m.text if len(m.text) <= limit else compact_text(m.text, limit)
        calls = [replace(c, args=_shrink_args(c.args, max(60, limit // 4))) if c.runnable else c for c in m.tool_calls]
        return AssistantTurn(text, calls)
    if isinstance(m, ToolResults):
        return ToolResults(
            [
                r
                if len(r.content) <= limit
                else ToolResult(r.call_id, r.name, compact_text(r.content, limit), r.is_error)
                for r in m.results
            ]
        )
    return m


def _shrink_args(args: Any, cap: int) -> Any:
    if isinstance(args, dict):
        return {k: _shrink_args(v, cap) for k, v in args.items()}
    if isinstance(args, str) and len(args) > cap:
        return args[: cap - 30] + f" [... {len(args) - cap + 30} chars cut]"
    if isinstance(args, list) and len(dumps(args)) > cap:
        return [_shrink_args(x, cap) for x in args[:5]]
    return args


__all__ = [
    "CHARS_PER_TOKEN",
    "ContextManager",
    "DEFAULT_BUDGET_TOKENS",
    "estimate_tokens",
    "fixed_chars",
    "message_chars",
]
