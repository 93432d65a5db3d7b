"""`--agent claude-code`: the real Claude Code CLI (bundled with the Claude Agent SDK) as the agent of
a real daemon run, fully offline: the model's side is a scripted Messages API on 127.0.0.1
(tests/anthropic_stub.py). Tool calls go through the daemon's gate; the person's approvals, vetoes,
nudges, pause and stop reach the CLI's session; the CLI gets no built-in tool, no key but its own,
and talks to nothing but the loopback server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from anthropic_stub import USAGE_IN, USAGE_OUT, AnthropicStub, error, last_tool_result, messages_text, text, tool
from conftest import cli, events_of, file_task, last_state, wait_for, wait_run_end

from agent_core.record.runs import RunDir

pytestmark = [
    pytest.mark.e2e,  # real daemons and the real CLI
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("claude_agent_sdk") is None, reason="needs the claude-code extra"
    ),
]

KEY = "sk-ant-test-DO-NOT-LEAK-9f3a77c2"
FLAGGED = {"name": "hf:someone/more-arithmetic"}  # an outside download: asks the person
NUDGE = "look at the dev split before training"
VETO = "use the local data only"
END = ("finished", "failed", "crashed")


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    for name in ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def start(home: Path, stub: AnthropicStub, *extra: str) -> RunDir:
    out = cli(home, "run", "--agent", "claude-code:claude-stub-1", "--base-url", stub.url, "--detach", *extra).stdout
    return RunDir(home / "runs" / out.split()[1])


def of(run: RunDir, type_: str, **match) -> list[dict]:
    return [e for e in events_of(run.path) if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


def cli_process(run: RunDir) -> int | None:
    """The CLI's pid: the process whose working directory is the run's agent_home/work."""
    work = str(run.path / "agent_home" / "work")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == work:
                    return int(entry.name)
            except OSError:
                continue
    return None


def remote_addresses(pid: int) -> list[str]:
    """The remote ends of the process's TCP sockets (from its fds and /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                out.append(cols[2])  # rem_address, hex
    return out


