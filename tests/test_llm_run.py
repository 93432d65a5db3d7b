"""A whole run with `--agent openai --base-url` against a local OpenAI-compatible server
(recorded responses on 127.0.0.1): the real daemon, the real SDK, the key kept out of the log."""

from __future__ import annotations

import pytest
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import cli, events_of, last_state, wait_for

from agent_core.record.runs import list_runs

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

FIX = Path(__file__).parent / "fixtures" / "providers"
KEY = "sk-test-DO-NOT-LEAK-4242"


def serve(bodies: list[dict]):
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("content-length", 0))
            requests.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("authorization"),
                    "body": json.loads(self.rfile.read(length) or b"{}"),
                }
            )
            body = bodies[min(len(requests), len(bodies)) - 1]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, requests


def test_openai_compatible_agent_runs_tools_through_the_daemon(home, monkeypatch):
    bodies = [json.loads((FIX / name).read_text()) for name in ("openai_list_datasets.json", "openai_text.json")]
    server, requests = serve(bodies)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        cli(home, "run", "--agent", "openai:local-model", "--base-url", url, "--detach")
        [run] = list_runs(home)
        wait_for(lambda: last_state(run.path) in ("finished", "failed", "crashed"), 120, what="the run's end")
    finally:
        server.shutdown()
    events = events_of(run.path)
    assert last_state(run.path) == "finished"
    calls = [e for e in events if e["type"] == "tool_call"]
    assert calls and calls[0]["tool"] == "list_datasets"
    [result] = [e for e in events if e["type"] == "tool_result" and e["id"] == calls[0]["id"]]
    assert result["ok"] and "train" in result["summary"]
    assert any(e["type"] == "agent_message" and "datasets" in e["text"] for e in events)
    # The model was called with our tools and got the tool result back on the next turn.
    first, second = requests[0]["body"], requests[1]["body"]
    assert first["model"] == "local-model"
    assert {t["function"]["name"] for t in first["tools"]} >= {"list_datasets", "start_training", "submit"}
    assert any(m.get("role") == "tool" for m in second["messages"])
    assert requests[0]["auth"] == f"Bearer {KEY}"
    # The tokens the server reported are the run's token budget spent (no price: $0, and said so).
    answers = [bodies[min(i, len(bodies) - 1)] for i in range(len(requests))]
    served = sum(b["usage"]["prompt_tokens"] + b["usage"]["completion_tokens"] for b in answers)
    budget = [e for e in events if e["type"] == "budget"]
    assert budget[-1]["spent"]["tokens"] == served and budget[-1]["spent"]["usd"] == 0.0
    assert any(e["type"] == "alert" and "no price known for model 'local-model'" in e["message"] for e in events)
    # The key stays out of the run directory: log, config, daemon log.
    for path in run.path.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".log"):
            assert KEY not in path.read_text(errors="replace"), path


# -- the system prompt, and a resumed run's context ---------------------------------------------
def _brief(**kw):
    from agent_core.agents.base import Brief

    return Brief(
        task="arithmetic",
        description="Add two numbers.",
        base_model="tiny",
        budget_s=7200.0,
        datasets=["dev", "train"],
        **kw,
    )


def test_system_prompt_and_kickoff_cover_task_budget_tools_rules_and_memory():
    from agent_core.agents.llm import build_kickoff, build_system_prompt
    from agent_core.agents.tools import SCHEMAS

    brief = _brief(
        limits={"wall_s": 7200.0, "gpu_h": 1.5, "tokens": 2_000_000, "usd": 20.0},
        memory="Earlier runs: - run r1 ... lr 0.001 -> dev 90.0%",
        prior={"run": "r1", "job": "job1", "method": "sft", "learning_rate": 0.001, "dev": 0.9},
    )
    system = build_system_prompt(brief, SCHEMAS)
    low = system.lower()
    for tool in SCHEMAS:
        assert f"- {tool}:" in system
    assert '"arithmetic"' in system and '"tiny"' in system
    assert "2.0 hours of wall-clock time; also at most 1.5 GPU-hours, 2,000,000 model tokens, $20.00" in system
    assert "50%, 80% and 95%" in system and "at 100% you must submit" in system
    for rule in (
        "constant learning rate",
        "temperature 1.0",
        "batch size",
        "test it first on a few examples",
        "read a few completions",
        "change one thing at a time",
        "never use the test split",
        "never edit evaluation code",
        "train only the given base model",
    ):
        assert rule in low, rule
    kickoff = build_kickoff(brief)
    assert "Earlier runs: - run r1" in kickoff and "Best earlier config by dev score: run r1 job1" in kickoff


def test_restored_context_holds_the_transcript_marks_the_person_and_stays_bounded(monkeypatch):
    """LLMAgent.restore over the real OpenAI SDK (MockTransport): the request after a resume holds
    the calls and results from the log, the person's message marked as such, and the resume note;
    a long log is compacted under the context budget."""
    import httpx

    from agent_core.agents.llm import SUPERVISOR_PREFIX, make_llm_agent
    from agent_core.agents.base import Say
    from agent_core.agents.context import estimate_tokens

    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=json.loads((FIX / "openai_text.json").read_text()))

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    agent = make_llm_agent(
        "openai:gpt-4.1", _brief(), http_client=httpx.Client(transport=httpx.MockTransport(handler)), backoff=0.0
    )
    entries = [
        {"kind": "say", "text": "Looking at the data first."},
        {
            "kind": "call",
            "id": "c1",
            "tool": "list_datasets",
            "args": {},
            "result": {"ok": True, "summary": "dev: 50 rows; train: 200 rows"},
        },
    ]
    for i in range(2, 400):  # hours of waiting on jobs
        entries.append(
            {
                "kind": "call",
                "id": f"c{i}",
                "tool": "wait",
                "args": {"job": "job1"},
                "result": {
                    "ok": True,
                    "summary": f"timeout: job1 running, step {i * 10}/9000, loss "
                    f"{1 / i:.4f}, lr 0.001, {i * 30.0}s " + "x" * 200,
                },
            }
        )
    entries.insert(5, {"kind": "nudge", "text": "keep the learning rate constant"})
    entries.append({"kind": "call", "id": "c400", "tool": "wait", "args": {"job": "job1"}, "result": None})
    agent.restore(entries, "[tinker-tui] The run was interrupted and has been resumed. job1 restarts as job2.")
    assert isinstance(agent.next_action(None), Say)
    [req] = seen
    msgs = req["messages"]
    text = json.dumps(msgs)
    assert "keep the learning rate constant" in text  # kept as a finding even when its turn is compacted
    assert msgs[-1] == {
        "role": "user",
        "content": "[tinker-tui] The run was interrupted and has been resumed. job1 restarts as job2.",
    }
    assert any(m["role"] == "tool" and m["tool_call_id"] == "c400" and "Not completed" in m["content"] for m in msgs)
    assert estimate_tokens(len(text)) < 8000  # 400 tool calls, one bounded request
    # a nudge restored from the log is marked as the person's and not delivered twice
    short = make_llm_agent(
        "openai:gpt-4.1", _brief(), http_client=httpx.Client(transport=httpx.MockTransport(handler)), backoff=0.0
    )
    short.restore(entries[:3] + [{"kind": "nudge", "text": "use dev only"}], "[tinker-tui] resumed")
    short.next_action(None)
    users = [m["content"] for m in seen[-1]["messages"] if m["role"] == "user"]
    assert users.count(f"{SUPERVISOR_PREFIX} use dev only") == 1
