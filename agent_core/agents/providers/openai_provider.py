"""OpenAI Chat Completions with function calling, over the official SDK.

Works with any OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...) through `base_url`.
Against such a server the key may be missing: a placeholder is sent, since most local servers
ignore it. Against api.openai.com a missing OPENAI_API_KEY is an error at start.
Not streamed: the turn comes back whole (OpenAI caches long prompt prefixes on its own).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from agent_core.agents.providers.base import (
    AssistantTurn,
    Message,
    Provider,
    ToolCall,
    ToolResults,
    Turn,
    Usage,
    UserText,
    read_key,
)

LOCAL_PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        timeout: float = 300.0,
        max_tokens: int | None = None,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ):
        super().__init__(model, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff, sleep=sleep)
        key = read_key("openai", api_key, required=not base_url)
        self._secrets = [key] if key else []
        try:
            import openai  # imported here: the SDK costs a second or two to import
        except ImportError as exc:
            raise ValueError(f"the openai agent needs the `openai` package: pip install openai ({exc})") from None
        kw: dict[str, Any] = {"api_key": key or LOCAL_PLACEHOLDER_KEY, "timeout": timeout, "max_retries": 0}
        if base_url:
            kw["base_url"] = base_url
        if http_client is not None:
            kw["http_client"] = http_client
        self.client = openai.OpenAI(**kw)
        self.max_tokens = max_tokens
        self.base_url = base_url

    def build_request(self, system: str, messages: list[Message], tools: list[dict]) -> dict:
        req: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}] + to_wire(messages),
        }
        if tools:
            req["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t["name"], "description": t["description"], "parameters": t["parameters"]},
                }
                for t in tools
            ]
        if self.max_tokens:
            # max_tokens is what OpenAI-compatible servers know; api.openai.com wants the new name
            req["max_tokens" if self.base_url else "max_completion_tokens"] = int(self.max_tokens)
        return req

    def complete(self, system: str, messages: list[Message], tools: list[dict]) -> Turn:
        req = self.build_request(system, messages, tools)
        return self._retrying(lambda: parse_completion(self.client.chat.completions.create(**req)))


def to_wire(messages: list[Message]) -> list[dict]:
    out: list[dict] = []
    for m in messages:
        if isinstance(m, UserText):
            out.append({"role": "user", "content": m.text})
        elif isinstance(m, AssistantTurn):
            msg: dict[str, Any] = {"role": "assistant", "content": m.text or ""}
            if m.tool_calls:
                # A call whose arguments were not JSON goes back as "{}": some servers re-parse the history.
                msg["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.args) if c.runnable else "{}"},
                    }
                    for c in m.tool_calls
                ]
            out.append(msg)
        elif isinstance(m, ToolResults):
            for r in m.results:
                out.append({"role": "tool", "tool_call_id": r.call_id, "content": r.content or "(empty)"})
    return out


def parse_args(raw: Any) -> tuple[dict | str, str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None  # some servers send "" for a call without arguments
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return str(raw), f"the arguments were not valid JSON ({exc})"
    if not isinstance(value, dict):
        return str(raw), "the arguments must be a JSON object"
    return value, None


def parse_completion(resp: Any) -> Turn:
    usage = Usage(requests=1)
    u = getattr(resp, "usage", None)
    if u is not None:
        details = getattr(u, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
        usage.cache_read_tokens = cached
        usage.input_tokens = max(0, (u.prompt_tokens or 0) - cached)
        usage.output_tokens = u.completion_tokens or 0
    if not resp.choices:
        return Turn("", [], usage, stop_reason=None)
    choice = resp.choices[0]
    msg = choice.message
    text = (msg.content or "").strip()
    if not text and getattr(msg, "refusal", None):
        text = str(msg.refusal)
    calls: list[ToolCall] = []
    for i, tc in enumerate(msg.tool_calls or []):
        fn = getattr(tc, "function", None)
        if fn is None:  # not a function call (e.g. a custom tool): nothing we can run
            continue
        args, error = parse_args(fn.arguments)
        calls.append(ToolCall(tc.id or f"call_{i}", fn.name or "", args, error))
    truncated = choice.finish_reason == "length"
    if truncated and calls and calls[-1].runnable:
        last = calls[-1]
        calls[-1] = ToolCall(
            last.id,
            last.name,
            json.dumps(last.args),
            error="your reply hit the output token limit and this call was cut off",
        )
    return Turn(text, calls, usage, stop_reason=choice.finish_reason, truncated=truncated)
