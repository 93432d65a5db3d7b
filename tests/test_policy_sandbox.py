"""run_python's fence, for real: a scrubbed environment, no network, no package installs, the
hidden split invisible and the run directory read-only (namespaces where the machine allows),
a timeout that kills, output capped."""
from __future__ import annotations

import asyncio

import pytest

from agent_core.sandbox import HEAD, TAIL, namespaces_available, run_code

PROBE = """
import os, socket, subprocess
print("cwd", os.getcwd())
print("key", os.environ.get("ANTHROPIC_API_KEY"))
print("hidden", sorted(os.listdir("../hidden")) if os.path.isdir("../hidden") else None)
open("made_here.txt", "w").write("ok")
try:
    open("../../harness.py", "w").write("SCORE = 'hacked'")
    print("harness writable")
except OSError as exc:
    print("harness", type(exc).__name__)
try:
    open("../run.json", "w").write("{}")
    print("run.json writable")
except OSError as exc:
    print("run.json", type(exc).__name__)
r = subprocess.run(["umount", os.path.abspath("../hidden")], capture_output=True)
print("umount", "ok" if r.returncode == 0 else "refused", sorted(os.listdir("../hidden")) if os.path.isdir("../hidden") else None)
try:
    socket.create_connection(("example.com", 80), timeout=2)
    print("net reached")
except OSError as exc:
    print("net", type(exc).__name__)
try:
    subprocess.run(["pip", "install", "requests"], capture_output=True)
    print("pip ran")
except OSError as exc:
    print("pip", type(exc).__name__)
"""


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-" + "F4k3" * 10)
    (tmp_path / "harness.py").write_text("SCORE = 'honest'\n")
    tmp_path = tmp_path / "run"
    (tmp_path / "workspace").mkdir(parents=True)
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "test.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (tmp_path / "run.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("namespaces", [True, False])
def test_fence(run_dir, namespaces):
    if namespaces and not namespaces_available():
        pytest.skip("this machine gives no user/mount/network namespaces (unshare -rmn)")
    res = asyncio.run(run_code(PROBE, run_dir / "workspace", run_dir=run_dir, hide=[run_dir / "hidden"],
                               readonly=[run_dir.parent], use_namespaces=namespaces, timeout=30))
    out = res["output"]
    assert f"cwd {run_dir / 'workspace'}" in out
    assert "key None" in out
    assert "net PermissionError" in out and "net reached" not in out
    assert "pip PermissionError" in out and "pip ran" not in out
    assert any("example.com" in a for a in res["network_attempts"])
    assert (run_dir / "workspace" / "made_here.txt").read_text() == "ok"
    if namespaces:
        assert res["isolation"] == "namespace"
        assert "hidden []" in out  # an empty tmpfs over the hidden split
        assert "umount refused []" in out  # the agent's code cannot take the fence down
        assert "run.json OSError" in out and (run_dir / "run.json").read_text() == "{}"
        # the harness's code is read-only, and the workspace inside it stays writable
        assert "harness OSError" in out and "honest" in (run_dir.parent / "harness.py").read_text()
    else:
        assert res["isolation"] == "audit-hook"


def test_approved_network_code_runs_unfenced_and_timeouts_kill(run_dir):
    res = asyncio.run(run_code("import socket; socket.getaddrinfo('localhost', 80); print('lookup ok')",
                               run_dir / "workspace", network=True, timeout=30))
    assert "lookup ok" in res["output"] and not res["network_attempts"]
    res = asyncio.run(run_code("import time\nprint('started', flush=True)\ntime.sleep(30)",
                               run_dir / "workspace", timeout=1))
    assert res["timed_out"] and "started" in res["output"] and res["seconds"] < 10


def test_output_is_capped(run_dir):
    res = asyncio.run(run_code("import sys\nfor i in range(200000): sys.stdout.write(f'line {i}\\n')",
                               run_dir / "workspace", timeout=60))
    assert res["bytes"] > HEAD + TAIL
    assert len(res["output"]) < HEAD + TAIL + 200 and "bytes of output not kept" in res["output"]
    assert "line 0\n" in res["output"] and "line 199999" in res["output"]
