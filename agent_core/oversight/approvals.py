"""Pending approvals: the agent side awaits a future; a person (UI or CLI) resolves it.

They live in the daemon, so a client that reconnects sees the same pending requests.

Decisions:
    approve once                 the call runs
    approve for the session      the call runs, and later calls flagged by the same rule with the
                                 same pattern (dataset, source, path, kind of network use) are
                                 approved without asking; other patterns of the rule still ask
    veto [with an instruction]   the call does not run; the instruction goes to the agent
    edit then approve            the person changes the call's arguments; the edited call is
                                 validated (tools.check_args) and re-classified by the policy before
                                 the decision is accepted: an edit that is malformed or denied is
                                 refused and the request stays pending; an edit flagged by another
                                 rule asks again for that rule
Every decision is an `approval_decision` event (with `edited_args` for an edit).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from agent_core.oversight.policy import Verdict
from agent_core.record.secrets import redact, redact_obj

if TYPE_CHECKING:
    from agent_core.record.events import EventLog

SCOPES = ("once", "session")
TEXT_FIELDS = ("content", "code", "text")  # what a plain-text edit replaces


@dataclass
class Decision:
    approved: bool
    reason: str = ""
    args: dict | None = None  # the edited arguments, when the person edited the call

    # (approved, reason) unpacking, as before edits existed
    def __iter__(self):
        return iter((self.approved, self.reason))


def apply_edit(args: dict, edit: dict) -> dict:
    """The call's arguments after a person's edit: keys in `edit` replace the call's, a null
    value removes the argument."""
    out = dict(args)
    for key, value in edit.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class Approvals:
    """`log` gets the requests and decisions; `auto` is the run's --approve-flagged/--veto-flagged
    ("approve" | "veto" | None); `on_waiting(True)` once a request waits for a person (it is in
    the log by then) and `on_waiting(False)` once it is decided or cancelled; `recheck(tool, args)` re-gates an edited call."""

    def __init__(
        self,
        log: EventLog,
        auto: str | None = None,
        on_waiting: Callable[[bool], None] | None = None,
        recheck: Callable[[str, dict], Verdict] | None = None,
    ):
        self.log = log
        self.auto = auto
        self.on_waiting = on_waiting or (lambda waiting: None)
        self.pending: dict[str, tuple[asyncio.Future, dict]] = {}
        self.session_rules: set[tuple[str, str]] = set()  # (rule, pattern); pattern "*" = any
        self.recheck = recheck  # (tool, args) -> Verdict, after check_args; for edits
        self._verdicts: dict[str, Verdict] = {}
        self._calls: dict[str, tuple[str, dict]] = {}
        self._n = 0

    def continue_numbering(self, asked: int) -> None:
        """A resumed run: `asked` requests were made before; ids go on, never repeat."""
        self._n = max(self._n, asked)

    def pending_requests(self) -> list[dict]:
        return [req for _fut, req in self.pending.values()]

    def covered(self, verdict: Verdict) -> bool:
        return (verdict.rule, verdict.pattern) in self.session_rules or (verdict.rule, "*") in self.session_rules

    async def ask(self, call_id: str, tool: str, args: dict, verdict: Verdict) -> Decision:
        """Wait for a decision on a flagged call."""
        self._n += 1
        aid = f"a{self._n}"
        details = {"tool": tool, "args": args, "call": call_id, "risk": verdict.risk, **verdict.details}
        if verdict.pattern:
            details["pattern"] = verdict.pattern
        req = self.log.emit(
            "approval_request", id=aid, rule=verdict.rule, summary=redact(verdict.reason), details=redact_obj(details)
        )
        auto = self.auto
        if self.covered(verdict):
            self._record(aid, "approve", "session", "approved earlier for the rest of the session", "session rule")
            return Decision(True)
        if auto in ("approve", "veto"):
            reason = "" if auto == "approve" else f"vetoed by --{auto}-flagged"
            self._record(aid, auto, "once", reason, f"--{auto}-flagged")
            return Decision(auto == "approve", reason)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending[aid] = (fut, req)
        self._verdicts[aid] = verdict
        self._calls[aid] = (tool, args)  # unredacted: what an edit applies to
        self.on_waiting(True)  # after the request is in the log: whoever sees the state finds it
        try:
            return await fut
        finally:
            self.pending.pop(aid, None)
            self._verdicts.pop(aid, None)
            self._calls.pop(aid, None)
            self.on_waiting(False)

    async def settle(self, call_id: str, tool: str, args: dict, verdict: Verdict) -> tuple[str, dict, Verdict, str]:
        """Take a gated call to a final answer: ("run" | "deny" | "veto", args, verdict, reason).
        An `ask` waits for a person; an approved edit is re-gated, and asks again only for a rule
        not approved yet for this call."""
        approved_rules: set[str] = set()
        while True:
            if verdict.action == "deny":
                return "deny", args, verdict, verdict.reason
            if verdict.action != "ask" or verdict.rule in approved_rules:
                if verdict.action == "allow" and verdict.details.get("policy") == "ask -> allow":
                    # the policy (e.g. --approval auto) let a flagged call through: say so in the log
                    self.log.emit(
                        "alert",
                        rule=verdict.rule,
                        severity="info",
                        message=f"allowed by the run's policy without asking: {redact(verdict.reason)}",
                    )
                return "run", args, verdict, ""
            decision = await self.ask(call_id, tool, args, verdict)
            if not decision.approved:
                return "veto", args, verdict, decision.reason
            approved_rules.add(verdict.rule)
            if decision.args is None or self.recheck is None:
                return "run", args, verdict, ""
            args = decision.args
            verdict = self.recheck(tool, args)

    def _record(self, aid: str, decision: str, scope: str, reason: str, by: str, **extra) -> None:
        self.log.emit("approval_decision", id=aid, decision=decision, scope=scope, reason=reason, by=by, **extra)

    def decide(
        self,
        aid: str | None,
        decision: str,
        scope: str = "once",
        reason: str = "",
        by: str = "person",
        edit: dict | None = None,
    ) -> dict:
        if not self.pending:
            return {"ok": False, "error": "no approval is pending"}
        if aid is None:
            aid = next(iter(self.pending))
        if aid not in self.pending:
            return {"ok": False, "error": f"no pending approval {aid!r}; pending: {', '.join(self.pending)}"}
        if scope not in SCOPES:
            return {"ok": False, "error": f"scope must be one of {', '.join(SCOPES)}"}
        fut, req = self.pending[aid]
        if fut.done():
            return {"ok": False, "error": f"{aid} was already decided"}
        verdict = self._verdicts.get(aid) or Verdict("ask", req.get("rule", ""))
        extra: dict = {}
        edited = None
        if edit is not None:
            if decision != "approve":
                return {"ok": False, "error": "only an approval can carry an edit"}
            checked = self._check_edit(aid, edit)
            if isinstance(checked, str):
                return {"ok": False, "error": checked}
            edited, new_verdict = checked
            extra = {"edited_args": redact_obj(edited)}
            if new_verdict.rule and new_verdict.action != "allow":
                extra["edited_verdict"] = {
                    "action": new_verdict.action,
                    "rule": new_verdict.rule,
                    "reason": new_verdict.reason,
                }
        if decision == "approve" and scope == "session":
            self.session_rules.add((verdict.rule, verdict.pattern or "*"))
            extra["pattern"] = verdict.pattern or "*"
        self._record(aid, decision, scope, reason, by, **extra)
        fut.set_result(Decision(decision == "approve", reason, edited))
        return {"ok": True, "id": aid, "decision": decision, **({"edited_args": redact_obj(edited)} if edited else {})}

    def _check_edit(self, aid: str, edit) -> tuple[dict, Verdict] | str:
        from agent_core.agents.tools import ToolArgError, check_args

        if not isinstance(edit, dict):
            return 'an edit is a JSON object of the call\'s arguments, e.g. {"content": "..."}'
        tool, call_args = self._calls[aid]
        if "@text" in edit:  # a plain-text file: the new value of the call's text argument
            field = next((f for f in TEXT_FIELDS if f in call_args), None)
            if field is None:
                return f"{tool} has no text argument ({', '.join(TEXT_FIELDS)}) to replace; send a JSON object"
            edit = {**{k: v for k, v in edit.items() if k != "@text"}, field: edit["@text"]}
        args = apply_edit(call_args, edit)
        try:
            args = check_args(tool, args)
        except ToolArgError as exc:
            return f"the edited call is not valid, nothing was decided: {exc}"
        if self.recheck is None:
            return args, Verdict("allow")
        verdict = self.recheck(tool, args)
        if verdict.action == "deny":
            return f"the edited call is denied by policy [{verdict.rule}]: {verdict.reason}; nothing was decided"
        return args, verdict

    def cancel_all(self, reason: str) -> None:
        for aid, (fut, _req) in list(self.pending.items()):
            if not fut.done():
                self._record(aid, "veto", "once", reason, "supervisor")
                fut.set_result(Decision(False, reason))
