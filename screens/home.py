"""The home screen: every run under <home>/runs in a table.

    enter  attach (the run's daemon is alive) or replay (it is not)
    a      attach (a live run only)
    r      replay the selected run
    u      resume a stopped run (the app starts its daemon), then attach
    D      delete the selected run, after a confirmation (a live run is refused)
    N      start a new run (calls `app.start_new_run()` when the app has one)
    q      quit

While the person is here, a live run with an approval waiting (or a new alert) rings the
bell and changes the window title (`app.set_attention`), unless its run screen is open.

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

from agent_core.record.events import TERMINAL_STATES, LogReader
from agent_core.record.runs import RunDir, RunIsLive, delete_run, list_runs
from agent_core.record.summary import RunSummary
from screens.confirm import ConfirmScreen
from screens.widgets.palette import Palette
from screens.widgets.state_styles import STATE_STYLE

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
    pending: int = 0  # approvals waiting (by the log)
    alerts: int = 0  # alerts so far
    last_alert: str = ""  # rule of the last alert


def score_label(summary: RunSummary) -> str:
    """The held-out test score wins over the agent's own dev scores: "0.4125 test"."""
    ev = summary.last_test_score or summary.last_score
    if ev is None:
        return ""
    value, split = ev.get("value"), ev.get("split")
    shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
    return f"{shown} {split}" if split else shown


