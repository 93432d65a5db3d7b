"""A whole run with `--agent openai --base-url` against a local OpenAI-compatible server
(recorded responses on 127.0.0.1): the real daemon, the real SDK, the key kept out of the log."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import cli, events_of, last_state, wait_for

from agent_core.runs import list_runs

FIX = Path(__file__).parent / "fixtures" / "providers"
KEY = "sk-test-DO-NOT-LEAK-4242"


def serve(bodies: list[dict]):
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("content-length", 0))
            requests.append({"path": self.path, "auth": self.headers.get("authorization"),
                             "body": json.loads(self.rfile.read(length) or b"{}")})
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
    # The key stays out of the run directory: log, config, daemon log.
    for path in run.path.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".log"):
            assert KEY not in path.read_text(errors="replace"), path
