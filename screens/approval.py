"""The approval prompt: one pending `approval_request`, decided by the person.

    a  approve once          A  approve for the rest of the session (this rule and pattern)
    v  veto                  i  veto with an instruction (type it, enter sends it as the reason)
    e  edit then approve: an editor opens with the call's text argument (write_file content,
       run_python code) or, for other tools, its arguments as JSON; ctrl+s sends the edited call
       (the daemon re-checks it: a malformed or denied edit is refused and the prompt stays)
    escape  decide later (the request stays pending; `a` on the run screen brings it back);
            in the editor or the instruction box, escape closes the box instead
    n  scroll the call to its next flagged span

The prompt shows the WHOLE call: short fields on top, long ones (run_python's code, a diff, a
file's content, big JSON) as numbered blocks in a scrollable, read-only view (CallView: only
the visible lines are rendered) that has the focus, so up/down/pgup/pgdn/home/end scroll it
while the decision keys still reach the prompt. Nothing is cut silently: a field over
MAX_SHOWN (1 MiB) characters says how many are not shown. The spans the policy flagged in the
code (details["spans"]: [[start, end, label], ...]) are highlighted, a line above the view
counts them and says where they are, and the view opens on the first one. Characters a terminal
would not show faithfully (controls, bidi overrides, zero-width) are shown escaped.

Keys are ignored for `grace` seconds (0.5) after the prompt appears, so keys typed mid-stream
cannot approve by accident. The decision is sent by a thread worker (the control socket
blocks); a `ControlError` is shown as a notification and the prompt stays open. On success
the screen is dismissed with {"id", "decision", "scope", "reason"}; "later" dismisses None.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from screens.approval_doc import build_doc, flag_note, render_details, render_value, visible  # noqa: F401
from screens.widgets.call_view import CallView
from screens.widgets.palette import Palette
from tinker_tui.client import ControlError

__all__ = ["ApprovalScreen", "build_doc", "render_details"]

TEXT_FIELDS = ("content", "code", "text")  # edited as plain text (as agent_core.oversight.approvals does)


class ApprovalScreen(ModalScreen[dict | None]):
    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; background: $background 60%; }
    ApprovalScreen #approval-box {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $risk-medium; background: $surface; padding: 0 1;
    }
    ApprovalScreen #approval-title { text-style: bold; color: $risk-medium; }
    ApprovalScreen #approval-summary { text-style: bold; margin: 1 0 0 0; }
    ApprovalScreen #approval-details {
        padding: 0 1;
        height: auto; max-height: 16; border: round $primary 40%; margin: 1 0 0 0;
    }
    ApprovalScreen #approval-details:focus { border: round $primary; }
    ApprovalScreen #approval-box.-long { height: 90%; }
    ApprovalScreen #approval-call {
        height: 1fr; min-height: 3; border: round $primary 40%; margin: 1 0 0 0; padding: 0 1;
    }
    ApprovalScreen #approval-call:focus { border: round $primary; }
    ApprovalScreen #approval-box.-long #approval-call { margin: 0; }
    ApprovalScreen #approval-box.-long #approval-keys { margin: 0; }
    ApprovalScreen #approval-box.-long #approval-editor.shown { height: 1fr; min-height: 5; }
    ApprovalScreen #approval-flags { margin: 1 0 0 0; }
    ApprovalScreen #approval-keys { color: $text-muted; margin: 1 0 0 0; }
    ApprovalScreen #approval-reason { display: none; }
    ApprovalScreen #approval-reason.shown { display: block; }
    ApprovalScreen #approval-editor { display: none; height: 12; margin: 1 0 0 0; }
    ApprovalScreen #approval-editor.shown { display: block; }
    """

    BINDINGS = [
        Binding("a", "approve('once')", "Approve once", id="approval.approve_once"),
        Binding(
            "A,shift+a", "approve('session')", "Approve for session", id="approval.approve_session", key_display="A"
        ),
        Binding("v", "veto", "Veto", id="approval.veto"),
        Binding("i", "instruct", "Veto with instruction", id="approval.veto_instruct"),
        Binding("e", "edit", "Edit then approve", id="approval.edit"),
        Binding("n", "next_flag", "Next flagged span", id="approval.next_flag", show=False),
        Binding("ctrl+s", "apply_edit", "Approve the edited call", id="approval.apply_edit", show=False),
        Binding("escape", "later", "Decide later", id="approval.later"),
    ]

    class DecisionSent(Message):
        def __init__(self, decision: dict, error: str | None) -> None:
            super().__init__()
            self.decision = decision
            self.error = error

    def __init__(
        self, request: dict, client, *, grace: float = 0.5, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.request = request
        self.request_id = request.get("id")
        self.client = client
        self.grace = grace
        self._monotonic = monotonic
        self._shown_at: float | None = None  # set when mounted: no key counts before it shows
        self.busy = False
        self.closed = False
        self.edit_field: str | None = None

    def close(self, result: dict | None) -> None:
        """Dismiss once, and only while this prompt is the top screen: the decision may
        also arrive through the log (and close the prompt) before our own reply does, and a
        second dismiss would pop the screen below."""
        if self.closed or self.app.screen is not self:
            return
        self.closed = True
        self.dismiss(result)

    def compose(self) -> ComposeResult:
        pal = Palette.from_app(self.app)
        req = self.request
        details = req.get("details")
        risk = req.get("risk") or (details.get("risk") if isinstance(details, dict) else None)
        head = Text()
        head.append(f"⚠ Approval needed  #{self.request_id}")
        sub = Text()
        sub.append("rule ", pal["muted"])
        sub.append(str(req.get("rule", "?")), pal.bold("risk-medium"))
        if risk:
            rstyle = {"high": "risk-high", "medium": "risk-medium"}.get(str(risk).lower(), "risk-low")
            sub.append("   risk ", pal["muted"])
            sub.append(str(risk), pal.bold(rstyle))
        keys = Text()
        for key, label in (
            ("a", "approve once"),
            ("A", "approve for session"),
            ("v", "veto"),
            ("i", "veto with instruction"),
            ("e", "edit then approve"),
            ("esc", "decide later"),
        ):
            keys.append(f" {key} ", pal.bold("person"))
            keys.append(f"{label}  ")
        doc, long, past = build_doc(details, pal)
        with Vertical(id="approval-box", classes="-long" if long else ""):
            yield Static(head, id="approval-title")
            yield Static(sub, id="approval-rule")
            # plain text, not markup: the summary quotes the agent's paths and names
            yield Static(Text(visible(str(req.get("summary", "")))[0]), id="approval-summary")
            note = flag_note(doc, past, pal)
            if note is not None:
                yield Static(note, id="approval-flags")
            if long:  # the whole call, scrollable; only what is on screen is rendered
                yield CallView(doc, id="approval-call")
            else:
                with VerticalScroll(id="approval-details"):
                    yield Static(doc.text(), id="approval-details-text")
            yield Static(keys, id="approval-keys")
            yield Input(
                placeholder="instruction for the agent (enter sends the veto, esc cancels)", id="approval-reason"
            )
            yield TextArea(id="approval-editor", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self._shown_at = self._monotonic()
        self._focus_call()  # a CallView opens on the first flagged span by itself

    def _focus_call(self) -> None:
        """Arrows, page keys, home/end scroll the whole call; the decision keys still work."""
        # Either may be gone already: the app can be closing (the person quit as the request came).
        views = self.query(CallView) or self.query("#approval-details")
        if views:
            views.first().focus()

    # -- guards ---------------------------------------------------------------------------
    @property
    def armed(self) -> bool:
        return self._shown_at is not None and self._monotonic() - self._shown_at >= self.grace

    def _ready(self) -> bool:
        return self.armed and not self.busy and not self.closed

    # -- actions --------------------------------------------------------------------------
    def action_approve(self, scope: str) -> None:
        if self._ready():
            self._send({"id": self.request_id, "decision": "approve", "scope": scope, "reason": ""})

    def action_veto(self) -> None:
        if self._ready():
            self._send({"id": self.request_id, "decision": "veto", "scope": "once", "reason": ""})

    def action_next_flag(self) -> None:
        """Scroll the call to its next flagged span (cycling)."""
        for view in self.query(CallView):
            view.show_flag()

    def action_instruct(self) -> None:
        if not self._ready():
            return
        box = self.query_one("#approval-reason", Input)
        box.add_class("shown")
        box.focus()

    def edit_target(self) -> tuple[str | None, str]:
        """(the text argument being edited or None for the JSON of all arguments, its text)."""
        details = self.request.get("details")
        args = details.get("args") if isinstance(details, dict) else None
        if not isinstance(args, dict):
            args = {}
        for field in TEXT_FIELDS:
            if isinstance(args.get(field), str):
                return field, args[field]
        return None, json.dumps(args, indent=2, ensure_ascii=False)

    def action_edit(self) -> None:
        if not self._ready():
            return
        editor = self.query_one("#approval-editor", TextArea)
        if not editor.has_class("shown"):
            self.edit_field, text = self.edit_target()
            editor.load_text(text)
            editor.add_class("shown")
            self.notify(
                f"editing {self.edit_field or 'the arguments (JSON)'}: ctrl+s approves the "
                "edited call, esc closes the editor",
                timeout=4,
            )
        editor.focus()

    def action_apply_edit(self) -> None:
        editor = self.query_one("#approval-editor", TextArea)
        if not editor.has_class("shown") or self.busy or self.closed:
            return
        if self.edit_field is not None:
            edit = {self.edit_field: editor.text}
        else:
            try:
                edit = json.loads(editor.text)
            except ValueError as exc:
                self.notify(f"not valid JSON: {exc}", title="edit not sent", severity="error")
                return
            if not isinstance(edit, dict):
                self.notify("the arguments must be a JSON object", title="edit not sent", severity="error")
                return
        self._send({"id": self.request_id, "decision": "approve", "scope": "once", "reason": "", "edit": edit})

    def action_later(self) -> None:
        editor = self.query_one("#approval-editor", TextArea)
        if editor.has_class("shown"):
            editor.remove_class("shown")
            self._focus_call()
            return
        box = self.query_one("#approval-reason", Input)
        if box.has_class("shown"):
            box.remove_class("shown")
            box.value = ""
            self._focus_call()
            return
        if self.armed:
            self.close(None)

    @on(Input.Submitted, "#approval-reason")
    def _reason_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if reason and not self.busy:
            self._send({"id": self.request_id, "decision": "veto", "scope": "once", "reason": reason})

    # -- sending --------------------------------------------------------------------------
    def _send(self, decision: dict) -> None:
        self.busy = True

        def work() -> None:
            error = None
            try:
                if decision.get("edit") is not None:
                    self.client.request("approve", id=decision["id"], scope=decision["scope"], edit=decision["edit"])
                elif decision["decision"] == "approve":
                    self.client.approve(decision["id"], decision["scope"])
                else:
                    self.client.veto(decision["id"], decision["reason"])
            except ControlError as exc:
                error = str(exc)
            except Exception as exc:  # a broken client must never crash the UI
                error = f"{type(exc).__name__}: {exc}"
            self.post_message(self.DecisionSent(decision, error))

        self.run_worker(work, thread=True, group="approval", exit_on_error=False)

    @on(DecisionSent)
    def _decision_sent(self, message: DecisionSent) -> None:
        self.busy = False
        if message.error:
            self.notify(message.error, title="decision not sent", severity="error")
            return
        self.close(message.decision)
