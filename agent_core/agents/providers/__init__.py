"""Thin adapters over the official LLM SDKs, with one normalized shape for the LLM agent.

A provider turns (system prompt, provider-neutral history, tool schemas) into one model turn:
text + tool calls + token usage. `base.py` holds what they share (shapes, retries, errors, keys);
`anthropic_provider.py` and `openai_provider.py` speak each SDK; `make_provider` picks one.
"""

from __future__ import annotations

from agent_core.agents.providers.base import (  # noqa: F401  (the package's public names)
    AssistantTurn,
    DEFAULT_MODELS,
    KEY_ENV,
    Message,
    MissingKeyError,
    OPENAI_BASE_URL_ENV,
    Provider,
    ProviderError,
    ToolCall,
    ToolResult,
    ToolResults,
    Turn,
    Usage,
    UserText,
    read_key,
    redact,
    tool_specs,
)


# -- factory ---------------------------------------------------------------------------------
def make_provider(kind: str, model: str | None = None, **kw) -> Provider:
    if kind == "anthropic":
        from agent_core.agents.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(model or DEFAULT_MODELS["anthropic"], **kw)
    if kind == "openai":
        from agent_core.agents.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(model or DEFAULT_MODELS["openai"], **kw)
    raise ValueError(f"unknown provider {kind!r}: use anthropic or openai")


__all__ = [
    "AssistantTurn",
    "DEFAULT_MODELS",
    "KEY_ENV",
    "Message",
    "MissingKeyError",
    "OPENAI_BASE_URL_ENV",
    "Provider",
    "ProviderError",
    "ToolCall",
    "ToolResult",
    "ToolResults",
    "Turn",
    "Usage",
    "UserText",
    "make_provider",
    "read_key",
    "redact",
    "tool_specs",
]
