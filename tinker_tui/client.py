"""The UI-side client of a run: follows its event log and sends commands to its daemon.

Used by the Textual app and by the CLI verbs. Imports nothing heavy (no torch & co.).
"""

from __future__ import annotations

from pathlib import Path

from agent_core.record.control import ControlError, send_command
from agent_core.record.events import LogReader
from agent_core.record.runs import RunDir

__all__ = ["RunClient", "ControlError"]


class RunClient:
    """Commands for one run's daemon. Every method returns the daemon's reply dict or
    raises ControlError with a message fit to show the person."""

    def __init__(self, run: RunDir | Path):
        self.run = run if isinstance(run, RunDir) else RunDir(Path(run))

    def request(self, cmd: str, **args) -> dict:
        reply = send_command(self.run.socket_path, {"cmd": cmd, **args})
        if not reply.get("ok"):
            raise ControlError(reply.get("error") or f"{cmd} was refused")
        return reply

    def status(self) -> dict:
        return self.request("status")

    def pause(self) -> dict:
        return self.request("pause")

    def resume(self) -> dict:
        return self.request("resume")

    def stop(self) -> dict:
        return self.request("stop")

    def nudge(self, text: str) -> dict:
        return self.request("nudge", text=text)

    def approve(self, approval_id: str | None = None, scope: str = "once") -> dict:
        return self.request("approve", id=approval_id, scope=scope)

    def veto(self, approval_id: str | None = None, reason: str = "") -> dict:
        return self.request("veto", id=approval_id, reason=reason)

    def pending(self) -> list[dict]:
        return self.request("pending").get("pending", [])

    def follow(self) -> LogReader:
        """A reader positioned at the start of the log; call .poll() for new events."""
        return LogReader(self.run.events_path)
