"""Starting a run from the home screen's form: bad input is explained, good input starts a
real daemon and the app attaches to it."""

from __future__ import annotations

import json

import pytest
from conftest import last_state, wait_for as wait_sync
from conftest_ui import home_app, wait_for

from agent_core.record.runs import list_runs
from screens.new_run import NewRunScreen
from screens.run_screen import RunScreen
from textual.widgets import Input, Static
from tinker_tui.client import RunClient


@pytest.mark.asyncio
async def test_new_run_form_validates_then_starts_and_attaches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    home = tmp_path / "home"
    script = tmp_path / "steps.json"
    script.write_text(json.dumps([{"tool": "load_dataset", "args": {"name": "hf:x/y"}}]))
    app = home_app(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("N")
        assert await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen))
        form = app.screen
        form.query_one("#new-agent", Input).value = f"script:{script}"
        form.query_one("#new-budget", Input).value = "soon"
        await pilot.click("#start")
        assert await wait_for(pilot, lambda: "bad budget" in str(form.query_one("#error", Static).render()))
        assert isinstance(app.screen, NewRunScreen), "bad input keeps the form open"
        form.query_one("#new-budget", Input).value = "10m"
        # a Button ignores clicks during its 0.2 s press effect (which ends late on a busy machine)
        assert await wait_for(pilot, lambda: not form.query_one("#start").has_class("-active"))
        await pilot.click("#start")

        # the script's first call is flagged: on a slow machine the approval dialog may already
        # sit on top of the run screen by the time we look, so look for it in the stack
        def run_screens():
            return [s for s in app.screen_stack if isinstance(s, RunScreen)]

        assert await wait_for(pilot, lambda: bool(run_screens()), timeout=30, what="the run screen")
        [run] = list_runs(home)
        [screen] = run_screens()
        assert screen.run.id == run.id and screen.client is not None
        assert run.config()["budget_s"] == 600
    wait_sync(lambda: last_state(run.path) == "waiting_approval", 30, what="the script's flagged call")
    RunClient(run).stop()
    wait_sync(lambda: last_state(run.path) == "finished", 60, what="finished")
