"""The control socket: a Unix socket in the run directory, owner only.

Protocol: the client connects, writes one JSON object and a newline, reads one JSON object
and a newline back, and the connection closes. Requests:

    {"cmd": "status"}
    {"cmd": "pause"} | {"cmd": "resume"} | {"cmd": "stop"}
    {"cmd": "nudge", "text": "..."}
    {"cmd": "approve", "id": "a1" | null, "scope": "once" | "session"}
    {"cmd": "veto", "id": "a1" | null, "reason": "..."}
    {"cmd": "pending"}                       -> {"ok": true, "pending": [approval_request, ...]}
    {"cmd": "tools"} | {"cmd": "tool", ...}  an outside agent's calls (`--agent external`), answered
                                             by the run's agent (Agent.control)

Replies are {"ok": true, ...} or {"ok": false, "error": "..."}. A client that hangs up before its
reply has given up on the request: an outside agent's `tool` call is then dropped if the daemon has
not taken it yet, and a `wait` it is parked in returns.
The socket file is mode 0600 inside a 0700 directory, and the server also checks the
peer's uid (SO_PEERCRED), so only the run's owner can send commands.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from pathlib import Path

MAX_REQUEST = 1 << 20
AGENT_COMMANDS = ("tools", "tool")  # answered by the run's agent (an outside agent's calls)
COMMANDS = ("status", "pause", "resume", "stop", "nudge", "approve", "veto", "pending", *AGENT_COMMANDS)


class ControlError(RuntimeError):
    """The daemon could not be reached or refused the command."""


def sock_address(path: Path) -> tuple[str, int | None]:
    """Unix socket paths are limited to ~107 bytes; reach long ones through /proc/self/fd."""
    s = str(path)
    if len(s.encode()) < 100:
        return s, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


def peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid
    except (OSError, AttributeError):
        return None


def send_command(socket_path: Path, request: dict, timeout: float | None = 10.0) -> dict:
    """Send one request to a run's daemon and return its reply; raise ControlError. timeout=None
    waits as long as the command takes (an outside agent's tool call: an approval, a job)."""
    return ControlCall(socket_path, request, timeout).run()


class ControlCall:
    """One request and its reply. `run()` blocks; `cancel()`, from another thread, hangs up, which
    the daemon reads as the caller giving up (an outside agent's call: a queued call is dropped, a
    parked `wait` returns)."""

    def __init__(self, socket_path: Path, request: dict, timeout: float | None = 10.0):
        self.socket_path, self.request, self.timeout = Path(socket_path), request, timeout
        self._sock: socket.socket | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self.sent = threading.Event()  # the request has gone out to the daemon

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def run(self) -> dict:
        if not self.socket_path.exists():
            raise ControlError("the run's daemon is not running (no control socket)")
        addr, fd = sock_address(self.socket_path)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                with self._lock:
                    if self._cancelled:
                        raise ControlError("the call was cancelled")
                    self._sock = s
                try:
                    s.connect(addr)
                except (ConnectionRefusedError, FileNotFoundError) as exc:
                    raise ControlError(f"the run's daemon is not running ({exc.strerror})") from exc
                except PermissionError as exc:
                    raise ControlError("permission denied: only the run's owner can control it") from exc
                s.sendall(json.dumps(self.request).encode() + b"\n")
                self.sent.set()
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
        except socket.timeout as exc:
            raise ControlError("the run's daemon did not answer in time") from exc
        except OSError as exc:
            raise ControlError(f"control socket error: {exc}") from exc
        finally:
            with self._lock:
                self._sock = None
            if fd is not None:
                os.close(fd)
        if self._cancelled:
            raise ControlError("the call was cancelled")
        try:
            reply = json.loads(buf)
        except ValueError as exc:
            raise ControlError("the daemon closed the connection without a reply") from exc
        return reply
