"""Running the agent's Python code (`run_python`) inside the fence (agent_core/oversight/fence.py).

- the OS sandbox: bubblewrap; the workspace is the only writable place and is seen as
  /workspace (the cwd); no network (unless a person approved this call's network use: then the
  host's network, logged), no host file, socket or process; limits on CPU, memory, processes,
  file size and open files; every process of the call dies with it
- environment: an allow-list (fence.sandbox_env: no API keys, tokens or credentials; hub offline)
- a wall-clock timeout kills the whole call
- output: stdout+stderr, at most HEAD+TAIL bytes kept (the run_python tool compacts it)
  and redacted (agent_core.record.secrets)
- an early warning, not a boundary: a sitecustomize audit hook (agent_core/oversight/fenced/site) prints
  NET_MARK on network use or `pip install`, so the daemon can raise a `network` alert
- `fenced=False` only for a run the person started with --unsafe-no-sandbox
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from agent_core.oversight import fence

NET_MARK = "[tinker-tui] network blocked:"
HEAD = 16_000
TAIL = 16_000
MAX_TIMEOUT = 600.0
DEFAULT_TIMEOUT = 60.0
SITE = Path(fence.__file__).resolve().parent / "fenced" / "site"
LIMITS = fence.Limits()


def build_command(
    code: str, workspace: Path, *, network: bool = False, fenced: bool = True, cgroup: fence.PidsCgroup | None = None
) -> tuple[list[str], dict, str, str]:
    """(argv, env, cwd, isolation) that run `code`; isolation is 'bwrap', 'bwrap+network' or 'none'."""
    if not fenced:
        argv, env = fence.unfenced([sys.executable, "-s", "-c", code], workspace)
        if not network:
            env["PYTHONPATH"] = str(SITE)
        return argv, env, str(workspace), "none"
    env = fence.sandbox_env({} if network else {"PYTHONPATH": f"{fence.SUPPORT}/site"})
    argv, outer = fence.wrap(
        [sys.executable, "-s", "-c", code],
        fence.Mounts(workspace=Path(workspace), network=network, ro=[(str(SITE.parent), fence.SUPPORT)]),
        LIMITS,
        env=env,
        cgroup=cgroup,
    )
    return argv, outer, "/", "bwrap+network" if network else "bwrap"


def effective_timeout(timeout: float | None) -> float:
    """The seconds a call gets: the asked timeout, clamped to [1, MAX_TIMEOUT]."""
    return max(1.0, min(float(timeout or DEFAULT_TIMEOUT), MAX_TIMEOUT))


async def run_code(
    code: str, workspace: Path, *, timeout: float = DEFAULT_TIMEOUT, network: bool = False, fenced: bool = True
) -> dict:
    """Run `code`; return {exit, timed_out, output (raw, capped), bytes, network_attempts, isolation, seconds}.
    Raises fence.FenceUnavailable when fenced and there is no usable bubblewrap."""
    timeout = effective_timeout(timeout)
    cgroup = fence.PidsCgroup(LIMITS.processes) if fenced else None
    argv, env, cwd, isolation = build_command(code, workspace, network=network, fenced=fenced, cgroup=cgroup)
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
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
        if cgroup is not None:
            cgroup.close()
    text = head.decode("utf-8", "replace")
    if total > len(head) + len(tail):
        text += f"\n[... {total - len(head) - len(tail)} bytes of output not kept ...]\n"
    text += tail.decode("utf-8", "replace")
    attempts = [ln.split(NET_MARK, 1)[1].strip() for ln in text.splitlines() if NET_MARK in ln]
    return {
        "exit": proc.returncode,
        "timed_out": timed_out,
        "output": text,
        "bytes": total,
        "network_attempts": attempts,
        "isolation": isolation,
        "seconds": round(time.monotonic() - t0, 2),
    }
