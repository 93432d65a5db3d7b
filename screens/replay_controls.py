"""The run screen's replay actions: play/pause, speed, step, jump to the start or end, seek by a
percentage, go to the previous/next marker. Each tells the ReplayFeed, then redraws the status
line. `ReplayControls` is mixed into RunScreen, which provides `feed`, `notify` and
`refresh_status`; the bindings are in screens/run_bindings.py."""

from __future__ import annotations

from screens.feeds import ReplayFeed

__all__ = ["ReplayControls"]


class ReplayControls:
    """Actions `replay_*` of the run screen (enabled only when replaying)."""

    feed: ReplayFeed

    def action_replay_toggle(self) -> None:
        self.feed.toggle()
        self.refresh_status()

    def action_replay_faster(self) -> None:
        self.feed.faster()
        self.refresh_status()

    def action_replay_slower(self) -> None:
        self.feed.slower()
        self.refresh_status()

    def action_replay_step(self, n: int) -> None:
        if n >= 0:
            self.feed.step(n)
        else:
            self.feed.step_back(-n)
        self.refresh_status()

    def action_replay_start(self) -> None:
        self.feed.pause()
        self.feed.seek(0)
        self.refresh_status()

    def action_replay_end(self) -> None:
        self.feed.to_end()
        self.refresh_status()

    def action_replay_seek(self, percent: int) -> None:
        self.feed.seek_by(percent / 100)
        self.refresh_status()

    def action_replay_marker(self, direction: int) -> None:
        self.feed.pause()
        found = self.feed.next_marker() if direction > 0 else self.feed.prev_marker()
        if found is None:
            self.notify("no further marker" if direction > 0 else "no earlier marker", timeout=2)
        self.refresh_status()
