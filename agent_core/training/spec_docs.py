"""What the job spec dataclasses (agent_core.training.spec) say to the outside: the JSON schema of
the start_training tool's arguments, and the field tables of docs/JOBS.md.

    python -m agent_core.training.spec_docs                prints the tables
    python -m agent_core.training.spec_docs docs/JOBS.md   rewrites them between the file's
                                                           `<!-- spec:<mode> -->` markers

Standard library only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from agent_core.training.spec import GROUPS, SPECS, TYPE_NAMES, TrainSpec, WorkerSpec, field_types

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


def _ordered(cls: type[WorkerSpec]) -> list:
    """The fields by group (GROUPS order), then in the order the class declares them."""
    return sorted(fields(cls), key=lambda f: GROUPS.index(f.metadata["group"]))


def agent_schema() -> dict:
    """{"properties", "required"} of the train spec fields the agent may set, under the tool's names
    (required ones first, then by group)."""
    kinds = field_types(TrainSpec)
    props: dict[str, dict] = {}
    required: list[str] = []
    required_first = sorted(
        _ordered(TrainSpec), key=lambda f: f.default is not MISSING or f.default_factory is not MISSING
    )
    for f in required_first:
        agent = f.metadata["agent"]
        if not agent:
            continue
        name = f.name if agent is True else agent
        prop = {"type": JSON_TYPES[kinds[f.name][0]]}
        if f.metadata["agent_doc"]:
            prop["description"] = f.metadata["agent_doc"]
        props[name] = prop
        if f.default is MISSING and f.default_factory is MISSING:
            required.append(name)
    return {"properties": props, "required": required}


def _type(cls: type[WorkerSpec], name: str) -> str:
    kind, item, _ = field_types(cls)[name]
    return TYPE_NAMES[kind] + (f"[{TYPE_NAMES[item]}]" if item is not None else "")


def _default(f) -> str:
    if f.metadata["default_doc"]:
        return f.metadata["default_doc"]
    if f.default_factory is not MISSING:
        return f"`{json.dumps(f.default_factory())}`"
    if f.default is MISSING:
        return "required"
    return f"`{json.dumps(f.default)}`"


def _bounds(f) -> str:
    m = f.metadata
    parts = []
    if m["min"] is not None:
        parts.append(f">= {m['min']:g}")
    if m["above"] is not None:
        parts.append(f"> {m['above']:g}")
    if m["max"] is not None:
        parts.append(f"<= {m['max']:g}")
    if m["choices"] is not None:
        parts.append(" or ".join(f'"{c}"' for c in m["choices"]))
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(cls: type[WorkerSpec]) -> str:
    """The fields of `cls` as a markdown table: group, field, type, default, allowed values, agent
    argument (train only), meaning."""
    agent = cls is TrainSpec
    head = ["group", "field", "type", "default", "allowed"] + (["agent"] if agent else []) + ["meaning"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    group = None
    for f in _ordered(cls):
        m = f.metadata
        shown = m["group"] if m["group"] != group else ""
        group = m["group"]
        row = [shown, f"`{f.name}`", _type(cls, f.name), _default(f), _bounds(f)]
        if agent:
            row.append("" if not m["agent"] else f"`{f.name if m['agent'] is True else m['agent']}`")
        row.append(m["doc"])
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def jobs_md_blocks() -> dict[str, str]:
    """mode -> the table between `<!-- spec:<mode> -->` and `<!-- /spec:<mode> -->` in docs/JOBS.md."""
    return {mode: markdown_table(cls) for mode, cls in SPECS.items()}


def render_jobs_md(text: str) -> str:
    """`text` (docs/JOBS.md) with the table of each `<!-- spec:<mode> -->` block regenerated."""
    for mode, table in jobs_md_blocks().items():
        begin, end = f"<!-- spec:{mode} -->\n", f"\n<!-- /spec:{mode} -->"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            text = head + begin + table + end + rest.split(end, 1)[1]
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1:  # rewrite the blocks of the given file (docs/JOBS.md)
        path = Path(sys.argv[1])
        path.write_text(render_jobs_md(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for mode, table in jobs_md_blocks().items():
            print(f"<!-- spec:{mode} -->\n{table}\n<!-- /spec:{mode} -->\n")
