"""The Textual app of tinker-tui: home (runs table), attach (live run) and replay.

    TinkerApp(home=None, run=None, mode="home"|"attach"|"replay", theme=None, ...)
    run_app(home=None, run=None, mode=None, theme=None, **options)   # for the CLI

Import rule: this process imports only agent_core.record.events/runs/control and tinker_tui.client
from the core, never torch & co. (tests/test_ui_run_screen.py checks it in a subprocess).
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any, Callable

from textual import on, work
from textual.app import App
from textual.binding import Binding

from agent_core.record.runs import RunDir, resolve_run, runs_home
from screens.feeds import LiveFeed, ReplayFeed
from screens.home import HomeScreen
from screens.new_run import NewRunScreen
from screens.run_screen import RunScreen
from themes import DEFAULT_THEME, DOMAIN_DEFAULTS, THEMES, register_themes
from tinker_tui.client import RunClient
from tinker_tui.config import load_keymap

__all__ = ["TinkerApp", "run_app", "to_run_dir", "MODES"]

MODES = ("home", "attach", "replay")


def to_run_dir(home: Path, run: RunDir | Path | str | None) -> RunDir | None:
    """A RunDir from a RunDir, a run directory path, or an id/prefix under home."""
    if run is None or isinstance(run, RunDir):
        return run
    path = Path(run)
    if path.is_dir() and (path / "run.json").exists():
        return RunDir(path.absolute())
    return resolve_run(home, str(run))


class TinkerApp(App):
    """The supervisor's seat.

    home: the runs home (default: $TINKER_TUI_HOME or the XDG data dir).
    run: a RunDir (or its path, or an id/prefix resolved under home) for attach/replay.
    mode: "home", "attach" (LiveFeed + RunClient) or "replay" (ReplayFeed of the log).
    theme: "tinker-dark" (default), "tinker-light", "tinker-high-contrast" or any Textual theme.
    clock: wall clock for elapsed/age (inject a fixed one for deterministic snapshots).
    start_new_run: callable(app) -> RunDir | None, run by `N` on the home screen; a RunDir
        it returns is attached to.
    replay_speed / replay_autoplay: initial replay speed (1..100) and whether it plays at once.
    approval_grace: seconds the approval prompt ignores keys after it appears.
    freeze_gc: tune the cyclic garbage collector for streaming, undone when the app exits:
        after the first frame, move every object alive then (Textual's ~60k) into the
        permanent generation (gc.freeze): a full collection walked all of them and took
        30-40 ms on a 2-core machine, a hitch every few seconds while a replay seeks or a
        live feed streams (~5 ms after). And collect the young generation every 10,000
        allocations instead of 700: at 50k events/s the default ran ~230 collections a
        second and promoted short-lived events to the old generation (GC time -40%, p99
        loop lag ~28 -> ~19 ms in bench/ui_ingest.py).
    """

    TITLE = "tinker-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", show=False, priority=True),
        Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
    ]

    def __init__(
        self,
        home: Path | str | None = None,
        run: RunDir | Path | str | None = None,
        mode: str = "home",
        theme: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        start_new_run: Callable[["TinkerApp"], RunDir | None] | None = None,
        replay_speed: float = 10.0,
        replay_autoplay: bool = True,
        approval_grace: float = 0.5,
        home_refresh: float = 2.0,
        live_interval: float = 0.1,
        freeze_gc: bool = True,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        register_themes(self)
        theme = theme or os.environ.get("TINKER_TUI_THEME") or DEFAULT_THEME
        if theme not in self.available_themes:
            known = ", ".join(sorted(THEMES)) + ", or a Textual theme"
            raise ValueError(f"unknown theme {theme!r} (themes: {known})")
        self.theme = theme
        self.home = runs_home(home)
        self.run_dir = to_run_dir(self.home, run)
        if mode != "home" and self.run_dir is None:
            raise ValueError(f"mode {mode!r} needs a run")
        self.mode = mode
        self.clock = clock
        self._new_run_cb = start_new_run
        self.replay_speed = replay_speed
        self.replay_autoplay = replay_autoplay
        self.approval_grace = approval_grace
        self.home_refresh = home_refresh
        self.live_interval = live_interval
        self.freeze_gc = freeze_gc
        self._gc_frozen = False
        self._gc_thresholds = gc.get_threshold()
        self.base_title = self.TITLE
        self.attention: dict[str, str] = {}  # source -> "approval waiting", "alert: ..."
        from tinker_tui.keymap import binding_ids

        self.keymap_config, self.config_problems, self.config_file = load_keymap(self.home, binding_ids(type(self)))

    # -- keys, help, attention ------------------------------------------------------------
    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def set_base_title(self, title: str) -> None:
        """What the window title says when nothing needs the person (run, state)."""
        self.base_title = title
        self._update_title()

    def set_attention(self, source: str, what: str, bell: bool = True) -> None:
        """Something needs the person (an approval waiting, an alert): ring the terminal
        bell (once per new `what`) and put "⚠ what — tinker-tui" in the window title, on
        whatever screen they are. `clear_attention(source)` restores the title."""
        if self.attention.get(source) == what:
            return
        self.attention[source] = what
        if bell:
            self.bell()
        self._update_title()

    def clear_attention(self, source: str) -> None:
        if self.attention.pop(source, None) is not None:
            self._update_title()

    def _update_title(self) -> None:
        if self.attention:
            # approvals first: they block the agent
            items = sorted(self.attention.values(), key=lambda w: "approval" not in w)
            title = f"⚠ {' · '.join(items)} — {self.TITLE}"
        else:
            title = self.base_title
        if self.title != title:
            self.title = title

    # -- theme ----------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Our CSS uses $loss, $risk-high, ...; built-in themes get these fallbacks.
        return dict(DOMAIN_DEFAULTS)

    def watch_title(self, title: str) -> None:
        # Put the title (run, state, "approval waiting") in the terminal's window title too:
        # it shows in tabs and works over SSH.
        self._terminal_title(title)

    def _terminal_title(self, title: str) -> None:
        driver = getattr(self, "_driver", None)
        if driver is not None and not self.is_headless:
            safe = "".join(ch for ch in title if ch.isprintable())
            driver.write(f"\x1b]2;{safe}\x07")

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._terminal_title("")  # do not leave "approval waiting" in the window title
        super().exit(*args, **kwargs)

    # -- screens --------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.keymap_config:
            self.set_keymap(self.keymap_config)
        for problem in self.config_problems:
            self.notify(problem, title="config", severity="error", timeout=15)
        if self.mode == "home":
            self.push_screen(HomeScreen(self.home, clock=self.clock, refresh_every=self.home_refresh))
        else:
            self.open_run(self.run_dir, self.mode, can_go_back=False)
        if self.freeze_gc:
            self.call_after_refresh(self._freeze_gc)

    GC_THRESHOLD0 = 10_000

    def _freeze_gc(self) -> None:
        if not self._gc_frozen:
            gc.collect()
            gc.freeze()
            self._gc_thresholds = gc.get_threshold()
            gc.set_threshold(max(self.GC_THRESHOLD0, self._gc_thresholds[0]), *self._gc_thresholds[1:])
            self._gc_frozen = True

    def on_unmount(self) -> None:
        if self._gc_frozen:
            gc.unfreeze()
            gc.set_threshold(*self._gc_thresholds)
            self._gc_frozen = False

    def make_run_screen(self, run: RunDir, mode: str, can_go_back: bool = False) -> RunScreen:
        if mode == "attach":
            feed = LiveFeed(run, interval=self.live_interval)
            client = RunClient(run)
        else:
            # the log is indexed (in a worker when large), not read in here
            feed = ReplayFeed(run.events_path, run=run, speed=self.replay_speed, playing=self.replay_autoplay)
            client = None
        return RunScreen(
            feed, client, run=run, clock=self.clock, can_go_back=can_go_back, approval_grace=self.approval_grace
        )

    def open_run(self, run: RunDir, mode: str = "attach", can_go_back: bool = True) -> RunScreen:
        screen = self.make_run_screen(run, mode, can_go_back)
        self.push_screen(screen)
        return screen

    @on(HomeScreen.OpenRun)
    def _open_from_home(self, message: HomeScreen.OpenRun) -> None:
        self.open_run(message.run, message.mode, can_go_back=True)

    def start_new_run(self) -> None:
        """Called by `N` on the home screen: the new-run form, or the injected callback."""
        if self._new_run_cb is None:
            from agent_core.daemon.launch import build_config

            self.push_screen(NewRunScreen(build_config), self._launch_from_form)
            return
        try:
            run = self._new_run_cb(self)
        except Exception as exc:  # a failing launcher must not take the UI down
            self.notify(f"could not start a run: {exc}", severity="error")
            return
        if isinstance(run, RunDir):
            self.open_run(run, "attach", can_go_back=True)

    @on(HomeScreen.ResumeRun)
    def _resume_from_home(self, message: HomeScreen.ResumeRun) -> None:
        self._resume(message.run)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False)
    def _resume(self, run: RunDir) -> None:
        from agent_core.daemon.launch import resume_run  # starts a daemon: imported when used

        try:
            resumed = resume_run(run.path)
        except Exception as exc:  # the launcher's message is for the person
            self.call_from_thread(
                self.notify, f"could not resume {run.id}: {exc}", title="resume failed", severity="error", timeout=10
            )
            return
        target = resumed if isinstance(resumed, RunDir) else run
        self.call_from_thread(self.open_run, target, "attach", True)

    def _launch_from_form(self, cfg: dict | None) -> None:
        if cfg:
            self.notify("starting the run…")
            self._launch(cfg)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, cfg: dict) -> None:
        from agent_core.daemon.launch import LaunchError, launch

        try:
            run = launch(self.home, cfg)
        except (LaunchError, OSError) as exc:
            self.call_from_thread(self.notify, f"could not start a run: {exc}", severity="error")
            return
        self.call_from_thread(self.open_run, run, "attach", True)


def run_app(
    home: Path | str | None = None,
    run: RunDir | Path | str | None = None,
    mode: str | None = None,
    theme: str | None = None,
    **options: Any,
) -> Any:
    """Run the UI until the person quits or detaches; returns the app's return value.

    mode None: "home" without a run, else "attach" if the run's daemon is alive, else
    "replay". `options` go to TinkerApp (clock, start_new_run, replay_speed, ...).
    """
    run_dir = to_run_dir(runs_home(home), run)
    if mode is None:
        mode = "home" if run_dir is None else ("attach" if run_dir.is_live() else "replay")
    app = TinkerApp(home=home, run=run_dir, mode=mode, theme=theme, **options)
    return app.run()
