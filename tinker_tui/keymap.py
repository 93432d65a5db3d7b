"""Every key binding of the UI, by id: what config.toml's [keys] table can remap.

    all_bindings() -> [(owner class name, Binding)]   in declared order
    binding_ids()  -> set of ids

Generated from the BINDINGS of the app and each screen, never written out by hand.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = ["all_bindings", "binding_ids", "screen_classes"]


def screen_classes() -> list[type]:
    from screens.approval import ApprovalScreen
    from screens.help import HelpScreen
    from screens.home import HomeScreen
    from screens.new_run import NewRunScreen
    from screens.run_screen import ConfirmScreen, RunScreen
    from tinker_tui.app import TinkerApp

    return [TinkerApp, HomeScreen, RunScreen, ApprovalScreen, ConfirmScreen, NewRunScreen, HelpScreen]


def all_bindings() -> list[tuple[str, Binding]]:
    out = []
    for cls in screen_classes():
        for b in cls.__dict__.get("BINDINGS", []) or []:
            if isinstance(b, Binding):
                out.append((cls.__name__, b))
    return out


def binding_ids() -> set[str]:
    return {b.id for _, b in all_bindings() if b.id}
