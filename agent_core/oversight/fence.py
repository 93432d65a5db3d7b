"""The fence: the one OS sandbox for every piece of code the agent wrote (`run_python`, GRPO
reward processes), built on bubblewrap (`bwrap`, the sandbox Flatpak uses).

What a fenced process gets (docs/SECURITY.md has the threat model):

    /usr, /bin, /lib*, the Python installation   read-only (system and Python paths only)
    /workspace                                   the one writable place (or a read-only frozen copy)
    /tmp                                         private tmpfs, gone with the call
    /proc, /dev                                  its own (a new PID namespace: no host process visible)
    network                                      none (a new network namespace: no interface but lo),
                                                 unless a person approved it (logged)
    namespaces                                   new user, PID, IPC, UTS, cgroup, mount; no nested
                                                 user namespaces; every capability dropped
    environment                                  built from an allow-list (no key, token or credential)
    limits                                       CPU time, address space, processes, file size and
                                                 open files (prlimit), a pids cgroup where one can be
                                                 made; processes die with the call (bwrap is PID 1 of
                                                 the namespace and dies with its parent)

Never inside: the host home, the runs home (other runs, policy, ledger, sockets), the project
checkout, task sources, the hidden split, /run, /sys, any host socket.

    ok, why = available()                       # (True, "bubblewrap 0.8.0") or (False, how to install)
    argv, env = wrap(["python3", "-c", code], Mounts(workspace=ws), Limits())

`TINKER_TUI_BWRAP` names another bwrap binary (a path, or "" / "none" to act as if there were none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

WORKSPACE = "/workspace"
SUPPORT = "/opt/tinker-tui"  # read-only support files (the reward runner, sitecustomize)
INSTALL_HINT = (
    "bubblewrap is needed to fence the agent's code: install it with `sudo apt-get install "
    "bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora) and make sure user "
    "namespaces are enabled (`sysctl kernel.unprivileged_userns_clone=1` where that knob "
    "exists, `user.max_user_namespaces` > 0); or, knowing the agent's code then runs with "
    "your full powers, start the run with --unsafe-no-sandbox"
)
# Variables the fenced process may see, copied from the daemon's environment when set.
ENV_ALLOW = (
    "LANG",
    "LC_ALL",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)
_CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


class FenceUnavailable(RuntimeError):
    """No usable bubblewrap here; the message says what to install."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 900  # CPU seconds per process (RLIMIT_CPU)
    memory_bytes: int = 16 << 30  # address space per process (RLIMIT_AS)
    processes: int = 256  # pids cgroup (or RLIMIT_NPROC when not root)
    file_bytes: int = 4 << 30  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 1024  # RLIMIT_NOFILE

    def prlimit_args(self) -> list[str]:
        out = [
            f"--cpu={self.cpu_s}",
            f"--as={self.memory_bytes}",
            f"--fsize={self.file_bytes}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]
        if os.getuid() != 0:  # root is exempt from RLIMIT_NPROC: the cgroup is its limit
            out.append(f"--nproc={self.processes + _user_processes()}")
        return out


@dataclass
class Mounts:
    workspace: Path | None = None  # bound at /workspace
    writable: bool = True  # False: the workspace is a frozen, read-only copy
    ro: list[tuple[str, str]] = field(default_factory=list)  # extra read-only (host path, sandbox path)
    network: bool = False  # an approved network use: share the host's network


def bwrap_path() -> str | None:
    override = os.environ.get("TINKER_TUI_BWRAP")
    if override is not None:
        if override.strip().lower() in ("", "none"):
            return None
        return override if os.access(override, os.X_OK) else None
    return shutil.which("bwrap")


@lru_cache(maxsize=4)
def _probe(bwrap: str | None) -> tuple[bool, str]:
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed. " + INSTALL_HINT
    if not sys.platform.startswith("linux"):
        return False, "the sandbox needs Linux namespaces. " + INSTALL_HINT
    argv = [bwrap, *_namespace_args(False), *_system_args(False), "--", "/bin/true"]
    try:
        res = subprocess.run(argv, capture_output=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap could not run ({exc}). " + INSTALL_HINT
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"bubblewrap cannot make a sandbox here ({err[-1] if err else res.returncode}). " + INSTALL_HINT
    try:
        ver = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        ver = "bubblewrap"
    return True, ver or "bubblewrap"


def available() -> tuple[bool, str]:
    """(True, version) when a sandbox can be made here, else (False, what to install and how)."""
    return _probe(bwrap_path())


def require() -> str:
    ok, why = available()
    if not ok:
        raise FenceUnavailable(why)
    return why


def _namespace_args(network: bool) -> list[str]:
    args = [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--uid",
        "1000",
        "--gid",
        "1000",
    ]
    if network:
        args.append("--share-net")
    return args


def _python_roots() -> list[str]:
    """The Python installation the fenced code runs: prefixes and library folders, resolved."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(Path(sys.executable).parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    out: set[str] = set()
    for p in paths:
        for q in (p, os.path.realpath(p)):
            if q and os.path.isdir(q) and q != "/":
                out.add(q)
    # a folder inside another one is covered by it
    return sorted(p for p in out if not any(p != o and p.startswith(o.rstrip("/") + "/") for o in out))


def _system_args(network: bool) -> list[str]:
    # /tmp first: a Python installation that lives under /tmp (a venv in a CI checkout) is bound
    # on top of the private tmpfs, not hidden by it
    args: list[str] = ["--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/" + name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{name}"]
    etc = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"]
    if network:  # what name lookups and TLS need
        etc += ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/pki"]
    for p in etc:
        args += ["--ro-bind-try", p, p]
    for p in _python_roots():
        if not p.startswith("/usr/"):
            args += ["--ro-bind", p, p]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args


def sandbox_env(extra: dict | None = None) -> dict[str, str]:
    """The fenced process's environment: an allow-list, never a key."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        HOME="/tmp",
        TMPDIR="/tmp",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def _user_processes() -> int:
    uid = os.getuid()
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


class PidsCgroup:
    """A pids cgroup for one fenced call, where this process may make one (root, or a delegated
    cgroup v2 tree); `procs_file` is None elsewhere, and RLIMIT_NPROC is the limit."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for root in _CGROUP_ROOTS:
            base = Path(root)
            if not (base / "pids.max").exists() and not (base / "cgroup.procs").exists():
                continue
            if base.name != "pids" and "pids" not in _read(base / "cgroup.subtree_control"):
                continue
            try:
                parent = base / "tinker-tui"
                parent.mkdir(exist_ok=True)
                if base.name != "pids":
                    (parent / "cgroup.subtree_control").write_text("+pids")
                path = parent / uuid.uuid4().hex[:12]
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
            except OSError:
                continue
            self.path = path
            return

    @property
    def procs_file(self) -> str | None:
        return str(self.path / "cgroup.procs") if self.path else None

    def kill_all(self) -> None:
        if self.path is None:
            return
        for pid in _read(self.path / "cgroup.procs").split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError, PermissionError):
                pass

    def close(self) -> None:
        if self.path is None:
            return
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.02)
        self.path = None


def _read(p: Path) -> str:
    try:
        return p.read_text()
    except OSError:
        return ""


def wrap(
    argv: list[str],
    mounts: Mounts,
    limits: Limits = Limits(),
    *,
    cwd: str = WORKSPACE,
    env: dict | None = None,
    cgroup: PidsCgroup | None = None,
) -> tuple[list[str], dict[str, str]]:
    """(argv, env) that run `argv` inside the fence. `env` is the sandbox's environment (default
    sandbox_env()); the returned env is for the launcher itself (PATH only: bwrap's own
    environment is visible inside as /proc/1/environ, so it must hold nothing secret)."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise FenceUnavailable(available()[1])
    args = [bwrap, *_namespace_args(mounts.network), *_system_args(mounts.network)]
    if mounts.workspace is not None:
        args += ["--bind" if mounts.writable else "--ro-bind", str(mounts.workspace), WORKSPACE]
    for src, dest in mounts.ro:
        args += ["--ro-bind", str(src), dest]
    args += ["--remount-ro", "/", "--chdir", cwd, "--clearenv"]  # the sandbox's own root: read-only too
    for k, v in (sandbox_env() if env is None else env).items():
        args += ["--setenv", k, v]
    args += ["--", *argv]
    full = ["prlimit", *limits.prlimit_args(), "--", *args]
    if cgroup is not None and cgroup.procs_file:
        # join the cgroup first, so every process of the call is counted from the start
        full = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', cgroup.procs_file, *full]
    return full, {"PATH": "/usr/bin:/bin"}


def unfenced(argv: list[str], workspace: Path | None, env: dict | None = None) -> tuple[list[str], dict[str, str]]:
    """--unsafe-no-sandbox: the same call with the allow-listed environment only (no OS fence)."""
    e = sandbox_env() if env is None else dict(env)
    e["HOME"] = e["TMPDIR"] = str(workspace) if workspace else "/tmp"
    return list(argv), e
