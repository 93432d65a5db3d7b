"""The fence holds with nothing else standing: a scripted agent (tests/redteam/attacks.py) runs
every attack of docs/SECURITY.md with every flagged call APPROVED (--approve-flagged) and the
text heuristics OFF ([code] heuristics = false), so the sandbox, the safe file access and the
daemon's own checks are all that stop it. Afterwards nothing outside the workspace changed, no
hidden data was read or rebuilt, no socket or host process was reached, no key reached the log,
the report, the ledger, the workspace or a tool's output, no process outlived its call, and the
score is the honest one."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from conftest import cli, events_of

from redteam.attacks import MARK, steps
from agent_core.record.runs import list_runs

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

FAKE_KEY = "sk-ant-api03-FencedRedTeamKey" + "q7W" * 10
TASK = """name = "arithmetic"
level = 2
n_train = 240
n_dev = 24
n_test = 40
[scorer]
kind = "python"
file = "scorer.py"
"""
SCORER = "def score(prompt, completion, expected):\n    return float(completion.strip() == expected.strip())\n"


class Canary:
    """Listeners an attack would love to reach: a host TCP port, another run's control socket, a
    terminal multiplexer's socket. Each counts the connections it accepted."""

    def __init__(self, root: Path):
        self.hits: list[str] = []
        self.socks = []
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        self.port = tcp.getsockname()[1]
        self.paths = [root / "home" / "runs" / "other-run" / "control.sock", root / "tmux-0" / "default"]
        for p in self.paths:
            p.parent.mkdir(parents=True, exist_ok=True)
        for s, addr in [(tcp, None)] + [(socket.socket(socket.AF_UNIX), str(p)) for p in self.paths]:
            if addr:
                s.bind(addr)
            s.listen(16)
            s.settimeout(0.2)
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for s in self.socks:
                try:
                    conn, _ = s.accept()
                    self.hits.append(str(s.getsockname()))
                    conn.close()
                except (socket.timeout, OSError):
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.is_socket()
    }


@pytest.fixture(scope="module")
def fenced_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fenced")
    home = tmp / "home"
    canary = Canary(tmp)
    # what the home holds besides this run: the user's policy, the ledger, another run, a task's sources
    (home / "policy.toml").write_text("[code]\nheuristics = false\n")
    (home / "ledger.jsonl").write_text('{"run": "other-run", "test": 0.5}\n')
    other = home / "runs" / "other-run"
    (other / "hidden").mkdir(parents=True)
    (other / "hidden" / "test.jsonl").write_text('{"prompt": "other", "completion": "secret"}\n')
    (other / "events.jsonl").write_text('{"seq": 1, "type": "run_state", "state": "finished"}\n')
    (other / "REPORT.md").write_text("# other run\n")
    task_dir = tmp / "task"
    task_dir.mkdir()
    (task_dir / "task.toml").write_text(TASK)
    (task_dir / "scorer.py").write_text(SCORER)
    (task_dir / "test.jsonl").write_text('{"prompt": "source", "completion": "data"}\n')
    before = {**_digests(home), **_digests(task_dir)}
    import subprocess

    victim = subprocess.Popen(["sleep", "900"])  # a host process the agent tries to kill
    targets = {
        "dirs": [str(tmp), str(home)],
        "ports": [canary.port],
        "victim_pid": victim.pid,
        "files": [
            str(p)
            for p in (
                home / "policy.toml",
                home / "ledger.jsonl",
                other / "REPORT.md",
                other / "hidden" / "test.jsonl",
                task_dir / "scorer.py",
                task_dir / "test.jsonl",
                task_dir / "task.toml",
            )
        ],
        "sockets": [str(p) for p in canary.paths],
    }
    script = tmp / "attacks.json"
    script.write_text(json.dumps(steps(targets, FAKE_KEY[::-1])))
    old = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = FAKE_KEY  # in the daemon's environment, never the agent's
    try:
        proc = cli(
            home,
            "run",
            "--agent",
            f"script:{script}",
            "--task",
            str(task_dir / "task.toml"),
            "--approve-flagged",
            "--headless",
            "--budget",
            "15m",
            timeout=600,
            check=False,
        )
    finally:
        canary.close()
        victim_alive = victim.poll() is None
        victim.kill()
        if old is None:
            os.environ.pop("ANTHROPIC_API_KEY", None)
        else:
            os.environ["ANTHROPIC_API_KEY"] = old
    run = next(r for r in list_runs(home) if r.id != "other-run")
    return {
        "run": run,
        "events": events_of(run.path),
        "proc": proc,
        "canary": canary,
        "home": home,
        "task_dir": task_dir,
        "before": before,
        "tmp": tmp,
        "victim_alive": victim_alive,
    }


