"""The help screen (`?`): every binding of the screen below it and of the app, generated
from their BINDINGS with the keymap of the config file applied, so what it says is what the
keys do. Columns: key(s), what it does, binding id (the name to use in config.toml), and
whether it applies right now (e.g. replay keys on a live run do not).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

__all__ = ["HelpScreen", "BindingRow", "binding_rows", "format_key"]


@dataclass(frozen=True)
class BindingRow:
    id: str
    keys: tuple[str, ...]
    description: str
    action: str
    active: bool
    owner: str


def format_key(app, key: str) -> str:
    try:
        return app.get_key_display(Binding(key, ""))
    except Exception:
        return key


def binding_rows(node: DOMNode) -> list[BindingRow]:
    """The bindings of `node` (a screen) then of its app, keymap applied, in declared order
    (one row per binding id; bindings without an id are listed under their action)."""
    app = node.app
    rows: list[BindingRow] = []
    seen: set[str] = set()
    for owner in (node, app):
        bindings_map = BindingsMap(_declared(owner))
        if app.keymap_config:  # what the app applied from config.toml (TinkerApp.set_keymap)
            bindings_map.apply_keymap(app.keymap_config)
        keys_of: dict[str, list[str]] = {}
        first: dict[str, Binding] = {}
        for key, bindings in bindings_map.key_to_bindings.items():
            for binding in bindings:
                bid = binding.id or f"({binding.action})"
                keys_of.setdefault(bid, []).append(key)
                first.setdefault(bid, binding)
        declared = [getattr(b, "id", None) or f"({b.action})" for b in _declared(owner)]
        for bid in declared + [b for b in keys_of if b not in declared]:
            if bid in seen or bid not in keys_of:
                continue
            seen.add(bid)
            binding = first[bid]
            action, _, rest = binding.action.partition("(")
            params: tuple = ()
            if rest:
                params = tuple(p.strip().strip("'\"") for p in rest.rstrip(")").split(",") if p.strip())
            try:
                active = owner.check_action(action, params) is not False
            except Exception:
                active = True
            rows.append(
                BindingRow(
                    bid,
                    tuple(keys_of[bid]),
                    binding.description or action,
                    binding.action,
                    bool(active),
                    "app" if owner is app else type(owner).__name__,
                )
            )
    return rows


def _declared(owner: DOMNode) -> list[Binding]:
    out: list[Binding] = []
    for cls in reversed(type(owner).__mro__):
        for b in cls.__dict__.get("BINDINGS", []) or []:
            if isinstance(b, Binding):
                out.append(b)
    return out


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen #help-box {
        width: 90%; max-width: 100; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; height: auto; }
    HelpScreen #help-hint { color: $text-muted; height: auto; }
    HelpScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, target: DOMNode) -> None:
        super().__init__()
        self.target = target
        self.rows = binding_rows(target)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            name = type(self.target).__name__.replace("Screen", "").lower() or "screen"
            yield Static(f"Keys · {name} screen", id="help-title", markup=False)
            yield Static(
                'Remap any key in config.toml:  [keys]  "<id>" = "<key>"   '
                "· (n/a): not available here now · esc closes",
                id="help-hint",
                markup=False,
            )
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        tables = self.query(DataTable)
        if not tables:  # torn down before it mounted (the app closed at once)
            return
        table = tables.first()
        table.add_column("key", key="key", width=14)
        table.add_column("does", key="does", width=26)
        table.add_column("id", key="id", width=26)
        for row in self.rows:
            keys = ", ".join(format_key(self.app, k) for k in row.keys)
            does = row.description if row.active else f"{row.description} (n/a)"
            table.add_row(keys, does, row.id, key=row.id)
        table.focus()

    def action_close(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)
