"""Home screen (runs table, attach/replay/new) and themes."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from conftest_ui import (
    BASE_EPOCH,
    LIVE,
    FakeDaemon,
    home_app,
    make_run,
    replay_app,
    sample_events,
    until_screen,
    wait_for,
)
from screens.feeds import LiveFeed, ReplayFeed
from screens.home import HomeScreen, fmt_age
from screens.run_screen import RunScreen
from screens.widgets import LossChart
from themes import DEFAULT_THEME, DOMAIN_VARIABLES, THEMES
from tinker_tui.app import TinkerApp


def table_rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def make_two_runs(tmp_path):
    done = make_run(tmp_path, "20250601-120000-aaaa", sample_events(), config={"created": BASE_EPOCH})
    live = make_run(tmp_path, "20250601-130000-bbbb", LIVE, config={"created": BASE_EPOCH + 1800, "task": "humaneval"})
    return done, live


@pytest.mark.asyncio
async def test_home_lists_runs_newest_first(tmp_path):
    done, live = make_two_runs(tmp_path)
    with FakeDaemon(live):
        app = home_app(tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            assert isinstance(app.screen, HomeScreen)
            assert await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
            rows = table_rows(app)
            assert rows[0][0] == live.id and "running" in rows[0][1] and rows[0][2] == "humaneval"
            assert rows[1][0] == done.id and "finished" in rows[1][1]
            assert rows[1][3] == "Qwen3-0.6B" and rows[1][4] == "0.4125 test"
            assert rows[0][5] == "30m" and rows[1][5] == "1h00m"


@pytest.mark.asyncio
async def test_home_marks_runs_whose_daemon_is_gone(tmp_path):
    make_run(tmp_path, "r-stale", LIVE)
    app = home_app(tmp_path)
    async with app.run_test() as pilot:
        assert await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
        assert table_rows(app)[0][1].strip() == "running (no daemon)"


@pytest.mark.asyncio
async def test_enter_replays_finished_and_attaches_live(tmp_path):
    done, live = make_two_runs(tmp_path)
    with FakeDaemon(live):
        app = home_app(tmp_path, replay_autoplay=False)
        async with app.run_test(size=(120, 30)) as pilot:
            assert await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
            await pilot.press("down", "enter")  # the finished run
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            assert isinstance(app.screen.feed, ReplayFeed) and app.screen.client is None
            assert app.screen.run.id == done.id
            await pilot.press("escape")  # back to the list
            assert await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
            await pilot.press("up", "enter")  # the live run
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            assert isinstance(app.screen.feed, LiveFeed) and app.screen.client is not None
            assert await wait_for(pilot, lambda: app.screen.view.state == "running")
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
            await pilot.press("r")  # replay even a live run
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            assert isinstance(app.screen.feed, ReplayFeed) and app.screen.run.id == live.id


@pytest.mark.asyncio
async def test_new_run_key_calls_the_app_callback(tmp_path):
    calls = []

    def start(app):
        calls.append(app)
        return make_run(tmp_path, "r-new", LIVE)

    app = home_app(tmp_path, start_new_run=start)
    async with app.run_test() as pilot:
        await until_screen(pilot, app, HomeScreen)
        await pilot.press("N")
        assert calls == [app]
        assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run.id == "r-new" and isinstance(app.screen.feed, LiveFeed)


def test_fmt_age():
    assert [fmt_age(s) for s in (5, 125, 3 * 3600 + 120, 3 * 86400, None)] == ["5s", "2m", "3h02m", "3d", "?"]


@pytest.mark.asyncio
async def test_themes_and_domain_variables(tmp_path):
    run = make_run(tmp_path, "r1", sample_events())
    assert set(THEMES) == {"tinker-dark", "tinker-light", "tinker-high-contrast"}
    for theme in THEMES.values():
        assert set(DOMAIN_VARIABLES) <= set(theme.variables), theme.name
    app = replay_app(run)
    assert app.theme == DEFAULT_THEME == "tinker-dark"
    async with app.run_test() as pilot:
        assert app.theme_variables["loss"] == THEMES["tinker-dark"].variables["loss"]
        await pilot.press("end")
        applied = []  # the app tells its widgets once the new theme's CSS is in place
        app.theme_changed_signal.subscribe(app.screen, lambda theme: applied.append(theme.name))
        for name in ("tinker-light", "tinker-high-contrast", "textual-dark", "nord"):
            app.theme = name  # built-in themes fall back to our domain defaults
            assert await wait_for(pilot, lambda: applied[-1:] == [name], what=f"the {name} theme applied")
            assert "risk-high" in app.theme_variables
        assert app.screen.query_one(LossChart).get_component_rich_style("chart--loss").color is not None
    with pytest.raises(ValueError):
        TinkerApp(home=tmp_path, theme="no-such-theme")


def test_no_color_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    app = TinkerApp(home=tmp_path)
    assert app.no_color
    assert any(type(f).__name__ in ("Monochrome", "NoColor") for f in app._filters)
    monkeypatch.delenv("NO_COLOR")
    assert not TinkerApp(home=tmp_path).no_color


@pytest.mark.asyncio
async def test_quitting_as_a_screen_opens_does_not_crash(tmp_path):
    """A person who quits the moment a run, an approval prompt or the help opens (a run launched,
    a request arriving) gets a clean exit, not a traceback from a screen torn down mid-mount."""
    from screens.approval import ApprovalScreen
    from screens.help import HelpScreen

    run = make_run(tmp_path, "r1", [])
    with FakeDaemon(run):
        for open_one in (
            lambda app: app.open_run(run),
            lambda app: app.push_screen(ApprovalScreen({"id": "a1", "rule": "shell", "summary": "ls"}, None)),
            lambda app: app.push_screen(HelpScreen(app.screen)),
        ):
            app = home_app(tmp_path)
            async with app.run_test():
                open_one(app)  # and the app closes at once
            assert app.return_code in (0, None)