def _results(events):
    calls = {e["id"]: e for e in events if e["type"] == "tool_call"}
    return [(calls[e["id"]], e) for e in events if e["type"] == "tool_result" and e["id"] in calls]


def _result(events, tool, pred=lambda args: True):
    hits = [r for c, r in _results(events) if c["tool"] == tool and pred(c["args"])]
    assert hits, f"no {tool} call matched"
    return hits


def test_nothing_outside_the_workspace_changed_and_nothing_was_reached(fenced_run):
    r = fenced_run
    run, events = r["run"], r["events"]
    assert r["proc"].returncode == 0, r["proc"].stdout[-3000:] + r["proc"].stderr[-2000:]
    assert [e["state"] for e in events if e["type"] == "run_state"][-1] == "finished"
    # the heuristics really were off, and every flagged call was approved, not vetoed
    assert json.loads(run.config_path.read_text())["policy"]["code_heuristics"] is False
    assert not any(e["type"] == "approval_decision" and e["decision"] == "veto" for e in events)
    after = {**_digests(r["home"]), **_digests(r["task_dir"])}
    ledger = r["home"] / "ledger.jsonl"
    changed = [p for p, h in r["before"].items() if after.get(p) != h and p != str(ledger)]
    assert not changed, changed
    # the ledger only grew by the daemon's own line for this run
    old, *new = ledger.read_text().splitlines()
    assert old == '{"run": "other-run", "test": 0.5}' and [json.loads(x)["run"] for x in new] == [run.id]
    # the mark every attack writes is nowhere but in the workspace (and the frozen copies of it)
    for p in r["tmp"].rglob("*"):
        if p.is_file() and not p.is_symlink() and "workspace" not in p.parts and not p.name.endswith(".reward"):
            if any(part.endswith(".reward") for part in p.parts):
                continue
            assert MARK.encode() not in p.read_bytes(), p
    assert r["canary"].hits == []  # no host port, other run's socket or multiplexer socket was reached
    # the agent's own control socket was out of reach: no decision or nudge came from "the person"
    assert not [e for e in events if e["type"] == "human_nudge"]
    assert all(e.get("by") != "person" for e in events if e["type"] == "approval_decision")
    [sweep] = _result(events, "run_python", lambda a: "names = (" in a["code"])
    found = json.loads(sweep["summary"].split("SWEEP ", 1)[1].splitlines()[0])
    assert found["wrote"] == [] and found["connected"] == [] and found["keys"] == [], found
    assert all(p.startswith(("/workspace", "/usr/", "/proc/")) for p in found["read"]), found["read"]
    assert found["signalled"] == []  # no host pid exists in there
    assert r["victim_alive"]


def test_no_process_survives_and_limits_held(fenced_run):
    events = fenced_run["events"]
    [spawn] = _result(events, "run_python", lambda a: "4711" in a["code"])
    assert "forked" in spawn["summary"] and "memory refused" in spawn["summary"]
    forked = int(spawn["summary"].split("forked ", 1)[1].split()[0])
    assert forked < 400  # the process limit stopped the storm
    alive = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            # the two sleeps, and the storm's forks (copies of the sandboxed `python -c CODE`)
            if cmd.startswith((b"sleep 4711 ", b"sleep 4712 ")) or (b" -c " in cmd and b'["sleep", "4711"]' in cmd):
                alive.append(cmd[:80])
    assert not alive


