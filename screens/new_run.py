"""The new-run form on the home screen: task, model, agent, budget.

Dismissed with a validated run config or None; bad input is shown under the form and loses nothing
the person typed. The validator is the app's (it builds the config the daemon will read): screens
import only the record.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

__all__ = ["NewRunScreen"]

FIELDS = (
    ("task", "task", "arithmetic", "built-in task (arithmetic, arithmetic:3, word-problems) or a task file"),
    ("model", "model", "tiny", "'tiny', 'smollm2-135m', a local model folder or a hub id"),
    (
        "agent",
        "agent",
        "playbook",
        "playbook | script:PATH | anthropic[:MODEL] | openai[:MODEL] | claude-code | external",
    ),
    ("budget", "budget", "30m", "wall clock, e.g. 30m or 10h"),
)


class NewRunScreen(ModalScreen[dict | None]):
    DEFAULT_CSS = """
    NewRunScreen { align: center middle; background: $background 60%; }
    NewRunScreen > Vertical {
        width: 76; height: auto; padding: 1 2; border: thick $accent; background: $surface;
    }
    NewRunScreen Label { margin-top: 1; }
    NewRunScreen .hint { color: $text-muted; }
    NewRunScreen #error { color: $error; height: auto; margin-top: 1; }
    NewRunScreen Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new_run.cancel")]

    def __init__(self, build_config: Callable[..., dict], name: str | None = None) -> None:
        """`build_config(task=, model=, agent=, budget=)` returns the run config or raises
        ValueError with a message for the person."""
        super().__init__(name=name)
        self.build_config = build_config

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Start a new run[/b]")
            for key, label, default, hint in FIELDS:
                yield Label(f"{label}  [dim]{hint}[/dim]")
                yield Input(value=default, id=f"new-{key}")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Start", id="start", variant="primary")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#new-{key}", Input).value.strip() for key, *_ in FIELDS}

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def start(self) -> None:
        v = self.values()
        try:
            cfg = self.build_config(
                task=v["task"] or "arithmetic",
                model=v["model"] or "tiny",
                agent=v["agent"] or "playbook",
                budget=v["budget"],
            )
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(cfg)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
