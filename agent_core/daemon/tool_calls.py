"""One tool call of the agent, from request to logged result: validate the arguments against the
schemas, map old job ids through the resume aliases, classify with the policy gate, wait for a
person where the gate asks (agent_core.oversight.approvals), run it in the toolbox, redact, append
the watchdogs' news for the agent, and log `tool_call` / `tool_result` (with the outcome's facts,
from which a resume rebuilds it)."""

from __future__ import annotations

import asyncio
import traceback

from agent_core.agents.base import ToolOutcome
from agent_core.agents.markers import PERSON_VETOED, POLICY_DENIED
from agent_core.agents.tools import ToolArgError, Toolbox, ToolContext, check_args
from agent_core.daemon.alerts import AlertDesk
from agent_core.oversight.approvals import Approvals
from agent_core.oversight.policy import GateContext, gate
from agent_core.oversight.policy_file import Policy
from agent_core.record.events import EventLog
from agent_core.record.secrets import redact, redact_obj


class ToolCalls:
    def __init__(
        self,
        log: EventLog,
        gate_ctx: GateContext,
        policy: Policy,
        approvals: Approvals,
        tool_ctx: ToolContext,
        alerts: AlertDesk,
        aliases: dict[str, str],
    ):
        self.log = log
        self.gate_ctx = gate_ctx
        self.policy = policy
        self.approvals = approvals
        self.tool_ctx = tool_ctx
        self.alerts = alerts
        self.aliases = aliases  # an interrupted job's id -> the job that continues it (resume)
        self.count = 0  # calls made in this run (ids go on after a resume)

    def _aliased(self, args: dict) -> dict:
        if not self.aliases:
            return args
        return {
            k: self.aliases.get(v, v) if k in ("job", "checkpoint", "base") and isinstance(v, str) else v
            for k, v in args.items()
        }

    async def execute(self, tool: str, args) -> ToolOutcome:
        self.count += 1
        call_id = f"c{self.count}"
        self.log.emit("tool_call", id=call_id, tool=tool, args=redact_obj(args))
        outcome: ToolOutcome
        try:
            try:
                args = check_args(tool, args)
            except ToolArgError as exc:
                outcome = ToolOutcome(tool, False, f"bad call: {exc}")
            else:
                outcome = await self._gated(call_id, tool, self._aliased(args))
        except asyncio.CancelledError:
            self.log.emit("tool_result", id=call_id, ok=False, summary="cancelled: the run is stopping")
            raise
        except Exception as exc:  # a tool bug must not end the run
            traceback.print_exc()
            outcome = ToolOutcome(tool, False, f"{tool} failed with an internal error: {exc!r}")
        outcome.summary, outcome.data = redact(outcome.summary), redact_obj(outcome.data)  # no key-like strings
        self.alerts.flush()
        outcome.summary += self.alerts.take_for_agent()
        extra = {"denied": True} if outcome.denied else {}
        self.log.emit("tool_result", id=call_id, ok=outcome.ok, summary=outcome.summary, data=outcome.facts(), **extra)
        return outcome

    async def _gated(self, call_id: str, tool: str, args: dict) -> ToolOutcome:
        verdict = gate(tool, args, self.gate_ctx, self.policy)
        # ask -> a person decides (an approved edit is re-gated); see Approvals.settle
        how, args, verdict, reason = await self.approvals.settle(call_id, tool, args, verdict)
        if how == "deny":
            self.log.emit("alert", rule=verdict.rule, severity="warning", message=f"denied {tool}: {verdict.reason}")
            return ToolOutcome(tool, False, f"{POLICY_DENIED} [{verdict.rule}]: {verdict.reason}", denied=True)
        if how == "run":
            return await Toolbox(self.tool_ctx, network_approved=verdict.rule == "network").call(tool, args)
        why = f": {reason}" if reason else ""
        return ToolOutcome(tool, False, f"{PERSON_VETOED} [{verdict.rule}]{why}", denied=True)
