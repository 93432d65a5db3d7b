"""Anthropic Messages API with tool use, streaming and prompt caching, over the official SDK.

Caching: cache_control breakpoints on the last tool, the system prompt and the last block of
the conversation, so each turn re-reads the whole prefix from cache (3 of the 4 allowed).
Streaming: `messages.stream(...)` and its final accumulated message.
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

CACHE = {"type": "ephemeral"}


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        timeout: float = 120.0,
        max_tokens: int = 8192,
        stream: bool = True,
        cache: bool = True,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ):
        super().__init__(model, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff, sleep=sleep)
        key = read_key("anthropic", api_key)
        self._secrets = [key]
        try:
            import anthropic  # imported here: the SDK costs a second or two to import
        except ImportError as exc:
            raise ValueError(
                f"the anthropic agent needs the `anthropic` package: pip install anthropic ({exc})"
            ) from None
        kw: dict[str, Any] = {"api_key": key, "timeout": timeout, "max_retries": 0}
        if base_url:
            kw["base_url"] = base_url
        if http_client is not None:
            kw["http_client"] = http_client
        self.client = anthropic.Anthropic(**kw)
        self.max_tokens = int(max_tokens)
        self.stream = stream
        self.cache = cache
        self.base_url = base_url

    # -- wire format ------------------------------------------------------------------------
    def build_request(self, system: str, messages: list[Message], tools: list[dict]) -> dict:
        tool_list = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in tools
        ]
        if self.cache and tool_list:
            tool_list[-1] = {**tool_list[-1], "cache_control": CACHE}
        sys_block: dict[str, Any] = {"type": "text", "text": system}
        if self.cache:
            sys_block["cache_control"] = CACHE
        wire = to_wire(messages)
        if self.cache and wire:
            last = wire[-1]["content"][-1]
            wire[-1]["content"][-1] = {**last, "cache_control": CACHE}
        req: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [sys_block],
            "messages": wire,
        }
        if tool_list:
            req["tools"] = tool_list
        return req

    def complete(self, system: str, messages: list[Message], tools: list[dict]) -> Turn:
        req = self.build_request(system, messages, tools)

        def attempt() -> Turn:
            if self.stream:
                with self.client.messages.stream(**req) as s:
                    for _event in s:  # events (pings included) arrive all along, so a cancel is seen
                        self.check_cancelled()
                    msg = s.get_final_message()
            else:
                msg = self.client.messages.create(**req)
            return parse_message(msg)

        return self._retrying(attempt)


def to_wire(messages: list[Message]) -> list[dict]:
    """Neutral history -> Messages API messages (consecutive same-role messages merged;
    tool_result blocks first in their user message, as the API requires)."""
    out: list[dict] = []

    def put(role: str, blocks: list[dict]) -> None:
        if out and out[-1]["role"] == role:
            if role == "user" and any(b["type"] == "tool_result" for b in blocks):
                out[-1]["content"] = (
                    [b for b in blocks if b["type"] == "tool_result"]
                    + out[-1]["content"]
                    + [b for b in blocks if b["type"] != "tool_result"]
                )
            else:
                out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": list(blocks)})

    for m in messages:
        if isinstance(m, UserText):
            put("user", [{"type": "text", "text": m.text}])
        elif isinstance(m, AssistantTurn):
            blocks: list[dict] = []
            if m.text.strip():
                blocks.append({"type": "text", "text": m.text})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args if c.runnable else {}})
            put("assistant", blocks or [{"type": "text", "text": "(no reply)"}])
        elif isinstance(m, ToolResults):
            put(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": r.call_id,
                        "content": r.content or "(empty)",
                        "is_error": bool(r.is_error),
                    }
                    for r in m.results
                ],
            )
    return out


def parse_message(msg: Any) -> Turn:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in msg.content or []:
        btype = getattr(block, "type", None)
        if btype == "text":
            texts.append(block.text)
        elif btype == "tool_use":
            args = block.input
            if isinstance(args, dict):
                calls.append(ToolCall(block.id, block.name, args))
            else:
                calls.append(
                    ToolCall(
                        block.id,
                        block.name,
                        json.dumps(args, default=str),
                        error="the arguments were not a JSON object",
                    )
                )
    truncated = msg.stop_reason == "max_tokens"
    if truncated and calls and (msg.content or [])[-1].type == "tool_use":
        # The last call was cut off mid-arguments (the stream parser accepts partial JSON): never run it.
        last = calls[-1]
        calls[-1] = ToolCall(
            last.id,
            last.name,
            json.dumps(last.args, default=str),
            error="your reply hit the output token limit and this call was cut off",
        )
    u = msg.usage
    usage = Usage(
        input_tokens=getattr(u, "input_tokens", 0) or 0,
        output_tokens=getattr(u, "output_tokens", 0) or 0,
        cache_read_tokens=getattr(u, "cache_read_input_tokens", 0) or 0,
        cache_write_tokens=getattr(u, "cache_creation_input_tokens", 0) or 0,
        requests=1,
    )
    return Turn("".join(texts).strip(), calls, usage, stop_reason=msg.stop_reason, truncated=truncated)
