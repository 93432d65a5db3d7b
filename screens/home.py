"""The home screen: every run under <home>/runs in a table.

    enter  attach (the run's daemon is alive) or replay (it is not)
    r      replay the selected run
    N      start a new run (calls `app.start_new_run()` when the app has one)
    q      quit

A thread worker scans the runs (keeping one incremental `LogReader` per run, so a refresh
reads only what was appended) and posts `RunsLoaded`; the handler owns the table. Opening a
run posts `HomeScreen.OpenRun(run, mode)`, which the app handles.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from agent_core.events import LogReader
from agent_core.runs import RunDir, list_runs
from screens.widgets.palette import Palette
from screens.widgets.status import STATE_STYLE

__all__ = ["HomeScreen", "RunRow", "RunIndex", "RunsLoaded", "fmt_age"]


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


@dataclass(frozen=True)
class RunRow:
    id: str
    path: Path
    state: str
    task: str
    model: str
    score: str
    created: float | None
    live: bool


class RunIndex:
    """Per-run incremental readers; used by one worker at a time."""

    def __init__(self) -> None:
        self._readers: dict[Path, LogReader] = {}
        self._state: dict[Path, str] = {}
        self._score: dict[Path, str] = {}
        self._test_scored: set[Path] = set()

    def scan(self, home: Path) -> list[RunRow]:
        rows = []
        for run in list_runs(home):
            reader = self._readers.setdefault(run.path, LogReader(run.events_path))
            while batch := reader.poll():
                for ev in batch:
                    if ev.get("type") == "run_state":
                        self._state[run.path] = str(ev.get("state", "?"))
                    elif ev.get("type") == "score":
                        value = ev.get("value")
                        shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
                        split = ev.get("split")
                        # the held-out test score wins over the agent's own dev scores
                        if split == "test" or run.path not in self._test_scored:
                            self._score[run.path] = f"{shown} {split}" if split else shown
                        if split == "test":
                            self._test_scored.add(run.path)
            cfg = run.config()
            created = cfg.get("created")
            if not isinstance(created, (int, float)):
                try:
                    created = run.config_path.stat().st_mtime
                except OSError:
                    created = None
            rows.append(RunRow(
                id=run.id, path=run.path, state=self._state.get(run.path, "new"),
                task=str(cfg.get("task", "") or ""), model=str(cfg.get("model", "") or ""),
                score=self._score.get(run.path, ""), created=created, live=run.is_live(),
            ))
        rows.reverse()  # newest first
        return rows


class RunsLoaded(Message):
    def __init__(self, rows: list[RunRow]) -> None:
        super().__init__()
        self.rows = rows


class HomeScreen(Screen):
    DEFAULT_CSS = """
    HomeScreen #home-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    HomeScreen DataTable { height: 1fr; }
    HomeScreen #home-empty { padding: 1 2; color: $text-muted; display: none; }
    HomeScreen #home-empty.shown { display: block; }
    """

    BINDINGS = [
        Binding("enter", "open", "Attach/Replay", id="home.open", show=True),
        Binding("r", "replay", "Replay", id="home.replay"),
        Binding("N,shift+n", "new_run", "New run", id="home.new_run", key_display="N"),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="home.refresh", show=False),
        Binding("q", "app.quit", "Quit", id="home.quit"),
    ]

    COLUMNS = (("id", 20), ("state", 21), ("task", 12), ("model", 18), ("score", 12), ("age", 6))

    class OpenRun(Message):
        """The person chose a run: mode is "attach" or "replay"."""

        def __init__(self, run: RunDir, mode: str) -> None:
            super().__init__()
            self.run = run
            self.mode = mode

    def __init__(self, home: Path, *, clock: Callable[[], float] = time.time,
                 refresh_every: float = 2.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.home = Path(home)
        self.clock = clock
        self.refresh_every = refresh_every
        self.rows: list[RunRow] = []
        self._index = RunIndex()
        self._shown: list[tuple] = []

    def compose(self) -> ComposeResult:
        yield Static(f"tinker-tui · runs in {self.home}", id="home-title")
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("No runs yet. Press N to start one (or `tinker-tui new` in a shell).",
                     id="home-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col, width in self.COLUMNS:
            table.add_column(col, key=col, width=width)
        table.focus()
        self.action_refresh()
        if self.refresh_every:
            self.set_interval(self.refresh_every, self.action_refresh, name="home-refresh")

    def on_screen_resume(self) -> None:
        self.action_refresh()

    # -- loading --------------------------------------------------------------------------
    def action_refresh(self) -> None:
        index, home = self._index, self.home

        def work() -> None:
            rows = index.scan(home)
            if not get_current_worker().is_cancelled:
                self.post_message(RunsLoaded(rows))

        self.run_worker(work, thread=True, group="home-scan", exclusive=True,
                        exit_on_error=False)

    @on(RunsLoaded)
    def _on_loaded(self, message: RunsLoaded) -> None:
        message.stop()
        self.rows = message.rows
        now = self.clock()
        pal = Palette.from_app(self.app)
        shown = []
        for row in self.rows:
            state = row.state if (row.live or row.state in ("finished", "failed", "crashed", "new")) \
                else f"{row.state} (no daemon)"
            shown.append((row.id, state, row.task, row.model, row.score,
                          fmt_age(now - row.created if row.created else None), row.live))
        self.query_one("#home-empty").set_class(not shown, "shown")
        if shown == self._shown:
            return
        self._shown = shown
        table = self.query_one(DataTable)
        selected = self.selected_row()
        table.clear()
        for rid, state, task, model, score, age, live in shown:
            style = STATE_STYLE.get(state, "muted")
            label = Text(("● " if live else "  ") + state, style=pal.bold(style) if live else pal[style])
            table.add_row(rid, label, task, model, score, age, key=rid)
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(selected.id))
            except Exception:
                pass
        table.refresh()

    # -- actions --------------------------------------------------------------------------
    def selected_row(self) -> RunRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.row_count == 0:
            return None
        idx = table.cursor_row
        if 0 <= idx < len(self.rows):
            try:
                key = table.coordinate_to_cell_key((idx, 0)).row_key.value
            except Exception:
                return None
            return next((r for r in self.rows if r.id == key), None)
        return None

    def _open(self, mode: str | None) -> None:
        row = self.selected_row()
        if row is None:
            self.notify("no run selected")
            return
        run = RunDir(row.path)
        if mode is None:
            mode = "attach" if run.is_live() else "replay"
        self.post_message(self.OpenRun(run, mode))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(None)

    def action_open(self) -> None:
        self._open(None)

    def action_replay(self) -> None:
        self._open("replay")

    def action_new_run(self) -> None:
        start = getattr(self.app, "start_new_run", None)
        if callable(start):
            start()
        else:
            self.notify("starting a run from here is not available; use `tinker-tui new`")
