"""The tool schemas: the contract between the agents and the toolbox.

Tool names and their argument names are public (the LLM agents see these schemas; the providers
turn them into each API's tool format). `check_args` validates a call against its schema before
the policy gate sees it.
"""

from __future__ import annotations

import json
from typing import Any

from agent_core.training.spec_docs import agent_schema

SCHEMAS: dict[str, dict] = {
    "list_datasets": {"description": "List the datasets you may use.", "properties": {}},
    "load_dataset": {
        "description": "Load a dataset by name and show its size, fields and first rows.",
        "properties": {"name": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["name"],
    },
    "read_file": {
        "description": "Read a text file in the workspace.",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
    "write_file": {
        "description": "Write a text file in the workspace.",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
    "list_files": {"description": "List files under a workspace folder.", "properties": {"path": {"type": "string"}}},
    "start_training": {
        "description": "Start a training job in the background: SFT on prompt/completion data, or "
        "GRPO (method grpo) with a reward function from a workspace Python file.",
        # the train spec fields the agent may set (agent_core.training.spec.TrainSpec)
        **agent_schema(),
    },
    "job_status": {
        "description": "Progress and latest metrics of a job.",
        "properties": {"job": {"type": "string"}},
        "required": ["job"],
    },
    "wait": {
        "description": "Park until a job finishes, an alert fires, or the timeout passes.",
        "properties": {"job": {"type": "string"}, "timeout_s": {"type": "number"}},
    },
    "stop_training": {
        "description": "Stop a job cleanly, saving a checkpoint.",
        "properties": {"job": {"type": "string"}},
        "required": ["job"],
    },
    "sample": {
        "description": "Generate completions from a checkpoint for some prompts.",
        "properties": {
            "checkpoint": {"type": "string"},
            "prompts": {"type": "array", "items": {"type": "string"}},
            "max_new_tokens": {"type": "integer"},
        },
        "required": ["checkpoint", "prompts"],
    },
    "evaluate": {
        "description": "Score of a checkpoint on the dev split, with the task's scorer.",
        "properties": {"checkpoint": {"type": "string"}, "split": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["checkpoint"],
    },
    "run_python": {
        "description": "Run Python code in the workspace (cwd) in a subprocess: no network, no "
        "package installs, no API keys in its environment; stdout+stderr come back "
        "compacted. Use it to generate or filter data, inspect files, write reward code.",
        "properties": {"code": {"type": "string"}, "timeout_s": {"type": "number"}},
        "required": ["code"],
    },
    "note": {
        "description": "Write a finding to the run's notes (kept across runs).",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
    "submit": {
        "description": "Submit a checkpoint as the run's result. Ends the run.",
        "properties": {"checkpoint": {"type": "string"}},
        "required": ["checkpoint"],
    },
}


# Honest MCP tool annotations (hints for an outside client, `tinker-tui mcp`): read_only = changes
# nothing; destructive = may overwrite or end something (only meaningful when not read-only);
# idempotent = the same call twice has no further effect; open_world = may reach outside this
# machine. Every call is gated by the daemon whatever its hints say.
_RO = {"read_only": True, "destructive": False, "idempotent": True, "open_world": False}
ANNOTATIONS: dict[str, dict[str, bool]] = {
    "list_datasets": _RO,
    # an unknown name is an outside download (after the person approves it): open world, writes data/
    "load_dataset": {"read_only": False, "destructive": False, "idempotent": True, "open_world": True},
    "read_file": _RO,
    "write_file": {"read_only": False, "destructive": True, "idempotent": True, "open_world": False},
    "list_files": _RO,
    "start_training": {"read_only": False, "destructive": False, "idempotent": False, "open_world": False},
    "job_status": _RO,
    "wait": _RO,
    "stop_training": {"read_only": False, "destructive": True, "idempotent": True, "open_world": False},
    "sample": _RO,
    "evaluate": _RO,
    # sandboxed: no network, only the workspace, which it may overwrite
    "run_python": {"read_only": False, "destructive": True, "idempotent": False, "open_world": False},
    "note": {"read_only": False, "destructive": False, "idempotent": False, "open_world": False},
    "submit": {"read_only": False, "destructive": True, "idempotent": False, "open_world": False},
}

# What an outside agent (`--agent external`, through `tinker-tui mcp`) has besides the toolbox:
# answered by the agent itself (agents/external.py), never by the Toolbox.
OUTSIDE_SCHEMAS: dict[str, dict] = {
    "brief": {
        "description": "Your task, the rules of this supervised run and how to work (read it first).",
        "properties": {},
    },
    "say": {
        "description": "Tell the person supervising you what you are doing and why (shown in the run's "
        "transcript). Say a sentence or two before each step.",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
}
ANNOTATIONS["brief"] = _RO
ANNOTATIONS["say"] = {"read_only": False, "destructive": False, "idempotent": False, "open_world": False}


class ToolArgError(ValueError):
    pass


def check_args(tool: str, args: Any) -> dict:
    """Validate a call against its schema; raise ToolArgError with a message for the model."""
    if tool not in SCHEMAS:
        raise ToolArgError(f"unknown tool {tool!r}; tools are: {', '.join(SCHEMAS)}")
    if not isinstance(args, dict):
        raise ToolArgError(f"{tool} takes an object of arguments, got {type(args).__name__}")
    schema = SCHEMAS[tool]
    props = schema.get("properties", {})
    missing = [k for k in schema.get("required", []) if k not in args]
    if missing:
        raise ToolArgError(f"{tool} is missing required argument(s): {', '.join(missing)}")
    unknown = [k for k in args if k not in props]
    if unknown:
        raise ToolArgError(f"{tool} has no argument(s) {', '.join(unknown)}; it takes {', '.join(props) or 'none'}")
    types = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list}
    for key, value in args.items():
        want = types.get(props[key].get("type", ""))
        bad_bool = isinstance(value, bool) and props[key].get("type") in ("integer", "number")
        if want and (not isinstance(value, want) or bad_bool):
            raise ToolArgError(f"{tool}.{key} must be a {props[key]['type']}, got {json.dumps(value)[:60]}")
    return args
