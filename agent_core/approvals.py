"""Pending approvals: the agent side awaits a future; a person (UI or CLI) resolves it.

They live in the daemon, so a client that reconnects sees the same pending requests.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from agent_core.policy import Verdict

if TYPE_CHECKING:
    from agent_core.daemon import Supervisor

SCOPES = ("once", "session")


class Approvals:
    def __init__(self, sup: "Supervisor"):
        self.sup = sup
        self.pending: dict[str, tuple[asyncio.Future, dict]] = {}
        self.session_rules: set[str] = set()
        self._n = 0

    def pending_requests(self) -> list[dict]:
        return [req for _fut, req in self.pending.values()]

    async def ask(self, call_id: str, tool: str, args: dict, verdict: Verdict) -> tuple[bool, str]:
        """Wait for a decision on a flagged call. Returns (approved, reason)."""
        self._n += 1
        aid = f"a{self._n}"
        details = {"tool": tool, "args": args, "call": call_id, "risk": verdict.risk, **verdict.details}
        req = self.sup.log.emit("approval_request", id=aid, rule=verdict.rule, summary=verdict.reason,
                                details=details)
        auto = self.sup.cfg.get("approval_auto")
        if verdict.rule in self.session_rules:
            self._record(aid, "approve", "session", "approved earlier for the rest of the session", "session rule")
            return True, ""
        if auto in ("approve", "veto"):
            reason = "" if auto == "approve" else f"vetoed by --{auto}-flagged"
            self._record(aid, auto, "once", reason, f"--{auto}-flagged")
            return auto == "approve", reason
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending[aid] = (fut, req)
        try:
            return await fut
        finally:
            self.pending.pop(aid, None)

    def _record(self, aid: str, decision: str, scope: str, reason: str, by: str) -> None:
        self.sup.log.emit("approval_decision", id=aid, decision=decision, scope=scope, reason=reason, by=by)

    def decide(self, aid: str | None, decision: str, scope: str = "once", reason: str = "",
               by: str = "person") -> dict:
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
        if decision == "approve" and scope == "session":
            self.session_rules.add(req["rule"])
        self._record(aid, decision, scope, reason, by)
        fut.set_result((decision == "approve", reason))
        return {"ok": True, "id": aid, "decision": decision}

    def cancel_all(self, reason: str) -> None:
        for aid, (fut, _req) in list(self.pending.items()):
            if not fut.done():
                self._record(aid, "veto", "once", reason, "supervisor")
                fut.set_result((False, reason))
