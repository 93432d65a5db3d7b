"""Policy files and approval presets: what each rule does (allow, ask or deny).

A policy file is TOML. The user default lives at <runs home>/policy.toml; a run may add its own
(`tinker-tui run --policy FILE`, copied into the run directory). The run's file wins over the
user default, and both win over the preset.

    approval = "flagged"              # optional preset: strict | flagged | auto

    [rules]                           # rule id -> "allow" | "ask" | "deny"
    outside_download = "deny"
    network = "ask"
    code_execution = "ask"            # run_python at all (allowed by default)

    [contamination]                   # thresholds of the contamination guard
    ngram = 8                         # word n-gram size for longer items
    min_overlap = 0.5                 # fraction of an item's n-grams that makes it a match

    [code]
    heuristics = false                # no text scan of run_python code (the early warnings:
                                      # network, hidden-folder, secret-reading patterns); the
                                      # sandbox (agent_core/oversight/fence.py) is the boundary either way

Presets (`--approval`):
    strict    every flagged rule asks, and the actions allowed by default (ALLOW_BY_DEFAULT:
              run_python) ask too
    flagged   the default: each rule's own action
    auto      ask becomes allow; deny stays deny
In every preset, and whatever a file says, LOCKED rules stay denied: reading or writing the
hidden split or the scoring code, escaping the workspace. secret_access may be set to "ask" but
never "allow".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIONS = ("allow", "ask", "deny")
PRESETS = ("strict", "flagged", "auto")
# Rule ids a policy file may name: the public ones, plus actions allowed by default that a
# stricter policy can gate.
GATED_RULES = (
    "reward_rewrite",
    "outside_download",
    "model_substitution",
    "contamination",
    "eval_access",
    "eval_tamper",
    "secret_access",
    "workspace_escape",
    "network",
    "budget_overrun",
)
ALLOW_BY_DEFAULT = ("code_execution",)
ALL_RULES = GATED_RULES + ALLOW_BY_DEFAULT
LOCKED = ("eval_access", "eval_tamper", "workspace_escape")
NEVER_ALLOW = LOCKED + ("secret_access",)
CONTAMINATION_KEYS = {"ngram": int, "min_overlap": float}
TOP_KEYS = ("approval", "rules", "contamination", "code")


class PolicyError(ValueError):
    """A policy file or preset is wrong; the message names the file, line or key."""


@dataclass
class Policy:
    preset: str = "flagged"
    rules: dict[str, str] = field(default_factory=dict)
    contamination: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    code_heuristics: bool = True  # scan run_python code for early warnings ([code] heuristics)

    def action(self, rule: str, default: str) -> str:
        """The action for `rule`, whose built-in action is `default`."""
        if rule in LOCKED:
            return "deny"
        if rule in self.rules:
            act = self.rules[rule]
        elif self.preset == "strict" and (default == "ask" or rule in ALLOW_BY_DEFAULT):
            act = "ask"
        elif self.preset == "auto" and default == "ask":
            act = "allow"
        else:
            act = default
        if rule in NEVER_ALLOW and act == "allow":
            act = "deny"
        return act

    def to_json(self) -> dict:
        return {
            "preset": self.preset,
            "rules": dict(self.rules),
            "contamination": dict(self.contamination),
            "sources": list(self.sources),
            "code_heuristics": self.code_heuristics,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "Policy":
        data = data or {}
        return cls(
            preset=data.get("preset") or "flagged",
            rules=dict(data.get("rules") or {}),
            contamination=dict(data.get("contamination") or {}),
            sources=list(data.get("sources") or []),
            code_heuristics=bool(data.get("code_heuristics", True)),
        )


def parse(text: str, where: str = "policy") -> dict:
    """Validate a policy file's text; return {"approval"?, "rules", "contamination"}."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: not valid TOML: {exc}") from exc
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}; a policy file has {', '.join(TOP_KEYS)}")
    out: dict[str, Any] = {"rules": {}, "contamination": {}}
    if "approval" in data:
        out["approval"] = check_preset(data["approval"], where)
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        raise PolicyError(f'{where}: [rules] must be a table of rule = "allow" | "ask" | "deny"')
    for rule, act in rules.items():
        if rule not in ALL_RULES:
            raise PolicyError(f"{where}: unknown rule id {rule!r} in [rules]; rule ids: {', '.join(ALL_RULES)}")
        if act not in ACTIONS:
            raise PolicyError(f"{where}: rules.{rule} = {act!r} is not an action; use allow, ask or deny")
        if rule in LOCKED and act != "deny":
            raise PolicyError(
                f"{where}: rules.{rule} cannot be {act!r}: the hidden split, the scoring "
                f"code and the workspace boundary are always denied"
            )
        if rule in NEVER_ALLOW and act == "allow":
            raise PolicyError(f"{where}: rules.{rule} cannot be 'allow'; use ask or deny")
        out["rules"][rule] = act
    cont = data.get("contamination", {})
    if not isinstance(cont, dict):
        raise PolicyError(f"{where}: [contamination] must be a table (ngram, min_overlap)")
    for key, value in cont.items():
        if key not in CONTAMINATION_KEYS:
            raise PolicyError(f"{where}: unknown key contamination.{key}; keys: {', '.join(CONTAMINATION_KEYS)}")
        want = CONTAMINATION_KEYS[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (want is int and not isinstance(value, int))
        ):
            raise PolicyError(f"{where}: contamination.{key} must be {'an integer' if want is int else 'a number'}")
        if key == "ngram" and not 1 <= value <= 50:
            raise PolicyError(f"{where}: contamination.ngram must be between 1 and 50")
        if key == "min_overlap" and not 0 < value <= 1:
            raise PolicyError(f"{where}: contamination.min_overlap must be in (0, 1]")
        out["contamination"][key] = want(value)
    code = data.get("code", {})
    if not isinstance(code, dict) or set(code) - {"heuristics"}:
        raise PolicyError(f"{where}: [code] takes one key, heuristics = true | false")
    if "heuristics" in code:
        if not isinstance(code["heuristics"], bool):
            raise PolicyError(f"{where}: code.heuristics must be true or false")
        out["code_heuristics"] = code["heuristics"]
    return out


def check_preset(value: Any, where: str = "--approval") -> str:
    if value not in PRESETS:
        raise PolicyError(f"{where}: approval preset {value!r} is not one of {', '.join(PRESETS)}")
    return value


def load_file(path: str | Path) -> dict:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    return parse(text, str(path))


def user_default_path(home: str | Path) -> Path:
    return Path(home) / "policy.toml"


def build(home: str | Path | None, run_file: str | Path | None = None, preset: str | None = None) -> Policy:
    """The effective policy of a new run: user default, then the run's file, then --approval."""
    policy = Policy()
    layers = []
    if home is not None and user_default_path(home).is_file():
        layers.append((str(user_default_path(home)), load_file(user_default_path(home))))
    if run_file is not None:
        layers.append((str(Path(run_file).expanduser().resolve()), load_file(run_file)))
    for src, layer in layers:
        policy.sources.append(src)
        if "approval" in layer:
            policy.preset = layer["approval"]
        policy.rules.update(layer["rules"])
        policy.contamination.update(layer["contamination"])
        if "code_heuristics" in layer:
            policy.code_heuristics = layer["code_heuristics"]
    if preset:
        policy.preset = check_preset(preset)
    return policy
