"""Running the agent's Python code (`run_python`): a subprocess, fenced in.

- environment: scrubbed (agent_core.jobs.worker_env: no API keys, tokens or credentials; hub offline)
- cwd: the workspace; a wall-clock timeout kills the whole process group
- output: stdout+stderr, at most HEAD+TAIL bytes kept, compacted (agent_core.context.compact_text)
  and redacted (agent_core.secrets)
- OS-level fence where the machine allows it (`unshare -rmn`: a user, mount and network
  namespace; probed once): no network interface but loopback; the run directory read-only
  except the workspace; every runs/*/hidden folder replaced by an empty read-only tmpfs; this
  project's code and the Python installation read-only. The code then runs in a second user +
  mount namespace (`unshare -U -m -c`), where those mounts are locked: it cannot undo them
- always, also without namespaces: an audit hook (sitecustomize) that refuses socket connects and
  name lookups (AF_UNIX excepted) and `pip install`, and prints NET_MARK so the daemon can raise
  a `network` alert
`network=True` (a person approved the network use) runs without the fence's network parts.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from agent_core.jobs import worker_env

NET_MARK = "[tinker-tui] network blocked:"
HEAD = 16_000
TAIL = 16_000
MAX_TIMEOUT = 600.0
DEFAULT_TIMEOUT = 60.0

SITECUSTOMIZE = r'''
import sys as _sys

def _tinker_tui_guard(event, args):
    if event in ("socket.connect", "socket.connect_ex", "socket.sendto", "socket.bind"):
        sock = args[0]
        fam = getattr(sock, "family", None)
        if fam is not None and int(fam) == 1:  # AF_UNIX
            return
        _sys.stderr.write("%s %s %r\n" % (MARK, event, args[1] if len(args) > 1 else ""))
        _sys.stderr.flush()
        raise PermissionError("network access is blocked for run_python (tinker-tui); ask the person")
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0] if args else ""
        if host in ("localhost", "127.0.0.1", "::1", None, ""):
            return
        _sys.stderr.write("%s %s %r\n" % (MARK, event, host))
        _sys.stderr.flush()
        raise PermissionError("network access is blocked for run_python (tinker-tui); ask the person")
    if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
        text = " ".join(str(a) for a in (args[1] if event == "subprocess.Popen" and len(args) > 1 else args)
                        if not isinstance(a, dict))
        if "pip" in text and "install" in text:
            _sys.stderr.write("%s %s %r\n" % (MARK, "pip install", text[:200]))
            _sys.stderr.flush()
            raise PermissionError("installing packages is blocked for run_python (tinker-tui); ask the person")

_sys.addaudithook(_tinker_tui_guard)
'''


@lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Can this machine give an unprivileged process its own user, mount and network namespace?"""
    if not shutil.which("unshare") or not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory() as probe:
        try:
            res = subprocess.run(["unshare", "-rmn", "sh", "-c",
                                  f"mount -t tmpfs -o size=4k none {shlex.quote(probe)} && "
                                  f"exec unshare -U -m -c -- sh -c 'umount {shlex.quote(probe)} 2>/dev/null && exit 1; exit 0'"],
                                 capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return False
    return res.returncode == 0


def _fence_script(workspace: Path, run_dir: Path | None, hide: list[Path], readonly: list[Path]) -> str:
    q = shlex.quote
    lines = ["set -e"]
    for d in readonly:  # first: the run directory and its workspace may lie inside one of them
        if d.is_dir():
            lines += [f"mount --bind {q(str(d))} {q(str(d))}", f"mount -o remount,bind,ro {q(str(d))}"]
    if run_dir is not None and run_dir.is_dir():
        lines += [f"mount --bind {q(str(run_dir))} {q(str(run_dir))}",
                  f"mount -o remount,bind,ro {q(str(run_dir))}",
                  f"mount --bind {q(str(workspace))} {q(str(workspace))}",
                  f"mount -o remount,bind,rw {q(str(workspace))}"]
    for d in hide:
        if d.is_dir():
            lines.append(f"mount -t tmpfs -o ro,size=4k,mode=0555 none {q(str(d))}")
    lines.append(f"cd {q(str(workspace))}")  # the cwd again, through the new mounts
    # A second user+mount namespace: the mounts above become locked there, so the agent's code
    # (root in the first namespace) cannot unmount the tmpfs over hidden/ or remount anything rw.
    lines.append('exec unshare -U -m -c -- "$@"')
    return "; ".join(lines)


def build_command(code: str, workspace: Path, *, network: bool = False, run_dir: Path | None = None,
                  hide: list[Path] = (), readonly: list[Path] = (), use_namespaces: bool | None = None
                  ) -> tuple[list[str], str]:
    """(argv, isolation) for running `code`; isolation is 'namespace', 'audit-hook' or 'none'."""
    py = [sys.executable, "-s", "-c", code]
    if use_namespaces is None:
        use_namespaces = namespaces_available()
    if use_namespaces:
        flags = "-rm" if network else "-rmn"
        script = _fence_script(Path(workspace), run_dir, list(hide), list(readonly))
        return ["unshare", flags, "sh", "-c", script, "sh", *py], ("namespace" if not network else "namespace+network")
    return py, ("audit-hook" if not network else "none")


async def run_code(code: str, workspace: Path, *, timeout: float = DEFAULT_TIMEOUT, network: bool = False,
                   run_dir: Path | None = None, hide: list[Path] = (), readonly: list[Path] = (),
                   site_dir: Path | None = None, use_namespaces: bool | None = None) -> dict:
    """Run `code`; return {exit, timed_out, output (raw, capped), bytes, network_attempts, isolation, seconds}."""
    timeout = max(1.0, min(float(timeout or DEFAULT_TIMEOUT), MAX_TIMEOUT))
    argv, isolation = build_command(code, workspace, network=network, run_dir=run_dir, hide=hide,
                                    readonly=readonly, use_namespaces=use_namespaces)
    env = worker_env()
    env["PYTHONNOUSERSITE"] = "1"
    env.pop("PYTHONWARNINGS", None)
    tmp = None
    if not network:
        if site_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="tinker-sandbox-")
            site_dir = Path(tmp.name)
        site_dir.mkdir(parents=True, exist_ok=True)
        (site_dir / "sitecustomize.py").write_text(f"MARK = {NET_MARK!r}\n" + SITECUSTOMIZE, encoding="utf-8")
        env["PYTHONPATH"] = str(site_dir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(workspace), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    head, tail, total = bytearray(), bytearray(), 0

    async def pump() -> None:
        nonlocal tail, total
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                return
            total += len(chunk)
            room = HEAD - len(head)
            if room > 0:
                head.extend(chunk[:room])
                chunk = chunk[room:]
            if chunk:
                tail.extend(chunk)
                if len(tail) > TAIL:
                    del tail[: len(tail) - TAIL]

    timed_out = False
    try:
        await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout)
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                pass
        if tmp is not None:
            tmp.cleanup()
    text = head.decode("utf-8", "replace")
    if total > len(head) + len(tail):
        text += f"\n[... {total - len(head) - len(tail)} bytes of output not kept ...]\n"
    text += tail.decode("utf-8", "replace")
    attempts = [ln.split(NET_MARK, 1)[1].strip() for ln in text.splitlines() if NET_MARK in ln]
    return {"exit": proc.returncode, "timed_out": timed_out, "output": text, "bytes": total,
            "network_attempts": attempts, "isolation": isolation,
            "seconds": round(time.monotonic() - t0, 2)}


