"""Replay: the run screen fed by ReplayFeed (no client): play/pause, speed, step, seek."""

from __future__ import annotations

import pytest

from conftest_ui import make_run, replay_app, sample_events, ts_at, wait_for
from screens.feeds import SPEEDS, ReplayFeed
from screens.run_screen import RunCommands, RunScreen
from screens.widgets import LossChart, StatusLine, Transcript


def lines(app) -> list[str]:
    return app.screen.query_one(Transcript).plain_lines()


def status(app) -> str:
    return str(app.screen.query_one(StatusLine).render())


def test_gaps_are_compressed_and_speed_steps():
    events = [
        {"seq": i + 1, "ts": ts_at(t), "type": "agent_message", "text": str(i)}
        for i, t in enumerate([0, 1, 1.5, 601.5, 602])
    ]
    feed = ReplayFeed(events, max_gap=2.0, speed=7)
    assert feed.offsets == [0, 1, 1.5, 3.5, 4.0]
    assert feed.speed == 5.0  # snapped to the nearest of SPEEDS
    for _ in range(10):
        feed.faster()
    assert feed.speed == SPEEDS[-1] == 100.0
    for _ in range(10):
        feed.slower()
    assert feed.speed == SPEEDS[0] == 1.0


@pytest.mark.asyncio
async def test_step_forward_and_back(tmp_path):
    app = replay_app(make_run(tmp_path, "r1", sample_events()))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.client is None
        feed = screen.feed
        assert not feed.playing and feed.position == 0 and lines(app) == []
        await pilot.press("right", "right", "right")
        assert await wait_for(pilot, lambda: screen.view.count == 3)
        assert feed.position == 3 and not feed.playing
        assert screen.view.state == "running"
        assert any("Plan: look at the data" in ln for ln in lines(app))
        await pilot.press("left")
        assert await wait_for(pilot, lambda: screen.view.count == 2)
        assert not any("Plan" in ln for ln in lines(app))
        assert len(lines(app)) == 2
        assert "event 2/" in status(app)
        await pilot.press("end")
        assert await wait_for(pilot, lambda: screen.view.state == "finished")
        assert "FINISHED" in status(app) and "elapsed 11:43" in status(app)
        assert "REPLAY ⏸" in status(app)
        assert len(screen.query_one(LossChart).series["j1"].points) == 40
        await pilot.press("home")
        assert await wait_for(pilot, lambda: screen.view.count == 0)
        assert lines(app) == [] and screen.query_one(LossChart).job is None


@pytest.mark.asyncio
async def test_play_pause_and_speed(tmp_path):
    app = replay_app(make_run(tmp_path, "r1", sample_events()), replay_speed=10.0)
    async with app.run_test() as pilot:
        screen = app.screen
        feed = screen.feed
        await pilot.press("plus")
        assert feed.speed == 20.0 and "20x" in status(app)
        await pilot.press("minus", "minus")
        assert feed.speed == 5.0 and "5x" in status(app)
        await pilot.press("plus")
        assert feed.speed == 10.0
        await pilot.press("space")  # ~100 s of compressed log: 10 s at 10x
        assert feed.playing and "REPLAY ▶" in status(app)
        assert await wait_for(pilot, lambda: feed.position >= 5)
        await pilot.press("space")
        assert not feed.playing and "REPLAY ⏸" in status(app)
        stopped_at = feed.position
        await pilot.pause(0.3)  # time is the behaviour here: nothing plays while paused
        assert feed.position == stopped_at == screen.view.count
        assert stopped_at < feed.total
        # played to the end at 100x, it stops by itself, showing the final state
        for _ in range(4):
            await pilot.press("plus")
        assert feed.speed == 100.0
        await pilot.press("space")
        assert await wait_for(pilot, lambda: feed.finished, timeout=10)
        assert not feed.playing
        # the last batch is a message to the screen: it shows the final state once that is handled
        assert await wait_for(pilot, lambda: screen.view.state == "finished", what="the final state shown")
        # play at the end starts over
        for _ in range(6):
            await pilot.press("minus")
        assert feed.speed == 1.0
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.view.count < 10)
        assert feed.playing and feed.position < feed.total


@pytest.mark.asyncio
async def test_replay_has_no_intervention_keys_and_no_prompt(tmp_path):
    events = sample_events()
    cut = next(i for i, e in enumerate(events) if e["type"] == "approval_decision")
    app = replay_app(make_run(tmp_path, "r1", events))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await pilot.press("p", "n", "s", "a")
        await pilot.pause()  # until idle: whatever the keys asked for is done
        assert app.screen is screen  # no confirm, no nudge box, no approval prompt
        assert not screen.query_one("#nudge-bar").has_class("shown")
        assert screen.check_action("toggle_pause", ()) is False
        assert screen.check_action("replay_toggle", ()) is True
        names = [name for name, _, _ in RunCommands(screen)._commands()]
        assert "Run: Play/Pause" in names and "Run: Step" in names
        assert "Run: Pause/Resume" not in names and "Run: Nudge" not in names
        screen.feed.seek(cut)
        assert await wait_for(pilot, lambda: screen.view.count == cut)
        assert "1 approval waiting" in status(app)
        assert app.screen is screen
        await pilot.press("right")
        assert await wait_for(pilot, lambda: not screen.view.pending)


@pytest.mark.asyncio
async def test_autoplay_replays_whole_log(tmp_path):
    app = replay_app(make_run(tmp_path, "r1", sample_events()), replay_autoplay=True, replay_speed=100.0)
    async with app.run_test() as pilot:
        screen = app.screen
        assert await wait_for(pilot, lambda: screen.view.state == "finished", timeout=10)
        assert any("finished" in ln for ln in lines(app))
        await pilot.press("q")
        assert await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0
