"""Which waiting approval the run screen prompts for next (plain data, no widgets).

A request is prompted for one at a time, and the bell rings once per request. "Decide later"
puts it off until the person asks to review the approvals (`a`); one decided here is not
prompted for again while the log has not recorded the decision yet."""

from __future__ import annotations

__all__ = ["ApprovalQueue"]


class ApprovalQueue:
    def __init__(self) -> None:
        self.deferred: set[str] = set()  # "decide later"
        self.sent: set[str] = set()  # decided here, waiting for the log to say so
        self.rung: set[str] = set()  # bell already rung for these
        self.open: str | None = None  # the request whose prompt is open

    def sync(self, pending: dict[str, dict]) -> None:
        """Forget what is no longer pending."""
        self.sent &= set(pending)
        self.deferred &= set(pending)

    def next(self, pending: dict[str, dict]) -> dict | None:
        """The request to prompt for now (None: one is open, or none is due)."""
        if self.open is not None:
            return None
        for req_id, req in pending.items():
            if req_id not in self.deferred and req_id not in self.sent:
                return req
        return None

    def opened(self, req_id: str) -> bool:
        """Its prompt opens; True the first time (ring the bell)."""
        self.open = req_id
        first = req_id not in self.rung
        self.rung.add(req_id)
        return first

    def closed(self, req_id: str, decided: bool, still_pending: bool) -> None:
        self.open = None
        if decided:
            self.sent.add(req_id)
        elif still_pending:
            self.deferred.add(req_id)

    def review(self) -> None:
        """Prompt again for everything pending (the person asked to)."""
        self.deferred.clear()
        self.sent.clear()
