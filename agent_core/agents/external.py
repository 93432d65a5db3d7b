"""The outside agent (`tinker-tui run --agent external`): any MCP client is the agent.

The run's daemon waits for a client; `tinker-tui mcp RUN` (tinker_tui/mcp_server.py) forwards the
client's calls to the daemon's control socket as `{"cmd": "tools"}` and
`{"cmd": "tool", "name": ..., "args": {...}}`, which the daemon hands to `control` on a worker
thread. A call goes through the daemon's loop like any agent's (BridgeAgent: step boundary, pause,
policy gate, approvals, redaction) and `control` returns its outcome. The agent never ends the run
on its own: only a submit or a stop (the person's, the budget's) does.

Besides the toolbox's tools the client has two of its own (tool_schemas.OUTSIDE_SCHEMAS): `brief`
(the task and the rules, as the LLM agent's system prompt and first message say them) and `say`
(a message in the run's transcript).
"""

from __future__ import annotations

import threading

from agent_core.agents.base import Action, Brief, Call, Say, ToolOutcome
from agent_core.agents.bridge import BridgeAgent
from agent_core.agents.markers import NOTE_PREFIX
from agent_core.agents.tool_schemas import ANNOTATIONS, OUTSIDE_SCHEMAS, SCHEMAS
from agent_core.record.events import read_events
from agent_core.record.runs import ended_message

OUTSIDE_NOTE = """How this run reaches you: you are an outside agent connected through MCP (`tinker-tui \
mcp`). The tools above are this server's tools; every call goes through the same policy gate and \
approvals as any agent's, and a call waiting for the person's approval returns when they decide. \
Your own built-in tools (shell, file edits, web) are outside this supervised run: do the task with \
these tools only. Instead of plain text between steps, call `say` with one or two sentences on what \
you are doing and why: the person reads it in the run's transcript. Your MCP client may cut off a long call: give `wait` a `timeout_s` below your client's tool timeout (60 is safe) and call it again while the job runs. The run ends when you submit."""


def brief_text(brief: Brief) -> str:
    """What an outside agent is told: the LLM agent's system prompt and first message, and how MCP
    reaches it."""
    from agent_core.agents.llm import build_kickoff, build_system_prompt

    return "\n\n".join((build_system_prompt(brief, {**SCHEMAS, **OUTSIDE_SCHEMAS}), OUTSIDE_NOTE, build_kickoff(brief)))


def tool_list() -> list[dict]:
    """The tools an outside client sees: name, description, JSON schema and annotations."""
    out = []
    for name, schema in {**SCHEMAS, **OUTSIDE_SCHEMAS}.items():
        input_schema = {"type": "object", "properties": schema.get("properties", {})}
        if schema.get("required"):
            input_schema["required"] = list(schema["required"])
        out.append(
            {
                "name": name,
                "description": schema.get("description", ""),
                "input_schema": input_schema,
                "annotations": dict(ANNOTATIONS[name]),
            }
        )
    return out


class ExternalAgent(BridgeAgent):
    def __init__(self, brief: Brief, run=None, log=None):
        super().__init__(brief)
        self.run = run
        self.log = log
        self._said_waiting = False
        self._connected = threading.Event()
        self._call: tuple[str | None, str | None] = (None, None)  # the last tool_call logged: id, tool
        self._idle = False  # the daemon's loop waits for the client's next step
        if log is not None:
            log.subscribe(self._saw)

    def _saw(self, event: dict) -> None:
        """Every event the daemon logs (on the loop's thread, under the log's lock: nothing here may
        emit). A call's result goes back to its caller as soon as it is logged: a paused run does
        not hold it, and a good submit (after which the loop asks the agent for nothing more) is
        answered too. The person's pause or message while the loop waits for the client wakes the
        loop (a note in the transcript), so that it reaches its step boundary: it pauses there (the
        client's next call waits until the run resumes), or hands the message over (it comes at
        the head of the next call's result)."""
        kind = event.get("type")
        if kind == "tool_call":
            self._call = (event.get("id"), event.get("tool"))
        elif kind == "tool_result" and self._call[0] is not None and event.get("id") == self._call[0]:
            with self._lock:
                step = self._current
                if step is None or not isinstance(step.action, Call) or step.action.tool != self._call[1]:
                    return
                self._current = None
            outcome = ToolOutcome(
                step.action.tool,
                bool(event.get("ok")),
                str(event.get("summary") or ""),
                dict(event.get("data") or {}),
                denied=bool(event.get("denied")),
            )
            self._answer(step, outcome)
        elif self._idle and (kind == "human_nudge" or (kind == "control" and event.get("cmd") == "pause")):
            what = (
                "paused: its next call waits until the run resumes"
                if kind == "control"
                else ("the person's message comes at the head of its next call's result")
            )
            self.submit(Say(f"{NOTE_PREFIX} outside agent: {what}"))

    def dropped(self, action: Action) -> None:
        if self.log is not None and isinstance(action, Call):
            self.log.emit(
                "agent_message", text=f"{NOTE_PREFIX} outside agent: gave up on its {action.tool} call before it ran"
            )

    # -- the daemon's loop --------------------------------------------------------------------
    def next_action(self, last: ToolOutcome | None) -> Action:
        if not self._said_waiting and not self._connected.is_set() and self.log is not None:
            self._said_waiting = True
            who = self.run.id if self.run is not None else "RUN"
            self.log.emit(
                "agent_message",
                text=f"{NOTE_PREFIX} waiting for an outside agent: connect an MCP client to "
                f"`tinker-tui mcp {who}` (the run's tools, gated as for any agent)",
            )
        self._idle = True
        try:
            return super().next_action(last)
        finally:
            self._idle = False

    # -- the client's calls (the daemon's worker threads) ----------------------------------------
    def control(self, req: dict, gone: threading.Event | None = None) -> dict:
        if self.closed:
            return {"ok": False, "error": self._ended()}
        if not self._connected.is_set():
            self._connected.set()
            if self.log is not None:
                self.log.emit("agent_message", text=f"{NOTE_PREFIX} an outside agent connected (MCP)")
        if req.get("cmd") == "tools":
            return {"ok": True, "tools": tool_list(), "brief": brief_text(self.brief), "task": self.brief.task}
        name, args = req.get("name"), req.get("args")
        args = {} if args is None else args
        if not isinstance(name, str) or not name:
            return {"ok": False, "error": 'a tool call needs a "name"'}
        if not isinstance(args, dict):
            return {"ok": False, "error": f"{name} takes an object of arguments"}
        if name == "brief":
            return self._result(True, brief_text(self.brief))
        if name == "say":
            text = args.get("text")
            if not isinstance(text, str) or not text.strip():
                return self._result(False, 'say needs some "text"')
            self.submit(Say(text.strip()))
            return self._result(True, "said")
        outcome = self.submit(Call(name, args), gone)
        if outcome is None:
            if gone is not None and gone.is_set():
                return {"ok": False, "error": f"{name}: the caller gave up on the call"}
            return {"ok": False, "error": self._ended()}
        return self._result(outcome.ok, outcome.summary, outcome.denied, outcome.facts())

    @staticmethod
    def _result(ok: bool, summary: str, denied: bool = False, data: dict | None = None) -> dict:
        return {"ok": True, "result": {"ok": ok, "summary": summary, "denied": denied, "data": data or {}}}

    def _ended(self) -> str:
        events = read_events(self.run.events_path) if self.run is not None else []
        return ended_message(events)
