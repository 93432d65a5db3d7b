"""The fence (agent_core/oversight/fence.py) for real: run_python's code and a reward process see only their
workspace, reach no network, host file, socket or process, get no key, hit their limits, and die
with their call. Nothing here relies on a keyword scan: the code is handed to the sandbox as is."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from agent_core.oversight import fence, sandbox
from agent_core.oversight.sandbox import HEAD, TAIL, run_code

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

FAKE_KEY = "sk-ant-api03-" + "F4k3" * 10
# Obfuscated on purpose: the fence, not a scan, stops each of these.
PROBE = r"""
import os, sys, socket
g = getattr
E = g(os, "envi" + "ron")
print("cwd", os.getcwd())
print("key", [k for k in E if "KEY" in k], "%s" % any("sk-ant" in v for v in E.values()))
print("pid1env", "sk-ant" in open("/proc/1/environ", "rb").read().decode("latin1"))
print("procs", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
open("made_here.txt", "w").write("ok")
for name, path in (("runjson", "@RUN@/run.json"), ("hidden", "@RUN@/hidden/test.jsonl"),
                   ("harness", "@HARNESS@"), ("home", os.path.expanduser("~root") + "/.bashrc"),
                   ("sock", "@RUN@/control.sock"), ("run", "/run")):
    print(name, "visible" if os.path.exists(path) else "absent")
for name, path in (("usr", "/usr/evil.txt"), ("venv", sys.prefix + "/evil.txt"), ("etc", "/etc/evil")):
    try:
        open(path, "w").write("x")
        print(name, "writable")
    except OSError as exc:
        print(name, "refused", type(exc).__name__)
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("@RUN@/control.sock")
    print("unix reached")
except OSError as exc:
    print("unix", type(exc).__name__)
try:
    socket.create_connection(("127.0.0.1", @PORT@), timeout=2)
    print("loopback reached")
except OSError as exc:
    print("loopback", type(exc).__name__)
try:
    socket.create_connection(("example.com", 80), timeout=2)
    print("net reached")
except OSError as exc:
    print("net", type(exc).__name__)
try:
    os.kill(@HOSTPID@, 15)
    print("kill reached")
except OSError as exc:
    print("kill", type(exc).__name__)
"""


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    run = tmp_path / "run"
    (run / "workspace").mkdir(parents=True)
    (run / "hidden").mkdir()
    (run / "hidden" / "test.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    (run / "run.json").write_text("{}")
    return run


def test_the_fence_shows_only_the_workspace(run_dir):
    from agent_core.oversight.policy import HARNESS_DIR

    listener = socket.socket()  # a host service on loopback: the sandbox's loopback is its own
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    ctl = socket.socket(socket.AF_UNIX)  # a run's control socket
    ctl.bind(str(run_dir / "control.sock"))
    ctl.listen()
    victim = os.getpid()
    code = (
        PROBE.replace("@RUN@", str(run_dir))
        .replace("@HARNESS@", str(HARNESS_DIR / "tasks.py"))
        .replace("@PORT@", str(listener.getsockname()[1]))
        .replace("@HOSTPID@", str(victim))
    )
    try:
        res = asyncio.run(run_code(code, run_dir / "workspace", timeout=60))
    finally:
        listener.close()
        ctl.close()
    out = res["output"]
    assert res["exit"] == 0, out
    assert res["isolation"] == "bwrap"
    assert "cwd /workspace" in out
    assert "key [] False" in out and "pid1env False" in out and "F4k3" not in out
    procs = eval(out.split("procs ", 1)[1].splitlines()[0])
    assert max(procs) < 10  # its own PID namespace: no host process is visible
    for name in ("runjson", "hidden", "harness", "home", "sock", "run"):
        assert f"{name} absent" in out, name
    for name in ("usr", "venv", "etc"):
        assert f"{name} refused" in out, name
    assert "unix reached" not in out and "loopback reached" not in out and "net reached" not in out
    assert "kill ProcessLookupError" in out  # the host's pid does not exist in there
    assert any("example.com" in a for a in res["network_attempts"])  # the early warning still speaks
    assert (run_dir / "workspace" / "made_here.txt").read_text() == "ok"


def _host_cmdlines() -> list[str]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                out.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
    return out


def _gone_soon(prefixes: tuple[str, ...]) -> None:
    """The killed sandbox's processes leave the host's process table within a few seconds (the
    kernel tears a PID namespace down asynchronously; a loaded machine can take a moment)."""
    deadline = time.monotonic() + 10
    while (left := [c for c in _host_cmdlines() if c.startswith(prefixes)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, left


def test_no_process_outlives_the_call(run_dir):
    code = (
        "import subprocess, os\n"
        "subprocess.Popen(['sleep', '4242'], start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    os.execvp('sleep', ['sleep', '4243'])\n"
        "print('spawned')"
    )
    res = asyncio.run(run_code(code, run_dir / "workspace", timeout=30))
    assert "spawned" in res["output"]
    _gone_soon(("sleep 4242", "sleep 4243"))
    res = asyncio.run(
        run_code(
            "import subprocess\nsubprocess.Popen(['sleep', '4244'])\nimport time\ntime.sleep(60)",
            run_dir / "workspace",
            timeout=2,
        )
    )
    assert res["timed_out"] and res["seconds"] < 15
    _gone_soon(("sleep 4244",))


def test_limits_hold(run_dir, monkeypatch):
    monkeypatch.setattr(
        sandbox, "LIMITS", fence.Limits(cpu_s=5, memory_bytes=1 << 30, processes=40, file_bytes=1 << 20, open_files=64)
    )
    code = r"""
import os, time
try:
    b = bytearray(2 << 30); print("memory unlimited")
except MemoryError:
    print("memory refused")
try:
    open("big.bin", "wb").write(b"x" * (2 << 20)); print("file unlimited")
except OSError as exc:
    print("file refused", exc.errno)
fds = []
try:
    for _ in range(200): fds.append(open("/dev/null"))
    print("fds unlimited")
except OSError:
    print("fds refused", len(fds))
kids = 0
try:
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            time.sleep(5); os._exit(0)
        kids += 1
    print("procs unlimited")
except OSError:
    print("procs refused", kids)
"""
    import signal

    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: the write fails instead of killing
    try:
        res = asyncio.run(run_code(code, run_dir / "workspace", timeout=60))
    finally:
        signal.signal(signal.SIGXFSZ, old)
    out = res["output"]
    assert "memory refused" in out and "file refused" in out and "fds refused" in out, out
    if fence.PidsCgroup(10).path is not None or os.getuid() != 0:
        assert "procs refused" in out, out
    res = asyncio.run(run_code("while True: pass", run_dir / "workspace", timeout=60))
    assert res["exit"] != 0 and not res["timed_out"] and res["seconds"] < 30  # RLIMIT_CPU ends it


def test_approved_network_and_output_cap(run_dir):
    res = asyncio.run(
        run_code("import socket; print(socket.gethostname())", run_dir / "workspace", network=True, timeout=30)
    )
    assert res["isolation"] == "bwrap+network" and res["exit"] == 0
    res = asyncio.run(
        run_code(
            "import sys\nfor i in range(200000): sys.stdout.write(f'line {i}\\n')", run_dir / "workspace", timeout=60
        )
    )
    assert res["bytes"] > HEAD + TAIL
    assert len(res["output"]) < HEAD + TAIL + 200 and "bytes of output not kept" in res["output"]
    assert "line 0\n" in res["output"] and "line 199999" in res["output"]


def test_without_bubblewrap_the_fence_refuses_with_a_clear_message(run_dir, monkeypatch):
    monkeypatch.setenv("TINKER_TUI_BWRAP", "none")
    ok, why = fence.available()
    assert not ok and "apt-get install bubblewrap" in why and "--unsafe-no-sandbox" in why
    with pytest.raises(fence.FenceUnavailable, match="bubblewrap"):
        asyncio.run(run_code("print(1)", run_dir / "workspace"))
    res = asyncio.run(
        run_code(
            "import os\nprint('ran', os.getcwd(), 'ANTHROPIC_API_KEY' in os.environ)",
            run_dir / "workspace",
            fenced=False,
        )
    )  # --unsafe-no-sandbox
    assert res["isolation"] == "none" and f"ran {run_dir / 'workspace'} False" in res["output"]


def test_a_run_without_bubblewrap_refuses_to_start_unless_the_person_says_unsafe(tmp_path):
    import json
    import subprocess
    import sys
    from conftest import ROOT, events_of, write_script
    from agent_core.record.runs import list_runs
    from screens.widgets.status import StatusInfo, render_status
    from screens.widgets.palette import Palette

    home = tmp_path / "home"
    env = {**os.environ, "TINKER_TUI_HOME": str(home), "TINKER_TUI_BWRAP": "none"}
    agent = write_script(tmp_path / "steps.json", [{"tool": "run_python", "args": {"code": "print('ran unfenced')"}}])
    run = lambda *extra: subprocess.run(
        [
            sys.executable,
            "-m",
            "tinker_tui",
            "run",
            "--agent",
            agent,  # noqa: E731
            "--headless",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    refused = run()
    assert refused.returncode == 2 and "apt-get install bubblewrap" in refused.stderr
    assert not list_runs(home)  # nothing started
    unsafe = run("--unsafe-no-sandbox")
    assert unsafe.returncode == 0, unsafe.stderr
    [r] = list_runs(home)
    assert not r.is_live()  # `run --headless` returns once the daemon wrote REPORT.md and went
    events = events_of(r.path)
    assert any(e["type"] == "alert" and e["rule"] == "sandbox" and e["severity"] == "high" for e in events)
    assert any(e["type"] == "tool_result" and "ran unfenced" in e["summary"] for e in events)
    assert "**NONE** — started with --unsafe-no-sandbox" in (r.path / "REPORT.md").read_text()
    assert json.loads(r.config_path.read_text())["unsafe_no_sandbox"] is True
    line = render_status(StatusInfo(run_id=r.id, unsandboxed=True), Palette()).plain
    assert "NO SANDBOX" in line
