"""Any MCP client as the agent: `tinker-tui run --agent external` and `tinker-tui mcp RUN`, driven by
the official `mcp` client (stdio_client + ClientSession) against a live daemon; and the outside
agent's own pieces (the submit that ends the run, the header mark)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time

import pytest
from conftest import ROOT, cli, events_of, last_state, wait_for, wait_run_end

from agent_core.agents.base import Brief, Call
from agent_core.agents.external import ExternalAgent
from agent_core.agents.markers import SUPERVISOR_PREFIX
from agent_core.agents.tool_schemas import SCHEMAS
from agent_core.record.control import ControlCall, ControlError
from agent_core.record.events import EventLog
from agent_core.record.runs import EXTERNAL_AGENT, RunDir
from tinker_tui.client import RunClient


def start_external(home, *extra) -> RunDir:
    out = cli(home, "run", "--agent", "external", "--detach", *extra).stdout
    assert "tinker-tui mcp" in out, out  # the person is told how to connect a client
    return RunDir(home / "runs" / out.split()[1])


@contextlib.asynccontextmanager
async def mcp_client(home, *args: str):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {"TINKER_TUI_HOME": str(home), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "tinker_tui", "mcp", *args], env=env, cwd=ROOT)
    async with stdio_client(params) as streams, ClientSession(*streams) as session:
        await session.initialize()
        yield session


class Progress:
    """A call's progress notifications; `waiting` is set once one says `until`."""

    def __init__(self, until: str):
        self.until = until
        self.messages: list[str] = []
        self.waiting = asyncio.Event()

    async def __call__(self, progress, total, message):
        self.messages.append(message or "")
        if self.until in (message or ""):
            self.waiting.set()


async def waiting_call(session, tool: str, args: dict, until: str):
    """Start a call; return once its progress notifications say it waits (`until`)."""
    progress = Progress(until)
    task = asyncio.ensure_future(session.call_tool(tool, args, progress_callback=progress))
    await asyncio.wait_for(progress.waiting.wait(), 60)
    assert not task.done(), "the call waits"
    return task, progress


async def flagged_call(session, code: str):
    """A run_python call (flagged under --approval strict), once the person is asked."""
    return await waiting_call(session, "run_python", {"code": code}, "approve or veto")


