"""Agents: something that, given the last tool result, chooses the next action.

`make_agent(spec, brief)` builds one from the `--agent` string:
playbook (offline, deterministic), script:PATH (replays a list of steps),
anthropic[:MODEL] and openai[:MODEL] (LLM agents over the official SDKs), claude-code[:MODEL]
(the Claude Code CLI, driven through the Claude Agent SDK: agents/claude_code.py), external (any MCP
client, through `tinker-tui mcp RUN`: agents/external.py).
"""

from __future__ import annotations

from agent_core.agents.base import Action, Agent, Brief, Call, Done, Say, ToolOutcome

# The `--agent` kinds, and the sentence naming them (the CLI, the form and make_agent refuse with it)
AGENT_KINDS = ("playbook", "script", "anthropic", "openai", "claude-code", "external")
AGENT_USAGE = "playbook, script:PATH, anthropic[:MODEL], openai[:MODEL], claude-code[:MODEL] or external"


def agent_options(cfg: dict, run, log) -> dict:
    """What the daemon hands `make_agent` besides the brief: an endpoint for the LLM agents; the
    run directory and the event log for the agents driven from outside (a throwaway home inside
    the run, a session id to resume)."""
    kind = (cfg.get("agent") or "playbook").partition(":")[0]
    out: dict = {"base_url": cfg["base_url"]} if cfg.get("base_url") else {}
    if kind not in ("playbook", "script", "anthropic", "openai"):
        out.update(run=run, log=log)
    return out


def make_agent(spec: str, brief: Brief, **kw) -> Agent:
    kind, _, arg = spec.partition(":")
    if kind == "playbook":
        from agent_core.agents.playbook import PlaybookAgent

        return PlaybookAgent(brief)
    if kind == "script":
        from agent_core.agents.script import ScriptAgent

        if not arg:
            raise ValueError("--agent script:PATH needs a path to a JSON or YAML list of steps")
        return ScriptAgent(arg, brief)
    if kind in ("anthropic", "openai"):
        from agent_core.agents.llm import make_llm_agent

        return make_llm_agent(spec, brief, **kw)
    if kind == "claude-code":
        from agent_core.agents.claude_code import make_claude_code_agent

        return make_claude_code_agent(spec, brief, **kw)
    if kind == "external":  # any MCP client, through `tinker-tui mcp RUN`
        from agent_core.agents.external import ExternalAgent

        return ExternalAgent(brief, run=kw.get("run"), log=kw.get("log"))
    raise ValueError(f"unknown agent {spec!r}: use {AGENT_USAGE}")


__all__ = [
    "AGENT_KINDS",
    "AGENT_USAGE",
    "Action",
    "Agent",
    "Brief",
    "Call",
    "Done",
    "Say",
    "ToolOutcome",
    "agent_options",
    "make_agent",
]