def is_loopback(hex_addr: str) -> bool:
    host = hex_addr.split(":")[0]
    if len(host) == 8:  # IPv4, little-endian
        return host.endswith("7F")
    return host in ("00000000000000000000000001000000", "0000000000000000FFFF00000100007F")


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def test_tools_approvals_nudges_fenced_and_offline(home, keyed, tmp_path):
    """One run: a tool round trip, a Bash call the CLI refuses, a flagged call vetoed with a reason
    the model reads, a nudge that wakes a `wait` and lands in its result once, the CLI's environment,
    sockets and children, and the key nowhere in the run."""
    marker = tmp_path / "bash-ran"
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7731")
    task = file_task(tmp_path / "task")  # its description mentions a file: the brief goes verbatim
    task.write_text(task.read_text().replace("number only", f"number only (see @{canary})"))

    def after_veto(body):
        assert VETO in last_tool_result(body), "the veto's reason reaches the model"
        return [tool("start_training", dataset="train", max_steps=5000, batch_size=8)]

    def after_wait(body):
        assert NUDGE in messages_text(body), "the nudge reaches the model with the wait's result"
        return [tool("run_python", code="import os; print(sorted(os.environ.items()))")]

    script = [
        [text("Looking at the data."), tool("list_datasets")],
        [tool("Bash", command=f"touch {marker}")],
        [tool("load_dataset", **FLAGGED)],
        after_veto,
        [tool("wait", job="job1", timeout_s=600)],
        after_wait,
        [text("Finished here.")],
    ]
    with AnthropicStub(script) as stub:
        policy = tmp_path / "policy.toml"
        policy.write_text("[code]\nheuristics = false\n")  # let run_python print its environment
        run = start(home, stub, "--policy", str(policy), "--task", str(task))
        [req] = wait_for(lambda: of(run, "approval_request"), 60, what="the flagged call's approval request")
        assert req["rule"] == "outside_download"
        pid = wait_for(lambda: cli_process(run), 10, what="the CLI process")
        env = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item
        )
        remotes = remote_addresses(pid)
        kids = children_of(pid)
        cli(home, "veto", run.id, req["id"], "--reason", VETO)
        [call] = wait_for(lambda: of(run, "tool_call", tool="wait"), 60, what="the wait call")
        cli(home, "nudge", run.id, NUDGE)
        wait_run_end(run, 60, END)
        wait_for(lambda: cli_process(run) is None, 15, what="the CLI to exit with the run")
        requests = list(stub.requests)
    events = events_of(run.path)
    assert last_state(run.path) == "finished", [e for e in events if e["type"] == "run_state"]

    # 1. A tool round trip through the gate; the model's text is the agent's message.
    [listed] = of(run, "tool_call", tool="list_datasets")
    [result] = of(run, "tool_result", id=listed["id"])
    assert result["ok"] and "train" in result["summary"]
    assert "train" in last_tool_result(stub.turns[1])
    # The brief went verbatim (no @file expansion), thinking off.
    assert f"(see @{canary})" in messages_text(stub.turns[0])
    assert (stub.turns[0].get("thinking") or {"type": "disabled"}) == {"type": "disabled"}
    assert all("CANARY-7731" not in json.dumps(r["body"]) for r in requests)
    assert of(run, "agent_message", text="Looking at the data.")
    assert of(run, "agent_message", text="Finished here.")
    # 5. Bash is no tool of this session: refused by the CLI, never run, never reaching the gate.
    offered = {t["name"] for t in stub.turns[0]["tools"]} - {"DeferredToolPlaceholder"}  # the CLI's, inert
    assert offered == {f"mcp__tinker__{n}" for n in _schemas()}
    assert "No such tool available: Bash" in last_tool_result(stub.turns[2])
    assert not marker.exists() and not of(run, "tool_call", tool="Bash")
    assert kids == [], "the CLI spawned no process"
    # 2. The flagged call waited for the person and was vetoed with the reason.
    [decision] = of(run, "approval_decision")
    assert decision["decision"] == "veto" and decision["reason"] == VETO
    # 3. The nudge woke the wait at once and reached the model once, right after the wait's result
    # (the CLI's note of a message sent mid-turn), not repeated at the head of that result.
    [waited] = of(run, "tool_result", id=call["id"])
    assert "message from the person" in waited["summary"]
    assert "job1 running" in waited["summary"] and messages_text(stub.turns[5]).count(NUDGE) == 1
    # The CLI's session is logged, and the model's usage is the run's token count.
    [session] = of(run, "agent_session")
    assert session["session_id"] == requests[-1]["headers"].get("X-Claude-Code-Session-Id")
    answered = sum(1 for r in requests if r["path"].split("?")[0].endswith("/v1/messages"))
    assert of(run, "budget")[-1]["spent"]["tokens"] == answered * (USAGE_IN + USAGE_OUT)
    # 6. The CLI's environment was built from scratch: its own key, nothing of the daemon's.
    assert set(env) <= {
        "PATH",
        "HOME",
        "CLAUDE_CONFIG_DIR",
        "TMPDIR",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "DISABLE_TELEMETRY",
        "DISABLE_AUTOUPDATER",
        "DISABLE_ERROR_REPORTING",
        "CLAUDE_CODE_EMIT_SESSION_STATE_EVENTS",
        "CLAUDE_CODE_ENTRYPOINT",
        "CLAUDE_AGENT_SDK_VERSION",
        "CLAUDE_CODE_SDK_READS_SESSION_STATE",
        "PWD",
    }, env.keys()
    assert env["HOME"] == str(run.path / "agent_home") and "TINKER_TUI_HOME" not in env
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1" and env["ANTHROPIC_BASE_URL"] == stub.url
    # ... and no tool, no log, no file of the run holds the key (run_python printed its environment).
    [py] = of(run, "tool_call", tool="run_python")
    [printed] = of(run, "tool_result", id=py["id"])
    assert printed["ok"] and "PATH" in printed["summary"] and "ANTHROPIC" not in printed["summary"]
    assert all(KEY not in json.dumps(r["body"]) for r in requests), "no key in what the model read"
    for path in run.path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    # 7. Only loopback: the CLI's sockets, and every request it made reached the stub.
    assert remotes and all(is_loopback(a) for a in remotes), remotes
    assert all(r["path"].split("?")[0] in ("/v1/messages", "/v1/messages/count_tokens") for r in requests)


def _schemas() -> list[str]:
    from agent_core.agents.tools import SCHEMAS

    return list(SCHEMAS)