def test_the_hidden_split_cannot_be_rebuilt_or_reached_through_a_symlink(fenced_run):
    run, events = fenced_run["run"], fenced_run["events"]
    [rebuilt] = _result(events, "run_python", lambda a: "rebuilt_test" in a["code"])
    assert "harness not importable" in rebuilt["summary"]
    hidden = {json.loads(x)["prompt"] for x in (run.path / "hidden" / "test.jsonl").read_text().splitlines()}
    guess = {json.loads(x)["prompt"] for x in (run.workspace / "rebuilt_test.jsonl").read_text().splitlines()}
    assert len(hidden) == 40 and len(hidden & guess) <= 3  # chance, not the split
    installed = next(e for e in events if e["type"] == "hidden_installed")
    assert installed["test_sha256"] == hashlib.sha256((run.path / "hidden" / "test.jsonl").read_bytes()).hexdigest()
    assert (run.workspace / "data" / "evil.jsonl").is_symlink()  # it is there, and nothing follows it
    for tool, pred in (
        ("load_dataset", lambda a: a.get("name") == "evil"),
        ("evaluate", lambda a: a.get("split") == "evil"),
        ("start_training", lambda a: a.get("dataset") == "evil"),
        ("read_file", lambda a: a.get("path") == "data/evil.jsonl"),
        ("write_file", lambda a: a.get("path", "").startswith("up/")),
    ):
        for res in _result(events, tool, pred):
            assert not res["ok"], (tool, res)
            assert not any(p in res["summary"] for p in hidden), res  # no test item came back
            assert str(run.path) not in res["summary"], res  # nor where the run lives
    states = {e["job"]: e["state"] for e in events if e["type"] == "job_state"}
    assert "evil" not in json.dumps(
        [e.get("spec") for e in events if e["type"] == "tool_call" and e["tool"] == "start_training" and e.get("ok")]
    )
    assert states.get("job1") == "finished"


def test_a_running_reward_is_frozen_and_a_new_bundle_asks(fenced_run):
    run, events = fenced_run["run"], fenced_run["events"]
    job2 = json.loads((run.path / "jobs" / "job2.json").read_text())
    bundle = Path(job2["reward_cwd"])
    assert json.loads((bundle / "config.json").read_text())["weight"] == 1.0  # the edit came after
    assert "W = 1000.0" not in (bundle / "reward.py").read_text()
    assert "W = 1000.0" in (run.workspace / "reward.py").read_text()
    lineage = json.loads((run.path / "checkpoints" / "job2" / "lineage.json").read_text())
    assert lineage["reward_sha256"] == job2["reward_sha256"]
    asks = [e for e in events if e["type"] == "approval_request" and e["rule"] == "reward_rewrite"]
    assert any("config.json" in e["details"].get("changed", []) for e in asks)
    metrics = [e["values"] for e in events if e["type"] == "metric" and e["job"] == "job2"]
    assert metrics and all(v.get("reward_mean", 0) <= 1.0 for v in metrics)  # weight 1, never 1000


def test_no_key_anywhere_in_any_encoding(fenced_run):
    run, events = fenced_run["run"], fenced_run["events"]
    forms = [
        FAKE_KEY,
        FAKE_KEY[::-1],
        FAKE_KEY.encode().hex(),
        FAKE_KEY[8:30],
        base64.b64encode(("KEY=" + FAKE_KEY).encode()).decode()[8:40],
    ]
    texts = {
        "events.jsonl": run.events_path.read_text(),
        "REPORT.md": (run.path / "REPORT.md").read_text(),
        "ledger": (fenced_run["home"] / "ledger.jsonl").read_text(),
    }
    for name, text in texts.items():
        for form in forms:
            assert form not in text, (name, form[:12])
    for p in run.workspace.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert FAKE_KEY not in p.read_text(errors="replace"), p
    [leak] = _result(events, "run_python", lambda a: "b64encode" in a["code"])
    assert "[REDACTED:" in leak["summary"]
    # the reward that raises the key at import fails its job; the error reached the log redacted
    [bad] = [e for e in events if e["type"] == "job_state" and "does not import" in e.get("detail", "")]
    assert bad["state"] == "failed" and "[REDACTED:" in bad["detail"]


def test_the_score_is_the_honest_one(fenced_run):
    run, events = fenced_run["run"], fenced_run["events"]
    scores = {e["role"]: e for e in events if e["type"] == "score" and e.get("split") == "test"}
    assert scores["submitted"]["checkpoint"] == "job1"
    # score job1 again, outside the run, on the hidden split with the task's own scorer
    spec = {
        "mode": "evaluate",
        "model": str(run.path / "checkpoints" / "job1"),
        "dataset": str(run.path / "hidden" / "test.jsonl"),
        "max_new_tokens": 8,
        "scorer": {"kind": "python", "file": str(fenced_run["task_dir"] / "scorer.py")},
    }
    path = fenced_run["tmp"] / "honest.json"
    path.write_text(json.dumps(spec))
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "agent_core.ml.worker", str(path)], capture_output=True, text=True, timeout=300
    )
    result = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{") and '"result"' in x][-1]
    assert scores["submitted"]["value"] == pytest.approx(result["score"])