class RunIndex:
    """Per-run incremental readers and summaries (the one log reducer); used by one worker
    at a time."""

    def __init__(self) -> None:
        self._readers: dict[Path, LogReader] = {}
        self._summaries: dict[Path, RunSummary] = {}

    def scan(self, home: Path) -> list[RunRow]:
        rows = []
        for run in list_runs(home):
            reader = self._readers.setdefault(run.path, LogReader(run.events_path))
            summary = self._summaries.setdefault(run.path, RunSummary())
            while batch := reader.poll():
                summary.apply_batch(batch)
            cfg = run.config()
            created = cfg.get("created")
            if not isinstance(created, (int, float)):
                try:
                    created = run.config_path.stat().st_mtime
                except OSError:
                    created = None
            rows.append(
                RunRow(
                    id=run.id,
                    path=run.path,
                    state="new" if summary.state == "unknown" else summary.state,
                    task=str(cfg.get("task", "") or ""),
                    model=str(cfg.get("model", "") or ""),
                    score=score_label(summary),
                    created=created,
                    live=run.is_live(),
                    pending=len(summary.pending),
                    alerts=summary.alert_count,
                    last_alert=str(summary.alerts[-1].get("rule", "?")) if summary.alerts else "",
                )
            )
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
        Binding("a", "attach", "Attach", id="home.attach"),
        Binding("r", "replay", "Replay", id="home.replay"),
        Binding("u", "resume", "Resume", id="home.resume"),
        Binding("D,delete", "delete", "Delete", id="home.delete", key_display="D"),
        Binding("N,shift+n", "new_run", "New run", id="home.new_run", key_display="N"),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="home.refresh", show=False),
        Binding("q", "app.quit", "Quit", id="home.quit"),
    ]

    COLUMNS = (("id", 20), ("state", 21), ("task", 12), ("model", 18), ("score", 12), ("age", 6))
    NARROW_COLUMNS = (
        ("id", 20),
        ("state", 11),
        ("task", 9),
        ("model", 11),
        ("score", 10),
        ("age", 5),
    )  # fits 80 columns

    class OpenRun(Message):
        """The person chose a run: mode is "attach" or "replay"."""

        def __init__(self, run: RunDir, mode: str) -> None:
            super().__init__()
            self.run = run
            self.mode = mode

    class ResumeRun(Message):
        """The person asked to resume a stopped run: the app starts its daemon, then attaches."""

        def __init__(self, run: RunDir) -> None:
            super().__init__()
            self.run = run

    def __init__(
        self, home: Path, *, clock: Callable[[], float] = time.time, refresh_every: float = 2.0, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.home = Path(home)
        self.clock = clock
        self.refresh_every = refresh_every
        self.rows: list[RunRow] = []
        self._index = RunIndex()
        self._shown: list[tuple] = []
        self._alerts_known: dict[Path, int] = {}  # alert count when first seen here

    def compose(self) -> ComposeResult:
        yield Static(f"tinker-tui · runs in {self.home}", id="home-title")
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("No runs yet. Press N to start one (or `tinker-tui new` in a shell).", id="home-empty")
        yield Footer()

    def on_mount(self) -> None:
        tables = self.query(DataTable)
        if not tables:  # torn down before it mounted (the app closed at once)
            return
        table = tables.first()
        columns = self.COLUMNS if self.app.size.width >= 100 else self.NARROW_COLUMNS
        for col, width in columns:
            table.add_column(col, key=col, width=width)
        table.focus()
        self.action_refresh()
        if self.refresh_every:
            self.set_interval(self.refresh_every, self.action_refresh, name="home-refresh")

    def on_screen_resume(self) -> None:
        if hasattr(self.app, "set_base_title"):
            self.app.set_base_title("tinker-tui")  # not the run last looked at
        self.action_refresh()

    # -- loading --------------------------------------------------------------------------
    def action_refresh(self) -> None:
        index, home = self._index, self.home

        def work() -> None:
            rows = index.scan(home)
            if not get_current_worker().is_cancelled:
                self.post_message(RunsLoaded(rows))

        self.run_worker(work, thread=True, group="home-scan", exclusive=True, exit_on_error=False)

    @on(RunsLoaded)
    def _on_loaded(self, message: RunsLoaded) -> None:
        message.stop()
        self.rows = message.rows
        self._attention(message.rows)
        now = self.clock()
        pal = Palette.from_app(self.app)
        shown = []
        for row in self.rows:
            state = (
                row.state
                if (row.live or row.state in TERMINAL_STATES or row.state == "new")
                else f"{row.state} (no daemon)"
            )
            shown.append(
                (
                    row.id,
                    state,
                    row.task,
                    row.model,
                    row.score,
                    fmt_age(now - row.created if row.created else None),
                    row.live,
                )
            )
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

    def _attention(self, rows: list[RunRow]) -> None:
        """Bell and window title for live runs that need the person, unless a run screen
        attached to that run is open (it does this itself)."""
        app = self.app
        if not hasattr(app, "set_attention"):
            return
        watched = {
            str(getattr(getattr(scr, "run", None), "path", ""))
            for scr in app.screen_stack
            if getattr(scr, "client", None) is not None
        }
        waiting = [r.id for r in rows if r.live and r.pending and str(r.path) not in watched]
        if waiting:
            app.set_attention("approval:home", "approval waiting (" + ", ".join(waiting) + ")")
        else:
            app.clear_attention("approval:home")
        for r in rows:
            known = self._alerts_known.setdefault(r.path, r.alerts)
            if r.alerts > known:
                self._alerts_known[r.path] = r.alerts
                if r.live and str(r.path) not in watched:
                    app.set_attention("alert:home", f"alert: {r.last_alert} ({r.id})")

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

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(None)

    def action_open(self) -> None:
        self._open(None)

    def action_replay(self) -> None:
        self._open("replay")

    def action_attach(self) -> None:
        row = self.selected_row()
        if row is None:
            self.notify("no run selected")
        elif not RunDir(row.path).is_live():
            self.notify(f"run {row.id} is not running: r replays it, u resumes it")
        else:
            self._open("attach")

    def _open(self, mode: str | None) -> None:
        row = self.selected_row()
        if row is None:
            self.notify("no run selected")
            return
        self.app.clear_attention("alert:home") if hasattr(self.app, "clear_attention") else None
        run = RunDir(row.path)
        if mode is None:
            mode = "attach" if run.is_live() else "replay"
        self.post_message(self.OpenRun(run, mode))

    def _selected_run(self, live_message: str, severity: str = "information"):
        """(row, RunDir) of the selected run that is not live; None after telling the person
        why not (nothing selected, or `live_message` for a live run)."""
        row = self.selected_row()
        if row is None:
            self.notify("no run selected")
            return None
        run = RunDir(row.path)
        if run.is_live():
            self.notify(live_message.format(id=row.id), severity=severity)
            return None
        return row, run

    def action_resume(self) -> None:
        picked = self._selected_run("run {id} is already running: enter attaches")
        if picked is None:
            return
        row, run = picked
        self.notify(f"resuming {row.id}…")
        self.post_message(self.ResumeRun(run))

    def action_delete(self) -> None:
        picked = self._selected_run(
            "run {id} is live: stop it first (s on its screen, or `tinker-tui stop`)", severity="error"
        )
        if picked is None:
            return
        row, run = picked

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                delete_run(run)
            except (RunIsLive, ValueError, OSError) as exc:
                self.notify(f"not deleted: {exc}", severity="error")
                return
            self.notify(f"deleted {row.id}")
            self.action_refresh()

        self.app.push_screen(
            ConfirmScreen(f"Delete run {row.id}? Its log, workspace and checkpoints are removed for good."),
            callback=answered,
        )

    def action_new_run(self) -> None:
        start = getattr(self.app, "start_new_run", None)
        if callable(start):
            start()
        else:
            self.notify("starting a run from here is not available; use `tinker-tui new`")