@pytest.mark.e2e
async def test_an_mcp_client_is_the_agent_behind_the_gate(home):
    run = start_external(home, "--approval", "strict")
    wait_for(
        lambda: any("waiting for an outside agent" in e.get("text", "") for e in events_of(run.path)),
        30,
        what="the transcript to say the run waits for an outside agent",
    )
    async with mcp_client(home, run.id[-4:]) as session:
        assert "Never use the test split" in session.instructions and "arithmetic" in session.instructions
        prompt = await session.get_prompt("brief")
        assert prompt.messages[0].content.text == session.instructions
        told = await session.call_tool("brief", {})
        assert told.content[0].text == session.instructions and "call `say`" in told.content[0].text
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == set(SCHEMAS) | {"brief", "say"}
        assert tools["load_dataset"].input_schema["required"] == ["name"]
        assert tools["read_file"].annotations.read_only_hint is True
        run_python = tools["run_python"].annotations
        assert run_python.read_only_hint is False and run_python.destructive_hint is True
        assert tools["load_dataset"].annotations.open_world_hint is True  # an outside download, once approved
        assert tools["submit"].annotations.destructive_hint and not tools["submit"].annotations.idempotent_hint

        listed = await session.call_tool("list_datasets", {})
        assert not listed.is_error and "train:" in listed.content[0].text
        denied = await session.call_tool("load_dataset", {"name": "test"})
        assert denied.is_error and "[eval_access]" in denied.content[0].text
        assert denied.structured_content["denied"] is True
        said = await session.call_tool("say", {"text": "looking at the data first"})
        assert not said.is_error

        # a flagged call waits, telling the client so, until the person approves it from the CLI
        task, progress = await flagged_call(session, "print(6 * 7)")
        assert last_state(run.path) == "waiting_approval"
        assert "approve" in (await asyncio.to_thread(cli, home, "approve", run.id)).stdout
        approved = await asyncio.wait_for(task, 60)
        assert not approved.is_error and "42" in approved.content[0].text
        assert progress.messages and all("run_python" in m for m in progress.messages)

        # the person pauses the idle run: the next call waits until they resume it
        await asyncio.to_thread(cli, home, "pause", run.id)
        await asyncio.to_thread(wait_for, lambda: last_state(run.path) == "paused", 30, 0.1, "the run to pause")
        task, _ = await waiting_call(session, "list_files", {}, "paused")
        await asyncio.to_thread(cli, home, "nudge", run.id, "use the dev split")
        await asyncio.to_thread(cli, home, "resume", run.id)
        listed = await asyncio.wait_for(task, 60)
        assert not listed.is_error and listed.content[0].text.startswith(f"{SUPERVISOR_PREFIX} use the dev split")
        # a message while the client is idle comes with its next call's result
        await asyncio.to_thread(cli, home, "nudge", run.id, "mind the budget")
        handed = lambda: any("person's message" in e.get("text", "") for e in events_of(run.path))  # noqa: E731
        await asyncio.to_thread(wait_for, handed, 30, 0.1, "the loop to take the message")
        noted = await session.call_tool("note", {"text": "base first"})
        assert noted.content[0].text.startswith(f"{SUPERVISOR_PREFIX} mind the budget")

        task, _ = await flagged_call(session, "print('again')")
        await asyncio.to_thread(RunClient(run).veto, None, "no more code for now")
        vetoed = await asyncio.wait_for(task, 60)
        assert vetoed.is_error and "no more code for now" in vetoed.content[0].text

        # the person stops the run: the waiting call is released, later calls are told why
        task, _ = await flagged_call(session, "print('late')")
        await asyncio.to_thread(cli, home, "stop", run.id)
        released = await asyncio.wait_for(task, 30)
        assert released.is_error and "stopped by the person" in released.content[0].text
        after = await session.call_tool("list_datasets", {})
        assert after.is_error and "ended" in after.content[0].text

    wait_run_end(run, 60, ("finished",))
    events = events_of(run.path)
    assert any(e["type"] == "agent_message" and e["text"] == "looking at the data first" for e in events)
    decisions = [(e["decision"], e["by"]) for e in events if e["type"] == "approval_decision"]
    assert decisions[:2] == [("approve", "person"), ("veto", "person")]
    assert EXTERNAL_AGENT in (run.path / "REPORT.md").read_text()


