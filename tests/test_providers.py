"""The LLM agents against the real Anthropic and OpenAI SDK clients, served by a mock transport.

No network: every response is a recorded-shape JSON body or SSE stream from
tests/fixtures/providers. A small stand-in for the daemon runs the agent's calls through the
real check_args, so unknown tools and wrong-typed arguments come back exactly as in a run.

Note: anthropic>=2 talks through `httpx2` and refuses an `httpx.Client`, so the Anthropic tests
inject `httpx2.Client(transport=httpx2.MockTransport(...))`; the OpenAI SDK takes either and the
tests use plain `httpx` there (one test uses httpx2 to show both work).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from agent_core.agents.base import Brief, Call, Done, Say, ToolOutcome
from agent_core.agents.llm import CONTINUE_PROMPT, SUPERVISOR_PREFIX, LLMAgent, make_llm_agent, preflight
from agent_core.agents.providers import MissingKeyError, ProviderError, UserText
from agent_core.agents.tools import SCHEMAS, ToolArgError, check_args

try:  # the transport module the installed Anthropic SDK speaks
    import httpx2 as ahttpx
except ImportError:  # older SDKs use httpx
    ahttpx = httpx

# Fixtures name claude-sonnet-4-5, which anthropic>=2.12 warns is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

FIX = Path(__file__).parent / "fixtures" / "providers"
ANTHROPIC_KEY = "sk-ant-api03-TESTKEY-do-not-leak-0123456789abcdefABCDEF"
OPENAI_KEY = "sk-proj-TESTKEY-do-not-leak-0123456789abcdefABCDEF"
FAST = {"backoff": 0.0, "max_backoff": 0.0}


def brief() -> Brief:
    return Brief(
        task="arithmetic",
        description="Answer two-digit additions with the number only.",
        base_model="tiny",
        budget_s=1800.0,
        datasets=["dev", "train"],
        recipe={"learning_rate": 0.001, "epochs": 2, "demo_flagged_action": False},
    )


def fixture(name: str, key: str = "") -> str:
    return (FIX / name).read_text().replace("{KEY}", key)


class Server:
    """A scripted HTTP server for MockTransport: each request takes the next step.
    A step is (status, fixture-name[, headers]) or an exception class to raise."""

    def __init__(self, steps: list, mod=httpx, on_request=None):
        self.steps = list(steps)
        self.mod = mod
        self.on_request = on_request
        self.requests: list[dict] = []

    def __call__(self, request):
        body = json.loads(request.content) if request.content else None
        self.requests.append({"url": str(request.url), "headers": dict(request.headers), "body": body})
        if self.on_request:
            self.on_request()
        if not self.steps:
            raise AssertionError("the agent made more requests than the test scripted")
        step = self.steps.pop(0)
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("simulated", request=request)
        status, name, *rest = step
        headers = dict(rest[0]) if rest else {}
        text = fixture(name, ANTHROPIC_KEY if "anthropic" in name else OPENAI_KEY)
        if name.endswith(".txt"):
            headers.setdefault("content-type", "text/event-stream")
        else:
            headers.setdefault("content-type", "application/json")
        return self.mod.Response(status, headers=headers, content=text.encode())

    def client(self):
        return self.mod.Client(transport=self.mod.MockTransport(self))


# -- a stand-in for the daemon's agent loop ------------------------------------------------
def fake_tools() -> dict:
    def list_datasets():
        rows = [
            {"name": "dev", "rows": 50, "path": "data/dev.jsonl"},
            {"name": "train", "rows": 200, "path": "data/train.jsonl"},
        ]
        return ToolOutcome(
            "list_datasets",
            True,
            "dev: 50 rows (data/dev.jsonl); train: 200 rows (data/train.jsonl); test: hidden",
            {"datasets": rows},
        )

    def load_dataset(name, limit=3):
        return ToolOutcome(
            "load_dataset",
            True,
            f"{name}: 200 rows, fields ['completion', 'prompt']",
            {"rows": 200, "head": [{"prompt": "12+7=", "completion": "19"}][:limit]},
        )

    def submit(checkpoint):
        return ToolOutcome("submit", True, f"submitted {checkpoint}")

    return {"list_datasets": list_datasets, "load_dataset": load_dataset, "submit": submit}


def drive(agent, max_steps: int = 30, nudge_at: dict | None = None) -> list:
    """What daemon.agent_loop + Supervisor.execute do, minus policy and events."""
    tools, actions, last = fake_tools(), [], None
    for i in range(max_steps):
        for text in (nudge_at or {}).get(i, []):
            agent.on_nudge(text)
        action = agent.next_action(last)
        actions.append(action)
        if isinstance(action, Say):
            last = None
        elif isinstance(action, Call):
            try:
                args = check_args(action.tool, action.args)
            except ToolArgError as exc:
                last = ToolOutcome(action.tool, False, f"bad call: {exc}")
            else:
                last = tools[action.tool](**args)
            if action.tool == "submit" and last.ok:
                break
        elif isinstance(action, Done):
            break
    return actions


def texts(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, (Say, Done))]


def calls(actions) -> list[tuple]:
    return [(a.tool, a.args) for a in actions if isinstance(a, Call)]


def assert_no_key(actions, *extra):
    blob = json.dumps([repr(a) for a in actions] + [str(x) for x in extra])
    for key in (ANTHROPIC_KEY, OPENAI_KEY):
        assert key not in blob
        assert key[8:30] not in blob


def anthropic_agent(server: Server, monkeypatch, **kw) -> LLMAgent:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return make_llm_agent("anthropic", brief(), http_client=server.client(), **{**FAST, **kw})


def openai_agent(server: Server, monkeypatch, spec: str = "openai", **kw) -> LLMAgent:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("TINKER_TUI_OPENAI_BASE_URL", raising=False)
    return make_llm_agent(spec, brief(), http_client=server.client(), **{**FAST, **kw})


def anthropic_tool_results(req: dict) -> list[dict]:
    return [
        b
        for m in req["body"]["messages"]
        if m["role"] == "user"
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]


def openai_tool_messages(req: dict) -> list[dict]:
    return [m for m in req["body"]["messages"] if m["role"] == "tool"]


# -- Anthropic -----------------------------------------------------------------------------
def test_anthropic_streamed_tool_round_trip_with_caching(monkeypatch):
    srv = Server(
        [
            (200, "anthropic_stream_list_datasets.txt"),
            (200, "anthropic_stream_text.txt"),
            (200, "anthropic_stream_submit.txt"),
        ],
        mod=ahttpx,
    )
    agent = anthropic_agent(srv, monkeypatch)
    actions = drive(agent)

    assert texts(actions)[:2] == [
        "I'll start by looking at the datasets I may use.",
        "There are two splits: train (200 rows) and dev (50 rows). The test split is hidden, as it should be.",
    ]
    assert calls(actions) == [("list_datasets", {}), ("submit", {"checkpoint": "job1"})]
    assert len(srv.requests) == 3
    for req in srv.requests:
        body, headers = req["body"], req["headers"]
        assert req["url"] == "https://api.anthropic.com/v1/messages"
        assert body["stream"] is True and body["model"] == "claude-sonnet-4-6"
        assert ANTHROPIC_KEY in headers.get("x-api-key", "") + headers.get("authorization", "")
        assert [t["name"] for t in body["tools"]] == list(SCHEMAS)
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][1]["input_schema"]["required"] == ["name"]
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        system = body["system"][0]["text"]
        for rule in (
            "test split",
            "constant learning rate",
            "temperature 1.0",
            "wait",
            "submit",
            "one thing at a time",
            "sample",
            "base model",
        ):
            assert rule in system
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][0]["content"][0]["text"].startswith("Task: arithmetic")
    # the tool result went back, tied to its tool_use id, and the text turn got a nudge to continue
    (result,) = anthropic_tool_results(srv.requests[1])
    assert result["tool_use_id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert "train: 200 rows" in result["content"] and result["is_error"] is False
    clock = srv.requests[1]["body"]["messages"][-1]["content"][-1]  # after the result, same user turn
    assert clock["text"].startswith("[tinker-tui clock]") and clock["cache_control"] == {"type": "ephemeral"}
    assert srv.requests[2]["body"]["messages"][-1]["content"][0]["text"] == CONTINUE_PROMPT
    # usage is counted across turns
    assert agent.usage.requests == 3
    assert agent.usage.output_tokens == 41 + 33 + 28
    assert agent.usage.cache_read_tokens == 2117 + 2235
    assert agent.usage.cache_write_tokens == 2117 + 118
    assert_no_key(actions)


def test_anthropic_non_streaming_create(monkeypatch):
    srv = Server([(200, "anthropic_message_list_datasets.json"), (200, "anthropic_stream_submit.txt")], mod=ahttpx)
    agent = anthropic_agent(srv, monkeypatch, stream=False)
    actions = drive(agent, max_steps=3)
    assert calls(actions)[0] == ("list_datasets", {})
    assert "stream" not in srv.requests[0]["body"]


@pytest.mark.parametrize(
    "failure",
    [
        (429, "anthropic_error_429.json", {"retry-after": "3"}),
        (500, "anthropic_error_500.json"),
        (529, "anthropic_error_500.json"),
        (200, "anthropic_stream_overloaded.txt"),
        "timeout",
    ],
)
def test_anthropic_retries_then_succeeds(monkeypatch, failure):
    first = ahttpx.ReadTimeout if failure == "timeout" else failure
    srv = Server([first, (200, "anthropic_stream_list_datasets.txt")], mod=ahttpx)
    slept: list[float] = []
    agent = anthropic_agent(srv, monkeypatch, backoff=0.001, max_backoff=10.0, sleep=slept.append)
    actions = drive(agent, max_steps=2)
    assert calls(actions) == [("list_datasets", {})]
    assert len(srv.requests) == 2 and len(slept) == 1
    if failure != "timeout" and failure[0] == 429:
        assert slept == [3.0]  # retry-after honoured
    else:
        assert slept[0] < 0.01
    assert_no_key(actions)


def test_anthropic_wrong_typed_argument_and_unknown_tool_go_back_to_the_model(monkeypatch):
    srv = Server([(200, "anthropic_stream_two_bad_calls.txt"), (200, "anthropic_stream_submit.txt")], mod=ahttpx)
    agent = anthropic_agent(srv, monkeypatch)
    actions = drive(agent)
    assert calls(actions) == [
        ("load_dataset", {"name": "train", "limit": "three"}),
        ("download_model", {"repo": "Qwen/Qwen3-4B-Instruct"}),
        ("submit", {"checkpoint": "job1"}),
    ]
    results = anthropic_tool_results(srv.requests[1])  # both results in one request
    assert [r["tool_use_id"] for r in results] == ["toolu_01Ab2Cd3Ef4Gh5Ij6Kl7Mn8O", "toolu_01Pq9Rs8Tu7Vw6Xy5Za4Bc3D"]
    assert all(r["is_error"] for r in results)
    assert "load_dataset.limit must be a integer" in results[0]["content"]
    assert "unknown tool 'download_model'" in results[1]["content"]
    assert "list_datasets" in results[1]["content"]  # the daemon's message lists the real tools


def test_anthropic_bad_key_ends_the_agent_without_leaking_it(monkeypatch):
    srv = Server([(401, "anthropic_error_401.json")], mod=ahttpx)  # a server that echoes the key back
    agent = anthropic_agent(srv, monkeypatch)
    actions = drive(agent)
    assert len(actions) == 1 and isinstance(actions[0], Done)
    assert "authentication failed" in actions[0].text and "[REDACTED:" in actions[0].text
    assert_no_key(actions, repr(agent.provider))
    assert agent.next_action(None) == Done()


def test_missing_key_is_a_clear_error_at_start(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TINKER_TUI_OPENAI_BASE_URL", raising=False)
    with pytest.raises(MissingKeyError, match="ANTHROPIC_API_KEY"):
        make_llm_agent("anthropic", brief())
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_llm_agent("openai:gpt-4.1-mini", brief())
    with pytest.raises(ValueError, match="unknown LLM agent"):
        make_llm_agent("gemini", brief())
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        preflight("anthropic:claude-opus-4-5")
    preflight("openai:llama3.1:8b", base_url="http://127.0.0.1:11434/v1")  # a local server needs no key
    with pytest.raises(ValueError, match="only for --agent openai"):
        preflight("anthropic", base_url="http://127.0.0.1:8000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    preflight("anthropic")


# -- OpenAI --------------------------------------------------------------------------------
def test_openai_tool_round_trip(monkeypatch):
    srv = Server([(200, "openai_list_datasets.json"), (200, "openai_text.json"), (200, "openai_submit.json")])
    agent = openai_agent(srv, monkeypatch)
    actions = drive(agent)
    assert texts(actions)[0] == "I'll start by looking at the datasets I may use."
    assert texts(actions)[1].startswith("There are two splits")
    assert calls(actions) == [("list_datasets", {}), ("submit", {"checkpoint": "job1"})]
    for req in srv.requests:
        body = req["body"]
        assert req["url"] == "https://api.openai.com/v1/chat/completions"
        assert req["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
        assert body["model"] == "gpt-4.1"
        assert body["messages"][0]["role"] == "system" and "test split" in body["messages"][0]["content"]
        assert [t["function"]["name"] for t in body["tools"]] == list(SCHEMAS)
        assert body["tools"][0]["type"] == "function"
    second = srv.requests[1]["body"]["messages"]
    assert second[-3]["tool_calls"][0]["id"] == "call_Xq1ZrT8bN3mK5pL7wV9yC2dF"
    assert second[-1]["content"].startswith("[tinker-tui clock] 0.0 of 30 minutes used")
    (tool_msg,) = openai_tool_messages(srv.requests[1])
    assert tool_msg["tool_call_id"] == "call_Xq1ZrT8bN3mK5pL7wV9yC2dF" and "train: 200 rows" in tool_msg["content"]
    assert srv.requests[2]["body"]["messages"][-1] == {"role": "user", "content": CONTINUE_PROMPT}
    assert agent.usage.cache_read_tokens == 1024 + 1792 + 1920
    assert agent.usage.input_tokens == (1874 - 1024) + (1990 - 1792) + (2080 - 1920)
    assert agent.usage.output_tokens == 29 + 31 + 17
    assert_no_key(actions)


@pytest.mark.parametrize(
    "first",
    [
        (429, "openai_error_429.json", {"retry-after-ms": "2800"}),
        (500, "openai_error_500.json"),
        (503, "openai_error_500.json"),
        "timeout",
    ],
)
def test_openai_retries_then_succeeds(monkeypatch, first):
    first = httpx.ReadTimeout if first == "timeout" else first
    srv = Server([first, (200, "openai_list_datasets.json")])
    slept: list[float] = []
    agent = openai_agent(srv, monkeypatch, backoff=0.001, max_backoff=10.0, sleep=slept.append)
    actions = drive(agent, max_steps=2)
    assert calls(actions) == [("list_datasets", {})]
    assert len(srv.requests) == 2 and len(slept) == 1
    if first != httpx.ReadTimeout and first[0] == 429:
        assert slept == [2.8]
    assert_no_key(actions)


def test_openai_malformed_json_arguments_are_answered_by_the_agent(monkeypatch):
    srv = Server([(200, "openai_bad_json.json"), (200, "openai_submit.json")])
    agent = openai_agent(srv, monkeypatch)
    actions = drive(agent)
    # the malformed call never reaches the daemon; the valid one beside it does
    assert calls(actions) == [("list_datasets", {}), ("submit", {"checkpoint": "job1"})]
    assert any("load_dataset call could not run" in t for t in texts(actions))
    results = {m["tool_call_id"]: m["content"] for m in openai_tool_messages(srv.requests[1])}
    assert "not valid JSON" in results["call_Bj5nR8oS2uL9xQ4yA7wM0zB1"]
    assert "train: 200 rows" in results["call_Ck6oS9pT3vM0yR5zB8xN1aC2"]
    # the broken call is replayed to the server as "{}" (servers that re-parse history stay happy)
    replay = srv.requests[1]["body"]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert replay == "{}"


def test_openai_wrong_typed_argument_and_unknown_tool(monkeypatch):
    srv = Server([(200, "openai_two_bad_calls.json"), (200, "openai_submit.json")], mod=ahttpx)
    agent = openai_agent(srv, monkeypatch)  # the OpenAI SDK also takes an httpx2 client
    actions = drive(agent)
    assert [c[0] for c in calls(actions)] == ["load_dataset", "download_model", "submit"]
    results = [m["content"] for m in openai_tool_messages(srv.requests[1])]
    assert results[0].startswith("FAILED: bad call: load_dataset.limit must be a integer")
    assert "unknown tool 'download_model'" in results[1]


def test_openai_compatible_server_without_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TINKER_TUI_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    srv = Server([(200, "openai_list_datasets.json")])
    agent = make_llm_agent("openai:Qwen/Qwen3-8B:latest", brief(), http_client=srv.client(), **FAST)
    drive(agent, max_steps=2)
    req = srv.requests[0]
    assert req["url"] == "http://127.0.0.1:8000/v1/chat/completions"
    assert req["body"]["model"] == "Qwen/Qwen3-8B:latest"


def test_openai_bad_key_and_provider_errors_never_leak(monkeypatch):
    srv = Server([(401, "openai_error_401.json")])
    agent = openai_agent(srv, monkeypatch)
    actions = drive(agent)
    assert isinstance(actions[-1], Done) and "authentication failed" in actions[-1].text
    assert_no_key(actions)
    # the provider's own exception is scrubbed and does not chain the SDK error (its request has the key)
    srv.steps.append((401, "openai_error_401.json"))
    with pytest.raises(ProviderError) as info:
        agent.provider.complete("system", [UserText("hi")], agent.tools)
    assert OPENAI_KEY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


# -- agent behaviour shared by both ----------------------------------------------------------
def test_persistent_outage_gives_bounded_says_then_done(monkeypatch):
    srv = Server([(500, "openai_error_500.json")] * 8)
    agent = openai_agent(srv, monkeypatch, max_retries=1, max_failures=3)
    actions = drive(agent)
    assert [type(a).__name__ for a in actions] == ["Say", "Say", "Say", "Done"]
    assert "Trying again (1/3)" in actions[0].text and "gave up after 2 attempts" in actions[0].text
    assert "after 4 tries" in actions[-1].text
    assert len(srv.requests) == 8
    assert_no_key(actions)


def test_nudge_goes_in_at_the_turn_boundary_and_skips_pending_calls(monkeypatch):
    srv = Server([(200, "openai_two_bad_calls.json"), (200, "openai_submit.json")])
    agent = openai_agent(srv, monkeypatch)
    # step 0: Say; step 1: Call load_dataset; a nudge arrives before step 2
    actions = drive(agent, nudge_at={2: ["Do not download any model. Use the base model."]})
    assert [c[0] for c in calls(actions)] == ["load_dataset", "submit"]
    msgs = srv.requests[1]["body"]["messages"]
    tool_msgs = openai_tool_messages(srv.requests[1])
    assert len(tool_msgs) == 2 and "Not run: the human supervisor" in tool_msgs[1]["content"]
    assert msgs[-1] == {
        "role": "user",
        "content": f"{SUPERVISOR_PREFIX} Do not download any model. Use the base model.",
    }


def test_model_that_stops_calling_tools_is_nudged_then_done(monkeypatch):
    srv = Server([(200, "openai_text.json")] * 3)
    agent = openai_agent(srv, monkeypatch, max_idle_turns=3)
    actions = drive(agent)
    assert [type(a).__name__ for a in actions] == ["Say", "Say", "Say", "Done"]
    assert "without calling a tool" in actions[-1].text
    assert sum(m.get("content") == CONTINUE_PROMPT for m in srv.requests[-1]["body"]["messages"]) == 2


def test_token_budget_stops_the_agent(monkeypatch):
    srv = Server([(200, "openai_list_datasets.json")])
    agent = openai_agent(srv, monkeypatch, token_budget=1000)
    actions = drive(agent)
    assert isinstance(actions[-1], Done) and "tokens" in actions[-1].text
    assert len(srv.requests) == 1


def test_cancel_ends_a_streamed_call_and_a_backoff(monkeypatch):
    # a stop arriving while the stream is being read: the agent notices between events
    srv = Server([(200, "anthropic_stream_list_datasets.txt")], mod=ahttpx, on_request=lambda: agent.cancel())
    agent = anthropic_agent(srv, monkeypatch)
    action = agent.next_action(None)
    assert isinstance(action, Done) and "cancelled" in action.text
    assert agent.next_action(None) == Done()
    # a stop arriving during a long retry backoff: the wait ends at once
    srv = Server([(500, "openai_error_500.json")])
    agent = openai_agent(srv, monkeypatch, backoff=30.0, max_backoff=30.0, sleep=None)
    threading.Timer(0.2, agent.cancel).start()
    t0 = time.monotonic()
    action = agent.next_action(None)
    assert time.monotonic() - t0 < 15  # not the 30 s backoff
    assert isinstance(action, Done) and "cancelled" in action.text and len(srv.requests) == 1
