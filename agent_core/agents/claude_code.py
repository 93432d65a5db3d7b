"""`--agent claude-code[:MODEL]`: the Claude Code CLI as the supervised agent.

A BridgeAgent: the CLI runs under `ClaudeSDKClient` on the agent's own thread and event loop, fenced
as agents/claude_code_setup.py describes (no built-in tools, no settings, a throwaway home, an
environment built from scratch). Our post-training tools are served in-process as an SDK MCP
server; each call is handed to the daemon with `submit` (the same gate, approvals, pause and stop
as every agent) and its outcome goes back to the model as the tool's text.

- The model's text becomes a Say (agent_message); a conversation that ends (a result, then the CLI
  idle) ends the agent (Done).
- The person's messages go into the live session as user messages: sent while a tool call runs,
  the CLI puts them in that call's result (so they are not repeated at the head of the result);
  the budget's end is told the same way. Stop interrupts the CLI and disconnects.
- Usage: every model message's tokens (and the per-turn totals the CLI reports) are `self.usage`,
  which the budget reads; `self.model` prices it.
- The CLI's session id is logged (`agent_session`); a resumed run continues that session with the
  resume note as its next message.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

from agent_core.agents import claude_code_setup as setup
from agent_core.agents.base import Action, Brief, Call, Done, Say, ToolOutcome
from agent_core.agents.bridge import BridgeAgent
from agent_core.agents.compaction import render_result
from agent_core.agents.markers import AUTO_MARK, NOTE_PREFIX, SUPERVISOR_PREFIX
from agent_core.agents.providers import Usage

BUDGET_SPENT = (
    f"{AUTO_MARK} The budget is spent. Call submit with your best checkpoint now: after a short grace "
    "the run is stopped."
)
SEND_TIMEOUT_S = 5.0  # a user message written to the CLI's stdin


def _usage_of(raw: dict | None) -> Usage:
    raw = raw or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cache_read_tokens=int(raw.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(raw.get("cache_creation_input_tokens") or 0),
    )


class ClaudeCodeAgent(BridgeAgent):
    def __init__(
        self,
        brief: Brief,
        *,
        run=None,
        log=None,
        model: str | None = None,
        base_url: str | None = None,
        schemas: dict[str, dict] | None = None,
        cli_path: str | None = None,
        max_result_chars: int = 3_000,
    ):
        super().__init__(brief)
        from agent_core.agents.llm import build_kickoff, build_system_prompt
        from agent_core.record.secrets import Redactor

        if run is None:
            raise ValueError("the claude-code agent needs its run directory (for the CLI's throwaway home)")
        if schemas is None:
            from agent_core.agents.tools import SCHEMAS

            schemas = SCHEMAS
        self.model = model or setup.DEFAULT_MODEL
        self.usage = Usage()
        self.cost_usd = 0.0  # what the CLI computed (the budget prices the usage itself)
        self.session_id: str | None = None
        self.schemas = schemas
        self.system = build_system_prompt(brief, schemas)
        self._prompt = build_kickoff(brief)
        self._run, self._log, self._base_url, self._cli = run, log, base_url, cli_path
        self._resume_id: str | None = None
        self._max_chars = max_result_chars
        self._redactor = Redactor.from_env()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._main: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._settled = Usage()  # the turns the CLI has reported totals for
        self._open: dict[str, Usage] = {}  # this turn's model messages, by message id
        self._current_id: str | None = None  # the message being streamed
        self._states = False  # the CLI reports its session state (idle: no turn left)
        self._cli_said = ""  # the CLI's last message of its own (an API error), for the closing note
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.tool_names = list(schemas)

    # -- the daemon's side ----------------------------------------------------------------------
    def next_action(self, last: ToolOutcome | None) -> Action:
        if self._thread is None and not self.closed:
            self._thread = threading.Thread(target=self._run_session, name="claude-code", daemon=True)
            self._thread.start()
        return super().next_action(last)

    def on_nudge(self, text: str) -> None:
        """Into the live session (the CLI puts it in the running call's result); before the session
        is up, or if the CLI does not take it, at the head of the next tool result."""
        if not self._send(f"{SUPERVISOR_PREFIX} {text}", wait=True):
            super().on_nudge(text)

    def on_budget_spent(self) -> None:
        self._send(BUDGET_SPENT, wait=False)

    def cancel(self) -> None:
        """The run is stopping: waiting calls are released, the CLI interrupted and disconnected."""
        super().cancel()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), loop)
            except RuntimeError:  # the loop just ended
                pass

    def restore(self, entries: list[dict], note: str, elapsed_s: float = 0.0) -> None:
        """A resumed run: continue the CLI's session logged as `agent_session` (its transcript is in
        the run's agent home) with the note as the next message; without one, start afresh."""
        from agent_core.record.events import read_events

        sessions = [e for e in read_events(self._run.events_path) if e.get("type") == "agent_session"]
        if sessions and sessions[-1].get("session_id"):
            self._resume_id = str(sessions[-1]["session_id"])
            self._prompt = note
        else:
            self._prompt = f"{self._prompt}\n\n{note}"

    # -- the session (the agent's own thread and loop) ------------------------------------------
    def _run_session(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main = loop.create_task(self._session())
            loop.run_until_complete(self._main)
            end = Done()
        except asyncio.CancelledError:
            end = Done()
        except Exception as exc:  # the CLI failed: said plainly, then the agent ends
            tail = " | ".join(self._stderr)[-600:]
            text = f"{NOTE_PREFIX} Claude Code stopped: {type(exc).__name__}: {str(exc)[:400]}"
            end = Done(self._safe(text + (f" (CLI: {tail})" if tail else "")))
        finally:
            self._client = None
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
        if not self.closed:
            self.submit(end)

    async def _session(self) -> None:
        from claude_agent_sdk import ClaudeSDKClient

        dirs = setup.agent_dirs(self._run.path)
        options = setup.build_options(
            dirs=dirs,
            env=setup.build_env(dirs, self._base_url),
            server=self._server(),
            tool_names=self.tool_names,
            system_prompt=self.system,
            model=self.model,
            resume=self._resume_id,
            cli=self._cli,
            stderr=lambda line: self._stderr.append(self._safe(line)),
        )
        async with ClaudeSDKClient(options) as client:
            self._client = client
            await client.query(self._prompt)
            result = None
            async for msg in client.receive_messages():
                if self.closed:
                    return
                kind = type(msg).__name__
                if kind == "SystemMessage":
                    data = msg.data or {}
                    if msg.subtype == "init" and data.get("session_id") != self.session_id:
                        self.session_id = str(data.get("session_id"))
                        if self._log is not None:
                            self._log.emit(
                                "agent_session",
                                agent="claude-code",
                                session_id=self.session_id,
                                model=data.get("model") or self.model,
                                resumed=bool(self._resume_id),
                            )
                    elif msg.subtype == "session_state_changed":
                        self._states = True
                        if data.get("state") == "idle" and result is not None:
                            return self._ended(result)
                        if data.get("state") == "running":
                            result = None
                elif kind == "StreamEvent" and msg.parent_tool_use_id is None:
                    self._streamed(msg.event or {})
                elif kind == "AssistantMessage" and msg.parent_tool_use_id is None:
                    said = [b.text for b in msg.content if type(b).__name__ == "TextBlock" and b.text.strip()]
                    if msg.error or msg.model == "<synthetic>":  # the CLI's own words (an API error)
                        self._cli_said = " ".join(said) or str(msg.error)
                        continue
                    self._count(msg.message_id, msg.usage)
                    for line in said:
                        self.submit(Say(self._safe(line)))
                elif kind == "ResultMessage":
                    self._settle(msg)
                    result = msg
                    if not self._states:  # a CLI that reports no session state: the result is the end
                        return self._ended(result)
        if not self.closed:  # the CLI's output ended without a result: it exited
            tail = " | ".join(self._stderr)[-600:]
            self.submit(Say(f"{NOTE_PREFIX} Claude Code exited mid-session" + (f" (CLI: {tail})" if tail else "")))

    def _ended(self, result) -> None:
        """The conversation has no turn left: the agent is done (the loop submits Done)."""
        if result.is_error:
            errors = (
                "; ".join(str(e) for e in (result.errors or [])) or self._cli_said or result.result or result.subtype
            )
            self.submit(Say(self._safe(f"{NOTE_PREFIX} Claude Code ended on an error: {str(errors)[:400]}")))

    async def _stop(self) -> None:
        client = self._client
        if client is not None:
            try:
                await asyncio.wait_for(client.interrupt(), SEND_TIMEOUT_S)
            except Exception:  # gone already, or not answering: the disconnect ends it anyway
                pass
        if self._main is not None and not self._main.done():
            self._main.cancel()  # leaves `async with`: the SDK disconnects and the CLI exits

    def _send(self, text: str, *, wait: bool) -> bool:
        """A user message into the live session; False when there is none to take it."""
        loop, client = self._loop, self._client
        if loop is None or client is None or loop.is_closed() or self.closed:
            return False
        try:
            future = asyncio.run_coroutine_threadsafe(client.query(text), loop)
        except RuntimeError:
            return False
        if not wait:
            return True
        try:
            future.result(SEND_TIMEOUT_S)
            return True
        except Exception:
            return False

    # -- the tools --------------------------------------------------------------------------------
    def _server(self):
        from claude_agent_sdk import create_sdk_mcp_server, tool

        tools = []
        for name, schema in self.schemas.items():
            params: dict = {"type": "object", "properties": dict(schema.get("properties", {}))}
            if schema.get("required"):
                params["required"] = list(schema["required"])
            tools.append(tool(name, schema.get("description", ""), params)(self._handler(name)))
        return create_sdk_mcp_server(setup.SERVER, tools=tools)

    def _handler(self, name: str):
        async def handle(args: dict) -> dict:
            outcome = await asyncio.to_thread(self.submit, Call(name, dict(args or {})))
            if outcome is None:
                return _text("Not run: the run is stopping.", error=True)
            prefix = "DENIED: " if outcome.denied else ("" if outcome.ok else "FAILED: ")
            text = render_result(outcome.summary or "", outcome.data, prefix=prefix, max_chars=self._max_chars)
            return _text(self._safe(text), error=not outcome.ok)

        return handle

    # -- usage --------------------------------------------------------------------------------------
    def _count(self, message_id: str | None, raw: dict | None) -> None:
        if raw:
            key = message_id or f"m{len(self._open)}"
            seen = self._open.get(key)
            now = _usage_of(raw)
            if seen is not None:  # the output count streamed so far (message_delta) is the later one
                now.output_tokens = max(now.output_tokens, seen.output_tokens)
            self._open[key] = now
            self._publish()

    def _streamed(self, event: dict) -> None:
        """The stream's usage: message_start (input), message_delta (the output so far); a turn of
        many tool calls reports its totals only at its end, so the budget counts these meanwhile."""
        if event.get("type") == "message_start":
            message = event.get("message") or {}
            self._current_id = message.get("id")
            self._count(self._current_id, message.get("usage"))
        elif event.get("type") == "message_delta" and self._current_id in self._open:
            out = int((event.get("usage") or {}).get("output_tokens") or 0)
            self._open[self._current_id].output_tokens = max(out, self._open[self._current_id].output_tokens)
            self._publish()

    def _settle(self, result) -> None:
        """A turn's result: its usage totals replace the running count of its messages."""
        turn = _usage_of(result.usage)
        turn.requests = len(self._open)
        if turn.total:
            self._settled.add(turn)
        else:
            for u in self._open.values():
                self._settled.add(u)
        self._open.clear()
        if result.total_cost_usd is not None:
            self.cost_usd = float(result.total_cost_usd)
        self._publish()

    def _publish(self) -> None:
        now = Usage()
        now.add(self._settled)
        for u in self._open.values():
            now.add(u)
            now.requests += 1
        self.usage.input_tokens, self.usage.output_tokens = now.input_tokens, now.output_tokens
        self.usage.cache_read_tokens, self.usage.cache_write_tokens = now.cache_read_tokens, now.cache_write_tokens
        self.usage.requests = now.requests

    def _safe(self, text: str) -> str:
        return self._redactor.redact(text)


def _text(text: str, *, error: bool) -> dict:
    return {"content": [{"type": "text", "text": text}], "is_error": error}


def make_claude_code_agent(spec: str, brief: Brief, **kw: Any) -> ClaudeCodeAgent:
    """`claude-code` or `claude-code:MODEL`; kw: run, log, base_url (and cli_path, schemas)."""
    _kind, _, model = spec.partition(":")
    return ClaudeCodeAgent(brief, model=model or None, **kw)


__all__ = ["ClaudeCodeAgent", "make_claude_code_agent"]
