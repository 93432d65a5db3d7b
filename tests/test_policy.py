"""The policy gate without a daemon: rules, policy files and presets, model identity, and the
approval decisions (session patterns, edit then approve) on a real EventLog."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent_core.oversight.approvals import Approvals
from agent_core.record.events import EventLog, read_events
from agent_core.oversight.policy import HARNESS_DIR, GateContext, classify, gate
from agent_core.training.workspace import Workspace
from agent_core.oversight.policy_file import Policy, PolicyError, build, parse


# -- a gate context as the daemon builds it, over a run's folders -------------------------------
@pytest.fixture
def run_state():
    """The jobs and checkpoints a test puts in the run (the daemon's JobManager holds them)."""
    return SimpleNamespace(ckpts={}, jobs={})


def make_ctx(root: Path, state: SimpleNamespace) -> GateContext:
    workspace, hidden_dir, base = root / "workspace", root / "hidden", root / "base_model"
    (workspace / "data").mkdir(parents=True)
    hidden_dir.mkdir()
    (hidden_dir / "test.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (workspace / "data" / "train.jsonl").write_text('{"prompt": "2+2=", "completion": "4"}\n')
    return GateContext(
        files=Workspace(workspace, root / "frozen"),
        hidden_dir=hidden_dir,
        run_id="r1",
        checkpoints=lambda: dict(state.ckpts),
        checkpoint_path=lambda name: base if name == "base" else state.ckpts.get(name),
        contamination=lambda dataset: [],
        jobs=lambda: [(job.spec, job.state) for job in state.jobs.values()],
    )


def make_model(
    folder: Path,
    hidden: int = 16,
    vocab: int = 40,
    arch: str = "LlamaForCausalLM",
    lineage: dict | None = None,
    tokens: str = "0123456789+-=",
) -> Path:
    """A model folder as save_pretrained writes it: config, tokenizer, a safetensors header."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": [arch],
                "model_type": "llama",
                "hidden_size": hidden,
                "vocab_size": vocab,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
            }
        )
    )
    (folder / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": {c: i for i, c in enumerate(tokens)}}, "added_tokens": []})
    )
    header = json.dumps(
        {"model.embed_tokens.weight": {"dtype": "F32", "shape": [vocab, hidden], "data_offsets": [0, 0]}}
    ).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    if lineage is not None:
        (folder / "lineage.json").write_text(json.dumps(lineage))
    return folder


@pytest.fixture
def ctx(tmp_path, run_state) -> GateContext:
    return make_ctx(tmp_path, run_state)


# -- presets and policy files --------------------------------------------------------------
def test_presets_keep_denials_and_strict_gates_run_python(ctx):
    flagged, strict, auto = Policy("flagged"), Policy("strict"), Policy("auto")
    net = {"code": "import requests\nrequests.get('https://example.com')"}
    assert gate("run_python", net, ctx, flagged).action == "ask"
    assert gate("run_python", net, ctx, auto).action == "allow"
    plain = {"code": "print(sum(range(10)))"}
    assert gate("run_python", plain, ctx, flagged).action == "allow"
    v = gate("run_python", plain, ctx, strict)
    assert (v.action, v.rule) == ("ask", "code_execution")
    for policy in (flagged, strict, auto, Policy("auto", rules={"network": "allow"})):
        assert gate("read_file", {"path": "../hidden/test.jsonl"}, ctx, policy).action == "deny"
        assert gate("write_file", {"path": "../hidden/test.jsonl", "content": ""}, ctx, policy).rule == "eval_tamper"
        assert (
            gate("run_python", {"code": "import os; print(os.environ['ANTHROPIC_API_KEY'])"}, ctx, policy).action
            == "deny"
        )
    # a file's explicit rule wins over the preset
    assert gate("run_python", net, ctx, Policy("auto", rules={"network": "deny"})).action == "deny"
    assert (
        gate("load_dataset", {"name": "hf:gsm8k"}, ctx, Policy("flagged", rules={"outside_download": "deny"})).action
        == "deny"
    )


def test_policy_file_errors_name_the_problem(tmp_path):
    with pytest.raises(PolicyError, match="unknown rule id 'netwrok'"):
        parse('[rules]\nnetwrok = "ask"\n')
    with pytest.raises(PolicyError, match="'maybe' is not an action"):
        parse('[rules]\nnetwork = "maybe"\n')
    with pytest.raises(PolicyError, match="line 2"):
        parse("[rules]\nnetwork = ask\n", "p.toml")
    with pytest.raises(PolicyError, match="always denied"):
        parse('[rules]\neval_access = "allow"\n')
    with pytest.raises(PolicyError, match="cannot be 'allow'"):
        parse('[rules]\nsecret_access = "allow"\n')
    with pytest.raises(PolicyError, match="min_overlap must be in"):
        parse("[contamination]\nmin_overlap = 2\n")
    with pytest.raises(PolicyError, match="approval preset 'lax'"):
        parse('approval = "lax"\n')
    assert parse('[rules]\nsecret_access = "ask"\n')["rules"] == {"secret_access": "ask"}


def test_user_default_then_run_file_then_preset(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "policy.toml").write_text(
        'approval = "strict"\n[rules]\nnetwork = "deny"\noutside_download = "deny"\n[contamination]\nngram = 5\n'
    )
    run_file = tmp_path / "run.toml"
    run_file.write_text('[rules]\noutside_download = "ask"\n[contamination]\nmin_overlap = 0.3\n')
    p = build(home, run_file)
    assert p.preset == "strict"
    assert p.rules == {"network": "deny", "outside_download": "ask"}
    assert p.contamination == {"ngram": 5, "min_overlap": 0.3}
    assert build(home, run_file, "auto").preset == "auto"
    assert Policy.from_json(json.loads(json.dumps(p.to_json()))).rules == p.rules
    bad = tmp_path / "bad.toml"
    bad.write_text('[rules]\nreward_hack = "deny"\n')
    with pytest.raises(PolicyError, match=str(bad)):
        build(home, bad)


# -- paths, the hidden split, the scoring code, secrets --------------------------------------
def test_paths_escape_hidden_and_scoring_code(ctx):
    ws = ctx.workspace
    (ws / "peek").symlink_to(ctx.hidden_dir)
    (ws / "up").symlink_to(ctx.workspace.parent)
    assert classify("read_file", {"path": "../run.json"}, ctx).rule == "workspace_escape"
    assert classify("read_file", {"path": "up/run.json"}, ctx).rule == "workspace_escape"
    assert classify("read_file", {"path": "peek/test.jsonl"}, ctx).rule == "eval_access"
    assert classify("list_files", {"path": "../hidden"}, ctx).rule == "eval_access"
    w = classify("write_file", {"path": "peek/scorer.py", "content": "def score(*a): return 1.0"}, ctx)
    assert (w.action, w.rule) == ("deny", "eval_tamper")
    w = classify("write_file", {"path": str(HARNESS_DIR / "tasks.py"), "content": "x"}, ctx)
    assert (w.action, w.rule) == ("deny", "eval_tamper")
    assert classify("evaluate", {"checkpoint": "base", "split": "test"}, ctx).rule == "eval_access"
    assert classify("read_file", {"path": "data/train.jsonl"}, ctx).action == "allow"


def test_secret_files_and_key_like_content(ctx):
    (ctx.workspace / ".env").write_text("X=1\n")
    (ctx.workspace / "notes.txt").write_text("my key: sk-ant-api03-" + "Zx9" * 12 + "\n")
    (ctx.workspace / "plain.txt").write_text("tokens_per_s: 1234.5\nloss=0.25\n")
    assert classify("read_file", {"path": ".env"}, ctx).rule == "secret_access"
    v = classify("read_file", {"path": "notes.txt"}, ctx)
    assert (v.action, v.rule) == ("deny", "secret_access") and "anthropic_key" in v.reason
    assert classify("read_file", {"path": "plain.txt"}, ctx).action == "allow"


def test_run_python_static_checks(ctx):
    def rule(code):
        v = classify("run_python", {"code": code}, ctx)
        return v.action, v.rule

    assert rule("print(open('../hidden/test.jsonl').read())") == ("deny", "eval_tamper")
    assert rule(f"print(open({str(ctx.hidden_dir / 'test.jsonl')!r}).read())") == ("deny", "eval_tamper")
    assert rule("import agent_core.training.tasks as t; t.score = lambda *a: 1") == ("deny", "eval_tamper")
    assert rule("import os\nprint(os.environ.get('ANTHROPIC_API_KEY'))") == ("deny", "secret_access")
    assert rule("import os\nprint(dict(os.environ))") == ("deny", "secret_access")
    assert rule("import subprocess\nsubprocess.run(['pip', 'install', 'trl'])") == ("ask", "network")
    assert rule("import urllib.request\nurllib.request.urlopen('http://x')") == ("ask", "network")
    assert rule(
        "from transformers import AutoConfig\nc = AutoConfig.from_pretrained('.')\n"
        "print(c.hidden_size, os.environ.get('OMP_NUM_THREADS'))"
    ) == ("allow", "code_execution")
    v = classify("run_python", {"code": "import requests, socket"}, ctx)
    assert v.pattern == "requests,socket" and v.details["uses"] == ["requests", "socket"]


# -- reward_rewrite ---------------------------------------------------------------------------
def test_reward_rewrite_asks_with_a_diff_while_grpo_uses_it(ctx, run_state):
    reward = ctx.workspace / "reward.py"
    reward.write_text("def reward(prompt, completion, **kw):\n    return float(completion == kw['expected'])\n")
    other = ctx.workspace / "helper.py"
    other.write_text("x = 1\n")
    new = "def reward(prompt, completion, **kw):\n    return 1.0\n"
    assert classify("write_file", {"path": "reward.py", "content": new}, ctx).action == "allow"  # no job yet
    # the job's frozen copy is elsewhere; reward_source names the workspace file it came from
    job = SimpleNamespace(
        spec={"method": "grpo", "reward_source": "reward.py", "reward_file": "/frozen/bundle/reward.py"},
        state="running",
    )
    run_state.jobs["job1"] = job
    v = classify("write_file", {"path": "reward.py", "content": new}, ctx)
    assert (v.action, v.rule, v.pattern) == ("ask", "reward_rewrite", "reward.py")
    assert "-    return float(completion == kw['expected'])" in v.details["diff"]
    assert "+    return 1.0" in v.details["diff"]
    job.state = "finished"  # a reward*.py a finished GRPO job used still asks; other files do not
    assert classify("write_file", {"path": "reward.py", "content": new}, ctx).rule == "reward_rewrite"
    job.spec["reward_source"] = "helper.py"
    assert classify("write_file", {"path": "helper.py", "content": "x = 2\n"}, ctx).action == "allow"
    job.state = "running"
    assert classify("write_file", {"path": "helper.py", "content": "x = 2\n"}, ctx).rule == "reward_rewrite"


# -- model substitution -----------------------------------------------------------------------
def test_model_identity_and_lineage(ctx, run_state, tmp_path):
    make_model(ctx.base_model_path)
    good = make_model(tmp_path / "ckpt" / "job1", lineage={"parent": "base", "run": "r1", "base_model": "tiny"})
    no_lineage = make_model(tmp_path / "ckpt" / "job2")
    swapped = make_model(
        tmp_path / "ckpt" / "job3", hidden=32, lineage={"parent": "base", "run": "r1", "base_model": "tiny"}
    )
    child = make_model(tmp_path / "ckpt" / "job4", lineage={"parent": "job2", "run": "r1"})
    run_state.ckpts.update(job1=good, job2=no_lineage, job3=swapped, job4=child)
    assert classify("submit", {"checkpoint": "job1"}, ctx).action == "allow"
    for name, why in (
        ("job2", "no readable lineage.json"),
        ("job3", "config hidden_size"),
        ("job4", "its parent job2"),
        ("base", "not one"),
        ("/tmp/x", "not one"),
    ):
        v = classify("submit", {"checkpoint": name}, ctx)
        assert (v.action, v.rule) == ("deny", "model_substitution"), name
        assert why in v.reason, (name, v.reason)
    # training from a local folder: another architecture is denied, the same one asks
    make_model(ctx.workspace / "qwen-instruct", hidden=64, vocab=151936, arch="Qwen2ForCausalLM")
    make_model(ctx.workspace / "tiny-instruct")
    v = classify("start_training", {"dataset": "train", "base": "qwen-instruct"}, ctx)
    assert (v.action, v.rule) == ("deny", "model_substitution") and "Qwen2ForCausalLM" in v.reason
    v = classify("start_training", {"dataset": "train", "base": "tiny-instruct"}, ctx)
    assert (v.action, v.rule) == ("ask", "model_substitution") and "no lineage" in v.details["identity"]
    assert classify("start_training", {"dataset": "train", "base": "job3"}, ctx).action == "deny"
    make_model(ctx.workspace / "tiny-other-vocab", tokens="abcdefghijklm")
    v = classify("start_training", {"dataset": "train", "base": "tiny-other-vocab"}, ctx)
    assert v.action == "deny" and "vocabulary" in v.reason


# -- decisions ----------------------------------------------------------------------------------
def test_session_scope_is_rule_plus_pattern_and_edits_are_regated(ctx, tmp_path):
    sup = SimpleNamespace(log=EventLog(tmp_path / "events.jsonl"), policy=Policy(), states=[])
    ap = Approvals(
        sup.log,
        on_waiting=lambda waiting: sup.states.append("waiting_approval" if waiting else "running"),
        recheck=lambda t, a: gate(t, a, ctx, sup.policy),
    )

    async def scenario():
        async def call(tool, args, answer):
            task = asyncio.ensure_future(ap.settle("c", tool, args, gate(tool, args, ctx, sup.policy)))
            await asyncio.sleep(0.01)
            answered = answer(ap) if ap.pending else None
            await asyncio.sleep(0.01)
            return await task, answered

        # approve for the session: the same source is approved again, another source asks
        (how, *_), _ = await call("load_dataset", {"name": "hf:gsm8k"}, lambda a: a.decide(None, "approve", "session"))
        assert how == "run"
        (how, *_), answered = await call("load_dataset", {"name": "hf:gsm8k"}, lambda a: "asked")
        assert how == "run" and answered is None
        (how, _, _, reason), answered = await call(
            "load_dataset", {"name": "hf:math"}, lambda a: a.decide(None, "veto", reason="use local data")
        )
        assert (how, reason) == ("veto", "use local data")

        # edit then approve: a denied edit and a malformed edit are refused, the request stays
        task = asyncio.ensure_future(
            ap.settle(
                "c",
                "run_python",
                {"code": "import requests"},
                gate("run_python", {"code": "import requests"}, ctx, sup.policy),
            )
        )
        await asyncio.sleep(0.01)
        bad = ap.decide(None, "approve", edit={"code": "print(open('../hidden/test.jsonl').read())"})
        assert not bad["ok"] and "eval_tamper" in bad["error"]
        bad = ap.decide(None, "approve", edit={"timeout_s": "soon"})
        assert not bad["ok"] and "timeout_s must be a number" in bad["error"]
        assert len(ap.pending) == 1
        ok = ap.decide(None, "approve", edit={"code": "print('offline')"})
        assert ok["ok"] and ok["edited_args"] == {"code": "print('offline')"}
        how, args, verdict, _ = await task
        assert (how, args) == ("run", {"code": "print('offline')"})

        # an edit flagged by another rule asks again, for that rule (strict: run_python asks)
        sup.policy = Policy("strict")
        task = asyncio.ensure_future(
            ap.settle(
                "c", "run_python", {"code": "print(1)"}, gate("run_python", {"code": "print(1)"}, ctx, sup.policy)
            )
        )
        await asyncio.sleep(0.01)
        assert ap.pending_requests()[0]["rule"] == "code_execution"
        assert ap.decide(None, "approve", edit={"code": "import requests"})["ok"]
        await asyncio.sleep(0.01)
        [second] = ap.pending_requests()
        assert second["rule"] == "network" and second["details"]["args"] == {"code": "import requests"}
        ap.decide(None, "veto")
        assert (await task)[0] == "veto"

    asyncio.run(scenario())
    # auto: a flagged call runs without asking, and the log says so
    sup.policy = Policy("auto")
    res = asyncio.run(
        ap.settle("c", "load_dataset", {"name": "hf:x"}, gate("load_dataset", {"name": "hf:x"}, ctx, sup.policy))
    )
    assert res[0] == "run"
    sup.log.close()
    info = [e for e in read_events(tmp_path / "events.jsonl") if e["type"] == "alert"]
    assert [(a["rule"], a["severity"]) for a in info] == [("outside_download", "info")]
    decisions = [e for e in read_events(tmp_path / "events.jsonl") if e["type"] == "approval_decision"]
    assert [d["decision"] for d in decisions] == ["approve", "approve", "veto", "approve", "approve", "veto"]
    assert decisions[0]["pattern"] == "hf:gsm8k" and decisions[1]["by"] == "session rule"
    assert decisions[3]["edited_args"] == {"code": "print('offline')"}


def test_contamination_session_pattern_is_the_dataset_content(ctx):
    from agent_core.oversight.contamination import check, read_jsonl

    ctx.contamination = lambda ds: [
        check(
            list(read_jsonl(str(ctx.dataset_path(ds)))),
            list(read_jsonl(str(ctx.hidden_dir / "test.jsonl"))),
            name="test",
        )
    ]
    leak = ctx.workspace / "data" / "mix.jsonl"
    leak.write_text('{"prompt": "1+1=", "completion": "2"}\n')
    first = classify("start_training", {"dataset": "mix"}, ctx)
    assert (first.action, first.rule) == ("ask", "contamination") and first.details["count"] == 1
    assert first.details["examples"][0]["held_out"].startswith("1+1=")
    assert classify("start_training", {"dataset": "mix"}, ctx).pattern == first.pattern
    leak.write_text(leak.read_text() + '{"prompt": "1 + 1 =", "completion": "2"}\n')
    assert classify("start_training", {"dataset": "mix"}, ctx).pattern != first.pattern


# -- run_python: the whole code, and where it is flagged ----------------------------------------
def test_run_python_verdict_carries_the_whole_code_and_the_flagged_span(ctx):
    """The dangerous part placed past any preview cut (20,000 characters in, at the very end) is
    in the verdict's details, and a span points at it."""
    code = "".join(f"value_{i} = {i} * 2\n" for i in range(1500)) + "import socket"
    assert len(code) > 20_000 and code.endswith("import socket")
    for v in (classify("run_python", {"code": code}, ctx), gate("run_python", {"code": code}, ctx, Policy("flagged"))):
        assert (v.action, v.rule) == ("ask", "network")
        assert v.details["code"] == code  # whole: no cut
        [[start, end, label]] = v.details["spans"]
        assert (code[start:end], end, label) == ("import socket", len(code), "network: socket")
        assert json.loads(json.dumps(v.details))["spans"] == v.details["spans"]  # as logged


def test_code_spans_locate_each_kind_of_finding(ctx):
    hidden = str(ctx.hidden_dir / "test.jsonl")
    cases = [
        ("print(open('../hidden/test.jsonl').read())", "eval_tamper", [("/hidden", "eval: hidden folder")]),
        (f"rows = open({hidden!r}).read()", "eval_tamper", [(str(ctx.hidden_dir), "eval: hidden folder")]),
        ("import agent_core.training.tasks as t", "eval_tamper", [("agent_core.training", "eval: harness code")]),
        (
            "import os\nk = os.environ['OPENAI_API_KEY']",
            "secret_access",
            [("os.environ", "secrets: environment"), ("'OPENAI_API_KEY'", "secrets: environment")],
        ),
        ("print(open('/root/.netrc').read())", "secret_access", [("/.netrc'", "secrets: credentials file")]),
        # an import among others, or split over lines, is located (in the syntax tree)
        (
            "import json, socket\nimport os,\\\n    ssl",
            "network",
            [("socket", "network: socket"), ("ssl", "network: socket")],
        ),
        ("from urllib.request import urlopen", "network", [("from urllib.request", "network: urllib")]),
        ("m = __import__('requests')", "network", [("__import__('requests", "network: requests")]),
        (
            "import subprocess\nsubprocess.run('curl -sO http://x', shell=True)",
            "network",
            [("curl", "network: curl/wget")],
        ),
        ("é = 'ü'; import os, httpx", "network", [("httpx", "network: httpx")]),  # columns past UTF-8
        ("s = '\x0c\u2028'\rimport os, socket", "network", [("socket", "network: socket")]),  # Python's lines
    ]
    for code, rule, want in cases:
        v = classify("run_python", {"code": code}, ctx)
        assert v.rule == rule, code
        assert v.details["code"] == code
        assert [(code[s:e], label) for s, e, label in v.details["spans"]] == want, code
