"""Every key binding of the UI, by id: what config.toml's [keys] table can remap.

    all_bindings(app_class) -> [(owner class name, Binding)]   in declared order
    binding_ids(app_class)  -> set of ids

Generated from the BINDINGS of the app (the caller names its class: the app imports this module,
not the other way round) and each screen, never written out by hand.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = ["all_bindings", "binding_ids", "screen_classes"]


def screen_classes(app_class: type) -> list[type]:
    from screens.approval import ApprovalScreen
    from screens.help import HelpScreen
    from screens.home import HomeScreen
    from screens.new_run import NewRunScreen
    from screens.run_screen import ConfirmScreen, RunScreen

    return [app_class, HomeScreen, RunScreen, ApprovalScreen, ConfirmScreen, NewRunScreen, HelpScreen]


def all_bindings(app_class: type) -> list[tuple[str, Binding]]:
    out = []
    for cls in screen_classes(app_class):
        for b in cls.__dict__.get("BINDINGS", []) or []:
            if isinstance(b, Binding):
                out.append((cls.__name__, b))
    return out


def binding_ids(app_class: type) -> set[str]:
    return {b.id for _, b in all_bindings(app_class) if b.id}
