"""`--agent script:PATH`: replay an exact list of agent actions, for tests and bug reports.

The file is a JSON or YAML list; each step is {"say": TEXT} or {"tool": NAME, "args": {...}}.
Steps run in order through the same tools and policy gate as any agent.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_core.agents.base import Action, Agent, Brief, Call, Done, Say, ToolOutcome


class ScriptError(ValueError):
    pass


def load_script(path: str | Path) -> list[Action]:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read script {path}: {exc.strerror}") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            steps = yaml.safe_load(text)
        else:
            steps = json.loads(text)
    except Exception as exc:
        raise ScriptError(
            f"script {path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {exc}"
        ) from exc
    if not isinstance(steps, list):
        raise ScriptError(f"script {path} must be a list of steps")
    actions: list[Action] = []
    for i, step in enumerate(steps, 1):
        if isinstance(step, dict) and set(step) == {"say"} and isinstance(step["say"], str):
            actions.append(Say(step["say"]))
        elif isinstance(step, dict) and "tool" in step and set(step) <= {"tool", "args"}:
            args = step.get("args", {})
            if not isinstance(step["tool"], str) or not isinstance(args, dict):
                raise ScriptError(f"script {path} step {i}: tool must be a string and args an object")
            actions.append(Call(step["tool"], args))
        else:
            raise ScriptError(
                f'script {path} step {i}: expected {{"say": TEXT}} or '
                f'{{"tool": NAME, "args": {{...}}}}, got {json.dumps(step)[:80]}'
            )
    return actions


class ScriptAgent(Agent):
    def __init__(self, path: str, brief: Brief):
        super().__init__(brief)
        self.actions = load_script(path)
        self.pos = 0
        self.outcomes: list[ToolOutcome] = []

    def next_action(self, last: ToolOutcome | None) -> Action:
        if last is not None:
            self.outcomes.append(last)
        if self.pos >= len(self.actions):
            return Done()
        action = self.actions[self.pos]
        self.pos += 1
        return action
