"""The UI's config file: key remapping.

    <runs home>/config.toml   (or the file named by $TINKER_TUI_CONFIG)

    [keys]
    "run.pause" = "P"              # binding id -> key
    "replay.toggle" = ["space", "k"]   # or several keys (a list, or "a,b")

`load_keymap(home, known_ids)` returns (keymap, problems): the keymap holds only the entries
that are valid; every problem (unreadable file, bad TOML, unknown binding id, a value that is
not a key) is a sentence for the person, and the defaults stay in force for what it names.
Binding ids are listed by `?` (the help screen) and in `tinker_tui.keymap.all_bindings(TinkerApp)`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Iterable

__all__ = ["config_path", "load_keymap", "parse_keys"]

ENV_VAR = "TINKER_TUI_CONFIG"
_KEY_RE = re.compile(r"^[A-Za-z0-9_+\-]+$|^[^\s,]$")


def config_path(home: Path) -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path(home) / "config.toml"


def parse_keys(value: object) -> list[str] | None:
    """A key ("p", "ctrl+p", "space"), a comma list ("a,b") or a list of keys; None if not."""
    if isinstance(value, str):
        keys = [k.strip() for k in value.split(",")] if len(value) > 1 else [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        keys = [k.strip() if len(k) > 1 else k for k in value]
    else:
        return None
    if not keys or any(not k or not _KEY_RE.match(k) for k in keys):
        return None
    return keys


def load_keymap(home: Path, known_ids: Iterable[str]) -> tuple[dict[str, str], list[str], Path]:
    path = config_path(home)
    problems: list[str] = []
    keymap: dict[str, str] = {}
    if not path.exists():
        if os.environ.get(ENV_VAR):
            problems.append(f"{path}: no such file (from ${ENV_VAR}); using the default keys")
        return keymap, problems, path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return keymap, [f"{path}: cannot read it ({exc}); using the default keys"], path
    except tomllib.TOMLDecodeError as exc:
        return keymap, [f"{path}: not valid TOML ({exc}); using the default keys"], path
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        return keymap, [f"{path}: [keys] must be a table of binding id = key; using the default keys"], path
    known = set(known_ids)
    for binding_id, value in keys.items():
        if binding_id not in known:
            problems.append(f"{path}: unknown binding id {binding_id!r} (press ? for the ids)")
            continue
        parsed = parse_keys(value)
        if parsed is None:
            problems.append(
                f"{path}: {binding_id} = {value!r} is not a key "
                '(write e.g. "p", "ctrl+p" or ["p", "f2"]); kept the default'
            )
            continue
        keymap[binding_id] = ",".join(parsed)
    return keymap, problems, path
