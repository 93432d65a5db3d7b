"""`tinker-tui mcp [RUN]`: a stdio MCP server (the official `mcp` SDK) that makes any MCP client
(Claude Code, Codex CLI, Gemini CLI, ...) the agent of a run started with `--agent external`.

It is a thin forwarder: the tools, their schemas and annotations and the brief come from the run's
daemon (`{"cmd": "tools"}`, answered by agent_core/agents/external.py), and every call goes to the
daemon as `{"cmd": "tool", "name": ..., "args": {...}}`, where it is gated exactly as any agent's
(policy, approvals, budget, pause). A call that waits (for the person's approval, for a job, for a
paused run) sends progress notifications every few seconds saying what it waits for. A denied or
vetoed call comes back as an error result with the reason.

The client's own built-in tools (its shell, file edits, web) never pass through here: they are
beyond the gate. Runs in the UI process: no torch & co. Nothing but the protocol goes to stdout.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

from agent_core.record.control import ControlCall, ControlError, send_command
from agent_core.record.events import read_events
from agent_core.record.runs import RunDir, ended_message, is_external, list_runs, runs_home
from tinker_tui.cli_base import CliError, resolve

__all__ = ["add_parser", "pick_run", "cmd_mcp"]

PROGRESS_S = 2.0  # how often a waiting call tells the client what it waits for
START_WAIT_S = 60.0  # how long a server started with its run waits for the run's agent


def add_parser(sub) -> None:
    sp = sub.add_parser(
        "mcp",
        help="serve a run's tools to an MCP client over stdio (start the run with --agent external)",
    )
    sp.add_argument("run", nargs="?", help="run id or prefix (default: the latest live run)")


def pick_run(args) -> RunDir:
    """The run named, or the latest live run (one started with --agent external first)."""
    if getattr(args, "run", None):
        run = resolve(args)
        if not run.is_live():
            raise CliError(f"run {run.id} is not running: start one with `tinker-tui run --agent external`")
        return run
    live = [r for r in list_runs(runs_home(args.home)) if r.is_live()]
    if not live:
        raise CliError("no live run: start one with `tinker-tui run --agent external --detach`")
    external = [r for r in live if is_external(r.config().get("agent"))]
    return (external or live)[-1]


def cmd_mcp(args) -> int:
    run = pick_run(args)
    deadline = time.monotonic() + START_WAIT_S
    while True:
        try:
            reply = send_command(run.socket_path, {"cmd": "tools"})
        except ControlError as exc:
            raise CliError(str(exc)) from exc
        # a run just started installs its task before its agent exists
        if reply.get("ok") or "not started yet" not in str(reply.get("error")) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not reply.get("ok"):
        raise CliError(f"run {run.id}: {reply.get('error') or 'the daemon refused the tools list'}")
    print(f"tinker-tui mcp: serving run {run.id} on stdio", file=sys.stderr, flush=True)
    asyncio.run(serve(run, reply))
    return 0


def _waiting_for(run: RunDir, tool: str, elapsed: float) -> str:
    """What a call in flight waits for, from the daemon's status."""
    try:
        status = send_command(run.socket_path, {"cmd": "status"}, timeout=5.0)
    except ControlError as exc:
        return f"{tool}: {exc}"
    state = status.get("state")
    if state == "waiting_approval":
        what = "waits for the person to approve or veto it"
    elif state == "paused":
        what = "waits: the person paused the run"
    elif state == "running":
        what = "is running"
    else:
        what = f"goes on (the run is {state})"
    return f"{tool} {what}; {elapsed:.0f}s so far"


def _in_daemon_thread(fn, *args) -> asyncio.Future:
    """fn(*args) in a daemon thread: a call still waiting in the run's daemon (for an approval, a
    job) never keeps this process alive once the client has gone."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(ok: bool, value) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            value, ok = fn(*args), True
        except Exception as exc:  # handed to the awaiting handler
            value, ok = exc, False
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    threading.Thread(target=target, daemon=True, name="tinker-mcp-call").start()
    return future


def _tool_result(reply: dict):
    import mcp_types as types

    if not reply.get("ok"):
        text = str(reply.get("error") or "the call was refused")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
    result = reply.get("result") or {}
    summary = str(result.get("summary") or "")
    structured = {"ok": bool(result.get("ok")), "denied": bool(result.get("denied")), "data": result.get("data") or {}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=summary)],
        structured_content=structured,
        is_error=not result.get("ok"),
    )


def build_server(run: RunDir, tools_reply: dict):
    """The MCP server for one run: its tools, the brief (instructions, a `brief` prompt and tool)."""
    import mcp_types as types
    from mcp.server import Server

    brief = str(tools_reply.get("brief") or "")
    tools = [
        types.Tool(
            name=t["name"],
            description=t.get("description") or "",
            input_schema=t.get("input_schema") or {"type": "object", "properties": {}},
            annotations=types.ToolAnnotations(
                read_only_hint=t["annotations"].get("read_only"),
                destructive_hint=t["annotations"].get("destructive"),
                idempotent_hint=t["annotations"].get("idempotent"),
                open_world_hint=t["annotations"].get("open_world"),
            )
            if t.get("annotations")
            else None,
        )
        for t in tools_reply.get("tools") or []
    ]

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx, params) -> types.CallToolResult:
        name, args = params.name, dict(params.arguments or {})
        # the call takes as long as it takes: an approval, a wait on a job, a paused run; a client
        # that cancels it (or times out) hangs up on the daemon, which drops or wakes it
        control = ControlCall(run.socket_path, {"cmd": "tool", "name": name, "args": args}, None)
        call = _in_daemon_thread(control.run)
        t0 = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({call}, timeout=PROGRESS_S)
                if done:
                    break
                elapsed = time.monotonic() - t0
                message = await asyncio.to_thread(_waiting_for, run, name, elapsed)
                await ctx.session.report_progress(elapsed, None, message)
        except BaseException:  # cancelled by the client (or this server is going down)
            control.cancel()
            call.add_done_callback(lambda f: f.cancelled() or f.exception())  # its ControlError is expected
            raise
        try:
            reply = call.result()
        except ControlError:  # the daemon is gone (or went while the call waited): the log says why
            reply = {"ok": False, "error": ended_message(read_events(run.events_path))}
        return _tool_result(reply)

    async def list_prompts(ctx, params) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[types.Prompt(name="brief", description="The task and the rules of this supervised run")]
        )

    async def get_prompt(ctx, params) -> types.GetPromptResult:
        if params.name != "brief":
            raise ValueError(f"no prompt {params.name!r}; there is one: brief")
        return types.GetPromptResult(
            description=f"Run {run.id}: the task and the rules",
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=brief))],
        )

    return Server(
        "tinker-tui",
        version="1",
        instructions=brief or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


async def serve(run: RunDir, tools_reply: dict) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(run, tools_reply)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
