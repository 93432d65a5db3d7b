"""The daemon's side of the control socket (`<run>/daemon.sock`, agent_core.record.control is the
client): one JSON request and one JSON reply per connection, from the run's owner only.

Whatever reaches the socket is the person: no sandbox can see it (agent_core.oversight.fence).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Awaitable, Callable

from agent_core.record.control import MAX_REQUEST, peer_uid, sock_address

Handler = Callable[[dict, threading.Event], Awaitable[dict]]


async def _answer(handle: Handler, req: dict, reader: asyncio.StreamReader) -> dict:
    """`handle(req, gone)`; `gone` is set if the client hangs up before the reply (an outside
    agent that gave up on its call: its MCP client cancelled it, timed out, or exited)."""
    gone = threading.Event()
    if reader.at_eof():  # it hung up right after its request (seen with it): given up already
        gone.set()
    answer = asyncio.ensure_future(handle(req, gone))
    hangup = asyncio.ensure_future(reader.read(1))  # a client sends one line, then only waits
    try:
        done, _ = await asyncio.wait({answer, hangup}, return_when=asyncio.FIRST_COMPLETED)
        if answer not in done and not _data(hangup):  # end of stream: the client hung up
            gone.set()
        return await answer
    finally:
        hangup.cancel()


def _data(read: asyncio.Future) -> bytes:
    try:
        return read.result()
    except (OSError, asyncio.IncompleteReadError):
        return b""


async def start(socket_path: Path, handle: Handler) -> asyncio.AbstractServer:
    """Listen on `socket_path` (owner-only permissions) and answer each request with `handle`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None and peer_uid(sock) not in (None, os.getuid()):
                reply = {"ok": False, "error": "permission denied: not the run's owner"}
            else:
                line = await asyncio.wait_for(reader.readline(), 10)
                try:
                    req = json.loads(line[:MAX_REQUEST]) if line else None
                except ValueError:
                    req = None
                if not isinstance(req, dict):
                    reply = {"ok": False, "error": "bad request: send one JSON object and a newline"}
                else:
                    reply = await _answer(handle, req, reader)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    addr, fd = sock_address(socket_path)
    if socket_path.exists():
        socket_path.unlink()
    old_umask = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(serve, path=addr)
    finally:
        os.umask(old_umask)
        if fd is not None:
            os.close(fd)
