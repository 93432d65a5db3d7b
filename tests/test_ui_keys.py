"""Every key binding does what it says: the tests walk the bindings table (tinker_tui.keymap)
and press each binding's key as the help screen lists it (keymap applied), then check the
effect. A binding added without a behaviour check here fails
`test_every_binding_is_walked`. Also: remapping in config.toml, bad config, the help screen."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from conftest_ui import (
    BASE_EPOCH,
    LIVE,
    FakeDaemon,
    home_app,
    live_app,
    make_run,
    replay_app,
    sample_events,
    until_screen,
    wait_for,
)
from screens.approval import ApprovalScreen
from screens.help import HelpScreen, binding_rows
from screens.home import HomeScreen
from screens.new_run import NewRunScreen
from screens.run_screen import ConfirmScreen, RunScreen
from screens.widgets import LossChart
from screens.widgets.chart import CHART_KINDS
from tinker_tui.app import TinkerApp
from tinker_tui.keymap import all_bindings, binding_ids

# The approval prompt's keys are walked by
# tests/test_ui_run_screen.py (approve once / session, veto, veto with instruction, later)
# and tests/test_ui_approval.py (edit then approve too); here we only check they carry ids.
APPROVAL_IDS = {b.id for owner, b in all_bindings(TinkerApp) if owner == "ApprovalScreen"}


def key_for(screen, binding_id: str) -> str:
    """The key the help screen lists first for this binding (the keymap applied)."""
    for row in binding_rows(screen):
        if row.id == binding_id:
            return row.keys[0]
    raise AssertionError(f"{binding_id} is not bound on {type(screen).__name__}")


def marker_events() -> list[dict]:
    evs = sample_events()
    # two jobs with the other chart metrics, a checkpoint and a dev score
    evs[-7:-7] = [
        {
            "type": "metric",
            "job": "j2",
            "step": s,
            "values": {
                "loss": 1.0 / (s + 1),
                "reward_mean": 0.1 * s,
                "learning_rate": 1e-4,
                "kl": 0.01 * s,
                "entropy": 2 - 0.1 * s,
            },
            "at": 120 + s,
        }
        for s in range(6)
    ] + [
        {"type": "checkpoint", "job": "j2", "path": "checkpoints/j2/step-5", "step": 5, "at": 127},
        {"type": "score", "split": "dev", "value": 0.31, "job": "j2", "step": 5, "at": 128},
    ]
    return evs


# -- the walk ------------------------------------------------------------------------------
REPLAY_WALKED = {
    "replay.toggle",
    "replay.faster",
    "replay.slower",
    "replay.back",
    "replay.step",
    "replay.start",
    "replay.end",
    "replay.back_1pct",
    "replay.forward_1pct",
    "replay.back_10pct",
    "replay.forward_10pct",
    "replay.prev_marker",
    "replay.next_marker",
    "run.chart",
    "run.cycle_job",
    "run.outputs",
    "run.back",
    "run.quit",
    "app.help",
    "help.close",
    "app.quit",
}
LIVE_WALKED = {
    "run.pause",
    "run.nudge",
    "run.stop",
    "run.approvals",
    "run.detach",
    "run.ack_alerts",
    "confirm.yes",
    "confirm.no",
}
HOME_WALKED = {
    "home.open",
    "home.attach",
    "home.replay",
    "home.resume",
    "home.delete",
    "home.new_run",
    "home.refresh",
    "home.quit",
    "new_run.cancel",
}


def test_every_binding_is_walked():
    ids = binding_ids(TinkerApp)
    assert all(b.id for _, b in all_bindings(TinkerApp)), "every binding has an id"
    assert APPROVAL_IDS and APPROVAL_IDS <= ids
    assert ids - APPROVAL_IDS == REPLAY_WALKED | LIVE_WALKED | HOME_WALKED


@pytest.mark.asyncio
async def test_replay_bindings_do_what_they_say(tmp_path):
    run = make_run(tmp_path, "r1", marker_events())
    make_run(tmp_path, "r0", LIVE, config={"created": BASE_EPOCH - 10})
    app = home_app(tmp_path, replay_autoplay=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
        app.post_message(HomeScreen.OpenRun(run, "replay"))
        assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        feed = screen.feed
        total = feed.total
        markers = list(feed.log.markers)
        assert len(markers) >= 6

        async def press(bid: str, at: int | None = None):
            if at is not None:
                feed.pause()
                feed.seek(at)
            await pilot.press(key_for(screen, bid))

        mid = total // 2
        await press("replay.toggle", mid)
        assert feed.playing
        await press("replay.toggle")
        assert not feed.playing
        speed = feed.speed
        await press("replay.faster")
        assert feed.speed > speed
        await press("replay.slower")
        assert feed.speed == speed
        await press("replay.step", mid)
        assert feed.position == mid + 1
        await press("replay.back", mid)
        assert feed.position == mid - 1
        await press("replay.start", mid)
        assert feed.position == 0
        await press("replay.end", mid)
        assert feed.position == total and not feed.playing
        one, ten = max(1, round(total * 0.01)), round(total * 0.1)
        await press("replay.forward_1pct", mid)
        assert feed.position == mid + one
        await press("replay.back_1pct", mid)
        assert feed.position == mid - one
        await press("replay.forward_10pct", mid)
        assert feed.position == mid + ten
        await press("replay.back_10pct", mid)
        assert feed.position == mid - ten
        # markers: the last event shown is the next / previous marker
        after = next(m for m in markers if m >= mid)
        await press("replay.next_marker", mid)
        assert feed.position == after + 1 and feed.log.type_of(after) in {
            "approval_request",
            "approval_decision",
            "alert",
            "checkpoint",
            "human_nudge",
            "score",
        }
        await press("replay.next_marker")
        assert feed.position == markers[markers.index(after) + 1] + 1
        await press("replay.prev_marker")
        assert feed.position == after + 1
        await press("replay.prev_marker", 0)  # nothing before the start: no move
        assert feed.position == 0
        # the shown state follows the seek (the snapshot rebuild): seek past the dev score
        await press("replay.end")
        chart = screen.query_one(LossChart)
        kinds = list(CHART_KINDS)
        await press("run.chart")
        assert chart.kind == kinds[1] and set(chart.jobs_of_kind()) == {"j2"}
        for _ in range(len(kinds) - 2):
            await press("run.chart")
        assert chart.kind == "dev" and chart.jobs_of_kind() == {"j2": [(5, 0.31)]}
        await press("run.chart")
        assert chart.kind == "loss"
        await press("run.cycle_job")
        assert chart.pinned == "j1"
        await press("run.cycle_job")
        assert chart.pinned == "j2"
        await press("run.outputs")  # what the model wrote, in place of the transcript; and back
        assert screen.query_one("#outputs").display and not screen.query_one("#transcript").display
        await press("run.outputs")
        assert screen.query_one("#transcript").display and not screen.query_one("#outputs").display
        # help lists this screen's bindings with their ids and keys; esc closes it
        await press("app.help")
        assert isinstance(app.screen, HelpScreen)
        ids = {row.id for row in app.screen.rows}
        assert {"replay.toggle", "replay.next_marker", "run.chart", "app.help"} <= ids
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(app.screen.rows)
        await pilot.press(key_for(app.screen, "help.close"))
        assert app.screen is screen
        await press("run.back")
        assert isinstance(app.screen, HomeScreen)
        app.post_message(HomeScreen.OpenRun(run, "replay"))
        assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press(key_for(app.screen, "run.quit"))
        assert await wait_for(pilot, lambda: not app.is_running)

    app = replay_app(run)
    async with app.run_test() as pilot:
        await until_screen(pilot, app, RunScreen)
        await pilot.press(key_for(app.screen, "app.quit"))
        assert await wait_for(pilot, lambda: not app.is_running)


@pytest.mark.asyncio
async def test_live_bindings_do_what_they_say(tmp_path):
    events = LIVE + [
        {
            "type": "alert",
            "rule": "gpu_idle",
            "severity": "warning",
            "message": "GPU idle 5 min",
            "suggestion": "start a job",
            "at": 2,
        },
        {
            "type": "approval_request",
            "id": "a1",
            "rule": "outside_download",
            "summary": "download x",
            "details": {},
            "at": 3,
        },
    ]
    run = make_run(tmp_path, "r1", events)
    with FakeDaemon(run) as daemon:
        app = live_app(run, approval_grace=0.0)
        bells = []
        app.bell = lambda: bells.append(1)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            assert bells and "⚠" in app.title and "approval waiting" in app.title
            await pilot.press("escape")  # decide later
            screen = app.screen
            assert isinstance(screen, RunScreen)
            assert "alert: gpu_idle" in app.title
            await pilot.press(key_for(screen, "run.ack_alerts"))
            assert "alert" not in app.title and "approval waiting" in app.title
            await pilot.press(key_for(screen, "run.approvals"))
            assert isinstance(app.screen, ApprovalScreen)
            await pilot.press("escape")
            await pilot.press(key_for(screen, "run.pause"))
            assert await wait_for(pilot, lambda: daemon.cmds() == ["pause"])
            await pilot.press(key_for(screen, "run.nudge"))
            assert screen.query_one("#nudge-bar").has_class("shown")
            assert app.focused is screen.query_one("#nudge-input")
            await pilot.press("escape")
            await pilot.press(key_for(screen, "run.stop"))
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(key_for(app.screen, "confirm.no"))
            assert app.screen is screen and daemon.cmds() == ["pause"]
            await pilot.press(key_for(screen, "run.stop"))
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press(key_for(app.screen, "confirm.yes"))
            assert await wait_for(pilot, lambda: daemon.cmds() == ["pause", "stop"])
            await pilot.press(key_for(screen, "run.detach"))
            assert await wait_for(pilot, lambda: not app.is_running)
        assert app.title == "tinker-tui" or "approval" not in app.title


@pytest.mark.asyncio
async def test_home_bindings_do_what_they_say(tmp_path, monkeypatch):
    done = make_run(tmp_path, "20250601-120000-aaaa", sample_events(), config={"created": BASE_EPOCH})
    live = make_run(
        tmp_path,
        "20250601-130000-bbbb",
        LIVE
        + [
            {"type": "approval_request", "id": "a9", "rule": "outside_download", "summary": "x", "details": {}, "at": 2}
        ],
        config={"created": BASE_EPOCH + 1800},
    )
    resumed = []

    def fake_resume(run_dir):
        resumed.append(run_dir)
        raise RuntimeError("the run finished: nothing to resume")

    import agent_core.daemon.launch as launch

    monkeypatch.setattr(launch, "resume_run", fake_resume, raising=False)
    new_runs = []
    with FakeDaemon(live):
        app = home_app(tmp_path, replay_autoplay=False, start_new_run=lambda a: new_runs.append(a) or None)
        bells = []
        app.bell = lambda: bells.append(1)
        notes = []
        async with app.run_test(size=(120, 30)) as pilot:
            home = app.screen
            table = home.query_one(DataTable)
            assert await wait_for(pilot, lambda: table.row_count == 2)
            # a live run waits on an approval: bell + title, even here on the home screen
            assert await wait_for(pilot, lambda: "approval waiting" in app.title)
            assert bells
            monkeypatch.setattr(app, "notify", lambda msg, **kw: notes.append(msg))  # screens notify through the app

            def attached() -> bool:
                return any(isinstance(s, RunScreen) and s.client is not None for s in app.screen_stack)

            async def back_home() -> None:
                while app.screen is not home:
                    await app.pop_screen()
                assert await wait_for(pilot, lambda: app.focused is table, what="the runs table focused again")

            await pilot.press(key_for(home, "home.open"))  # the live run (newest first)
            assert await wait_for(pilot, attached)
            await back_home()
            await pilot.press(key_for(home, "home.attach"))
            assert await wait_for(pilot, attached)
            await back_home()
            await pilot.press("down", key_for(home, "home.attach"))  # finished: refused
            assert await wait_for(pilot, lambda: any("not running" in n for n in notes))
            assert app.screen is home
            await pilot.press(key_for(home, "home.replay"))
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.client is None)
            await back_home()
            await pilot.press(key_for(home, "home.resume"))
            assert await wait_for(pilot, lambda: any("could not resume" in n for n in notes))
            assert [str(p) for p in resumed] == [str(done.path)]
            assert any("nothing to resume" in n for n in notes)
            await pilot.press(key_for(home, "home.new_run"))
            assert new_runs == [app]
            # delete: asks first; no keeps it, yes removes it
            await pilot.press(key_for(home, "home.delete"))
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert done.path.exists()
            await pilot.press(key_for(home, "home.delete"))
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            assert await wait_for(pilot, lambda: not done.path.exists())
            assert await wait_for(pilot, lambda: table.row_count == 1)
            # a live run is refused
            await pilot.press("up", key_for(home, "home.delete"))
            assert await wait_for(pilot, lambda: any("is live" in n for n in notes))
            assert app.screen is home and live.path.exists()
            # refresh picks up a new run
            make_run(tmp_path, "20250601-140000-cccc", sample_events(), config={"created": BASE_EPOCH + 3600})
            await pilot.press(key_for(home, "home.refresh"))
            assert await wait_for(pilot, lambda: table.row_count == 2)
            await pilot.press(key_for(home, "home.quit"))
            assert await wait_for(pilot, lambda: not app.is_running)

    app = home_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press(key_for(app.screen, "home.new_run"))
        assert await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen))
        await pilot.press(key_for(app.screen, "new_run.cancel"))
        assert await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))


def test_delete_run_refuses_a_live_run(tmp_path):
    from agent_core.record.runs import RunIsLive, delete_run

    run = make_run(tmp_path, "r1", LIVE)
    with FakeDaemon(run):
        with pytest.raises(RunIsLive, match="stop it first"):
            delete_run(run)
    assert run.path.exists()
    with pytest.raises(ValueError):
        delete_run(type(run)(tmp_path / "runs"))
    delete_run(run)
    assert not run.path.exists()


# -- remapping ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_keys_are_remapped_from_the_config_file(tmp_path):
    (tmp_path / "config.toml").write_text('[keys]\n"run.chart" = "g"\n"replay.next_marker" = ["n", "f2"]\n')
    run = make_run(tmp_path, "r1", marker_events())
    app = replay_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await until_screen(pilot, app, RunScreen)
        screen = app.screen
        chart = screen.query_one(LossChart)
        assert key_for(screen, "run.chart") == "g"
        await pilot.press("c")
        assert chart.kind == "loss", "the old key no longer does it"
        await pilot.press("g")
        assert chart.kind == "reward"
        await pilot.press("f2")
        assert screen.feed.position == screen.feed.log.markers[0] + 1
        await pilot.press("question_mark")
        row = next(r for r in app.screen.rows if r.id == "replay.next_marker")
        assert set(row.keys) == {"n", "f2"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[keys\n"run.chart" = "g"', "not valid TOML"),
        ('[keys]\n"run.nope" = "g"\n"run.chart" = "g"', "unknown binding id 'run.nope'"),
        ('[keys]\n"run.chart" = 5\n', "is not a key"),
        ('[keys]\n"run.chart" = "two words"\n', "is not a key"),
        ("keys = 3\n", "must be a table"),
    ],
)
def test_bad_config_is_reported_and_defaults_kept(tmp_path, monkeypatch, text, problem):
    from tinker_tui.config import load_keymap

    path = tmp_path / "elsewhere.toml"
    path.write_text(text)
    monkeypatch.setenv("TINKER_TUI_CONFIG", str(path))
    keymap, problems, used = load_keymap(tmp_path, binding_ids(TinkerApp))
    assert used == path
    assert any(problem in p and str(path) in p for p in problems), problems
    # only the valid entries are kept: everything else keeps its default key
    assert keymap == ({"run.chart": "g"} if "run.nope" in text else {})


@pytest.mark.asyncio
async def test_bad_config_is_shown_to_the_person(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('[keys]\n"run.nope" = "g"\n')
    monkeypatch.delenv("TINKER_TUI_CONFIG", raising=False)
    run = make_run(tmp_path, "r1", marker_events())
    app = replay_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(
            pilot, lambda: any("unknown binding id 'run.nope'" in n.message for n in app._notifications)
        )
        await until_screen(pilot, app, RunScreen)
        await pilot.press("c")  # defaults kept
        assert app.screen.query_one(LossChart).kind == "reward"