def harness_paths() -> list[Path]:
    """Read-only for agent code: this project's code (the harness and its scoring) and the Python
    installation the evaluation workers import (patching transformers would change the score)."""
    from agent_core.policy import HARNESS_DIR
    paths = [HARNESS_DIR.parent, Path(sys.prefix), Path(sys.base_prefix)]
    out: list[Path] = []
    for p in paths:
        p = p.resolve()
        if p not in out and p != Path("/") and p.is_dir():
            out.append(p)
    return out


async def run_python(sup, code: str, timeout_s: float = DEFAULT_TIMEOUT):
    """The `run_python` tool, called after the policy gate. Network use the gate flagged got here
    only through a person's approval (or a policy that allows it): it then runs unfenced."""
    from agent_core.agents.base import ToolOutcome
    from agent_core.context import compact_text
    from agent_core.policy import code_findings
    from agent_core.secrets import redact

    run_dir = Path(sup.run.path)
    network = bool(code_findings(code, getattr(sup, "hidden_dir", None))["network"])
    hide = sorted({p for p in run_dir.parent.glob("*/hidden") if p.is_dir()} | {Path(sup.hidden_dir)})
    res = await run_code(code, Path(sup.run.workspace), timeout=timeout_s, network=network, run_dir=run_dir,
                         hide=hide, readonly=harness_paths())
    output = redact(compact_text(res["output"], max_chars=4000)) if res["output"].strip() else "(no output)"
    if res["network_attempts"]:
        sup.log.emit("alert", rule="network", severity="warning",
                     message=f"run_python tried to reach the network and was blocked: "
                             f"{'; '.join(res['network_attempts'][:3])}")
    if res["timed_out"]:
        head = f"timed out after {min(max(1.0, float(timeout_s or DEFAULT_TIMEOUT)), MAX_TIMEOUT):g}s (killed)"
    else:
        head = f"exit {res['exit']} in {res['seconds']:g}s"
    data = {k: res[k] for k in ("exit", "timed_out", "bytes", "isolation", "seconds")}
    if res["network_attempts"]:
        data["network_blocked"] = res["network_attempts"][:5]
    ok = res["exit"] == 0 and not res["timed_out"]
    return ToolOutcome("run_python", ok, f"{head}; output:\n{output}", data)