def test_pause_holds_the_next_call_and_stop_ends_the_session(home, keyed):
    """Paused while a flagged call waits: once approved, the model's next call is held until the
    person resumes; a stop during the next approval ends the CLI's session and process."""
    script = [
        [tool("load_dataset", **FLAGGED)],
        [text("Noting."), tool("note", text="after the pause")],
        [tool("load_dataset", name="hf:someone/other")],
    ]
    with AnthropicStub(script) as stub:
        run = start(home, stub)
        [first] = wait_for(lambda: of(run, "approval_request"), 60, what="the first approval request")
        pid = wait_for(lambda: cli_process(run), 10, what="the CLI process")
        cli(home, "pause", run.id)
        cli(home, "approve", run.id, first["id"])
        wait_for(lambda: last_state(run.path) == "paused", 30, what="the pause")
        assert len(stub.turns) == 1 and not of(run, "tool_call", tool="note"), "nothing moves while paused"
        cli(home, "resume", run.id)
        wait_for(lambda: len(of(run, "approval_request")) == 2, 60, what="the second approval request")
        assert of(run, "tool_call", tool="note") and of(run, "agent_message", text="Noting.")
        cli(home, "stop", run.id)
        wait_for(lambda: last_state(run.path) in END, 60, what="the run's end")
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 15, what="the CLI to exit")
    assert last_state(run.path) == "finished"
    assert of(run, "run_state", state="stopping")[0]["reason"] == "stopped by the person"
    assert len(stub.turns) == 3  # no turn after the stop


def test_a_spent_token_budget_tells_the_model_then_stops_it(home, keyed):
    notes = [[tool("note", text=f"step {i}")] for i in range(60)]
    with AnthropicStub(notes) as stub:
        run = start(home, stub, "--max-tokens", "1k", "--budget-grace", "1s")
        wait_for(lambda: last_state(run.path) in END, 90, what="the run's end")
        wait_for(lambda: cli_process(run) is None, 15, what="the CLI to exit with the run")
        turns = list(stub.turns)
    ended = of(run, "run_state")[-1]
    assert ended["state"] == "finished" and "budget spent" in ended["reason"] and "tokens" in ended["reason"]
    told = [i for i, body in enumerate(turns) if "The budget is spent" in messages_text(body)]
    assert told, "the model was told to submit"
    spent = of(run, "budget")[-1]["spent"]["tokens"]
    per_turn = USAGE_IN + USAGE_OUT
    # every finished answer counted, output included; the stop may cut the last answer mid-stream,
    # and then only what its stream had reported is counted
    assert (len(turns) - 1) * per_turn <= spent <= len(turns) * per_turn and spent >= 1000
    assert told[0] <= 1000 // per_turn + 2, "told as soon as the budget was spent"
    assert len(turns) < len(notes), "the model stopped well before its script ran out"


def test_a_resumed_run_continues_the_cli_session(home, keyed):
    """Killed while a flagged call waits: the CLI goes with its daemon; `resume` starts the CLI on
    the same session (its transcript in the run's agent home) with the resume note as the next
    message."""
    import signal

    seen: dict = {}

    def resumed(body):
        if "has been resumed" not in messages_text(body):  # the dying CLI's last request (its call failed)
            stub.script.insert(0, resumed)
            return [text("Cut off.")]
        seen["text"] = messages_text(body)
        return [text("Resumed.")]

    script = [[tool("list_datasets")], [tool("load_dataset", **FLAGGED)], resumed]
    with AnthropicStub(script) as stub:
        run = start(home, stub)
        wait_for(lambda: of(run, "approval_request"), 60, what="the approval request")
        pid = wait_for(lambda: cli_process(run), 10, what="the CLI process")
        os.kill(run.daemon_pid(), signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 15, what="the CLI to exit with its daemon")
        cli(home, "resume", run.id)
        wait_for(lambda: last_state(run.path) in END, 60, what="the resumed run's end")
    assert last_state(run.path) == "finished" and of(run, "agent_message", text="Resumed.")
    first, again = of(run, "agent_session")
    assert again["session_id"] == first["session_id"] and again["resumed"] and not first["resumed"]
    assert "Task: arithmetic" in seen["text"], "the earlier conversation is still there"
    assert "has been resumed" in seen["text"] and seen["text"].count("Task: arithmetic") == 1


def test_an_api_error_ends_the_agent_with_a_clear_note(home, keyed):
    """The model API refuses the request (400): the CLI's error result ends the agent, and the run
    says why instead of hanging."""
    refused = error(400, "the request is refused (test)")
    with AnthropicStub([[tool("list_datasets")]] + [refused] * 6) as stub:  # the CLI tries again with fewer betas
        run = start(home, stub)
        wait_for(lambda: last_state(run.path) in END, 60, what="the run's end")
        wait_for(lambda: cli_process(run) is None, 15, what="the CLI to exit with the run")
    assert last_state(run.path) == "finished" and of(run, "tool_call", tool="list_datasets")
    [note] = [e["text"] for e in of(run, "agent_message") if "Claude Code ended on an error" in e["text"]]
    assert "400 the request is refused (test)" in note
    assert not [e for e in of(run, "agent_message") if e["text"].startswith("API Error")], "not the model's words"
