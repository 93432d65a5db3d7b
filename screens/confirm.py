"""A yes/no question over the current screen (`ConfirmScreen`): stopping a run, deleting one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; background: $background 60%; }
    ConfirmScreen > Static {
        width: auto; max-width: 70; height: auto; padding: 1 2;
        border: thick $risk-high; background: $surface;
    }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question}\n\n[b]y[/b] / enter: yes    [b]n[/b] / esc: no")

    def action_answer(self, yes: bool) -> None:
        if self.app.screen is self:
            self.dismiss(yes)
