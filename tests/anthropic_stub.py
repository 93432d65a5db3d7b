"""A scripted Anthropic-compatible Messages API on 127.0.0.1, for driving real clients offline (the
Claude Code CLI, the Anthropic SDK): SSE over HTTP/1.1 keep-alive (chunked), plain JSON when
`stream` is false, `/v1/messages/count_tokens`. Every request is recorded (path, headers, body).

The model's side is a script: each request that offers tools (the agent's turns) takes the next
step; requests without tools (side queries) get a short text. A step is a list of blocks, or a
callable taking the request body and returning one (so it can read the last tool result):
`text(...)`, `tool(name, **input)`; or `error(status, message)`, an HTTP error. A tool name is looked up among the offered tools, so
`tool("list_datasets")` finds `mcp__tinker__list_datasets`. When the script runs out the model
answers "All done." and ends its turn.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Step = list | Callable[[dict], list]
USAGE_IN, USAGE_OUT = 100, 20  # tokens reported for every answer


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def tool(name: str, /, **args: Any) -> dict:
    return {"type": "tool_use", "name": name, "input": args}


def error(status: int, message: str) -> dict:
    """A step that answers with an HTTP error (the API's error shape)."""
    kind = "invalid_request_error" if status == 400 else "api_error"
    return {"type": "error", "status": status, "error": {"type": kind, "message": message}}


def offered(body: dict) -> list[str]:
    return [t.get("name", "") for t in body.get("tools") or []]


def messages_text(body: dict) -> str:
    """Everything the request's messages say, tool results included, as one string."""
    return json.dumps(body.get("messages") or [], ensure_ascii=False)


def last_tool_result(body: dict) -> str:
    for msg in reversed(body.get("messages") or []):
        content = msg.get("content")
        if msg.get("role") == "user" and isinstance(content, list):
            for block in reversed(content):
                if block.get("type") == "tool_result":
                    return json.dumps(block.get("content"), ensure_ascii=False)
    return ""


class AnthropicStub:
    def __init__(self, script: list[Step] | None = None):
        self.script: list[Step] = list(script or [])
        self.requests: list[dict] = []
        self.turns: list[dict] = []  # the bodies of the agent's turns (requests offering tools)
        self.changed = threading.Condition()
        self.hold = threading.Event()  # cleared: the next agent turn waits (a model still thinking)
        self.hold.set()
        self._n = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small SSE chunks on a keep-alive connection: no 40 ms stalls

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                stub._record(self.path, dict(self.headers), body)
                path = self.path.split("?", 1)[0]
                if path.endswith("/count_tokens"):
                    return self._json({"input_tokens": USAGE_IN})
                if not path.endswith("/v1/messages"):
                    return self._json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
                message = stub._answer(body)
                if message.get("type") == "error":
                    return self._json({k: v for k, v in message.items() if k != "status"}, message["status"])
                if body.get("stream"):
                    return self._sse(message)
                return self._json(message)

            def do_GET(self):  # noqa: N802
                stub._record(self.path, dict(self.headers), {})
                self._json({"type": "error", "error": {"type": "not_found_error", "message": self.path}}, 404)

            do_HEAD = do_GET  # noqa: N815

            def _json(self, obj: dict, status: int = 200) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, event: str, data: dict) -> None:
                payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()

            def _sse(self, message: dict) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                content, usage = message["content"], message["usage"]
                start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
                self._chunk("message_start", {"type": "message_start", "message": start})
                for i, block in enumerate(content):
                    if block["type"] == "text":
                        self._chunk(
                            "content_block_start",
                            {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                        )
                        delta = {"type": "text_delta", "text": block["text"]}
                    else:
                        self._chunk(
                            "content_block_start",
                            {"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}},
                        )
                        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                    self._chunk("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
                    self._chunk("content_block_stop", {"type": "content_block_stop", "index": i})
                self._chunk(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": {"output_tokens": usage["output_tokens"]},
                    },
                )
                self._chunk("message_stop", {"type": "message_stop"})
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AnthropicStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    # -- the model's side ---------------------------------------------------------------------
    def _record(self, path: str, headers: dict, body: dict) -> None:
        with self.changed:
            self.requests.append({"path": path, "headers": headers, "body": body})
            self.changed.notify_all()

    def _answer(self, body: dict) -> dict:
        names = offered(body)
        if not names:  # a side query (a title, a summary): not the agent's turn
            blocks = [text("ok")]
        else:
            self.hold.wait(60)
            with self.changed:
                self.turns.append(body)
                step = self.script.pop(0) if self.script else [text("All done.")]
                self.changed.notify_all()
            blocks = step(body) if callable(step) else step
        if isinstance(blocks, dict):  # error(...): an HTTP error instead of an answer
            return blocks
        content = []
        for block in blocks:
            if block["type"] == "tool_use":
                self._n += 1
                matches = [n for n in names if n == block["name"] or n.endswith("__" + block["name"])]
                block = {**block, "id": f"toolu_stub_{self._n:04d}", "name": matches[0] if matches else block["name"]}
            content.append(block)
        calls = any(b["type"] == "tool_use" for b in content)
        return {
            "id": f"msg_stub_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-stub"),
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": USAGE_IN,
                "output_tokens": USAGE_OUT,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def wait_turns(self, n: int, timeout: float = 60.0) -> list[dict]:
        """Block until the agent has made n turns; fails loudly."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.turns) >= n, timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for the model's turn {n}")
            return list(self.turns)