@pytest.mark.e2e
async def test_a_call_the_caller_gives_up_on_is_dropped_or_woken(home):
    """A caller that hangs up before its reply (`tinker-tui mcp` does when its client cancels the
    call, times out or exits) has given up: a call still queued behind another never runs, and a
    `wait` parked on a job returns at once, so the next call is answered now."""
    run = start_external(home, "--approval", "strict")

    def tool(name: str, **args) -> ControlCall:
        return ControlCall(run.socket_path, {"cmd": "tool", "name": name, "args": args}, None)

    def in_thread(call: ControlCall) -> asyncio.Future:
        return asyncio.ensure_future(asyncio.to_thread(call.run))

    async with mcp_client(home, run.id) as session:  # connects the outside agent
        first, _ = await flagged_call(session, "print('first')")
        queued = tool("note", text="queued, then given up")
        gave_up = in_thread(queued)
        assert await asyncio.to_thread(queued.sent.wait, 30)  # the note waits behind the flagged call
        queued.cancel()
        with pytest.raises(ControlError, match="cancelled"):
            await asyncio.wait_for(gave_up, 10)
        dropped = lambda: any("gave up on its note call" in e.get("text", "") for e in events_of(run.path))  # noqa: E731
        await asyncio.to_thread(cli, home, "approve", run.id)
        assert not (await asyncio.wait_for(first, 60)).is_error
        await asyncio.to_thread(wait_for, dropped, 30, 0.1, "the note to be dropped")
        assert not [e for e in events_of(run.path) if e["type"] == "tool_call" and e["tool"] == "note"]

        started = await session.call_tool("start_training", {"dataset": "train", "max_steps": 5000})
        assert not started.is_error, started.content[0].text
        parked = tool("wait", job="job1", timeout_s=600)
        waiting = in_thread(parked)
        parked_now = lambda: any(e["type"] == "tool_call" and e["tool"] == "wait" for e in events_of(run.path))  # noqa: E731
        await asyncio.to_thread(wait_for, parked_now, 30, 0.1, "the wait to be parked")
        parked.cancel()
        with pytest.raises(ControlError):
            await asyncio.wait_for(waiting, 10)
        t0 = time.monotonic()
        status = await asyncio.wait_for(session.call_tool("job_status", {"job": "job1"}), 60)
        assert not status.is_error and time.monotonic() - t0 < 30
        [woke] = [e for e in events_of(run.path) if e["type"] == "tool_result" and e["id"] == parked_id(run)]
        assert woke["data"]["woke"] == "its caller gave up on it"
    await asyncio.to_thread(cli, home, "stop", run.id)
    await asyncio.to_thread(wait_for, lambda: last_state(run.path) == "finished", 90, 0.2, "the run to finish")


def parked_id(run: RunDir) -> str:
    return next(e["id"] for e in events_of(run.path) if e["type"] == "tool_call" and e["tool"] == "wait")


@pytest.mark.e2e
def test_mcp_needs_a_live_run_with_an_outside_agent(home, tmp_path):
    proc = cli(home, "mcp", check=False)
    assert proc.returncode == 2 and "no live run" in proc.stderr and not proc.stdout
    script = tmp_path / "steps.json"
    script.write_text('[{"tool": "load_dataset", "args": {"name": "hf:someone/more"}}]')  # waits for approval
    run_id = cli(home, "run", "--agent", f"script:{script}", "--detach").stdout.split()[1]
    proc = cli(home, "mcp", run_id, check=False)
    assert proc.returncode == 2 and "--agent external" in proc.stderr and not proc.stdout
    cli(home, "stop", run_id)


def test_a_submit_that_ends_the_run_answers_its_caller(tmp_path):
    """The daemon's loop ends at a good submit and asks the agent for nothing more: the caller gets
    the logged result, not a hang until the harness is done."""
    log = EventLog(tmp_path / "events.jsonl")
    agent = ExternalAgent(Brief(task="t", description="d", base_model="tiny", budget_s=None), log=log)
    reply: dict = {}
    caller = threading.Thread(
        target=lambda: reply.update(agent.control({"cmd": "tool", "name": "submit", "args": {"checkpoint": "job1"}}))
    )
    caller.start()
    assert agent.next_action(None) == Call("submit", {"checkpoint": "job1"})
    log.emit("tool_call", id="c1", tool="submit", args={"checkpoint": "job1"})
    log.emit("tool_result", id="c1", ok=True, summary="submitted job1", data={})
    caller.join(5)
    assert not caller.is_alive(), "the submit's caller is answered"
    assert reply["ok"] and reply["result"]["ok"] and reply["result"]["summary"].startswith("submitted job1")
    agent.cancel()
    assert agent.control({"cmd": "tool", "name": "note", "args": {"text": "x"}})["ok"] is False


def test_the_run_header_marks_an_external_agent():
    from screens.widgets.palette import Palette
    from screens.widgets.status import StatusInfo, render_status

    assert EXTERNAL_AGENT in render_status(StatusInfo(run_id="r", external=True), Palette()).plain
    assert EXTERNAL_AGENT not in render_status(StatusInfo(run_id="r"), Palette()).plain
