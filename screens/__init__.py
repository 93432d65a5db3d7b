"""Textual screens of tinker-tui (the UI process only; nothing here is imported by the
daemon). Feeds post `EventsArrived`; the screens own all state."""

from screens.feeds import DaemonAlive, EventsArrived, LiveFeed, ReplayFeed, ReplayProgress

__all__ = ["DaemonAlive", "EventsArrived", "LiveFeed", "ReplayFeed", "ReplayProgress"]
