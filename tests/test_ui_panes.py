"""The run screen's header (budget), jobs and alerts panes, selectable charts, the replay
timeline, and the bell / window title when something needs the person."""

from __future__ import annotations

import pytest

from conftest_ui import LIVE, EventWriter, FakeDaemon, live_app, make_run, replay_app, until_screen, wait_for
from conftest_ui import run_screen as rs
from screens.help import HelpScreen
from screens.replay_log import ReplayLog
from screens.run_screen import RunScreen
from screens.state import RunView
from screens.widgets import LossChart, StatusLine
from screens.widgets.panes import AlertsPane, JobsPane
from screens.widgets.timeline import Timeline
from test_ui_keys import marker_events

BUDGET = {
    "type": "budget",
    "spent": {"wall_s": 1800, "gpu_h": 0.5, "tokens": 123456, "usd": 1.25},
    "limits": {"wall_s": 7200, "gpu_h": None, "tokens": 1000000, "usd": None},
    "frac": 0.25,
}


@pytest.mark.asyncio
async def test_header_jobs_alerts_and_the_title_on_another_screen(tmp_path):
    run = make_run(tmp_path, "r1", LIVE)
    w = EventWriter(run)
    with FakeDaemon(run):
        app = live_app(run, approval_grace=0.0)
        bells = []
        app.bell = lambda: bells.append(1)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: rs(app).view.state == "running")
            status = lambda: str(rs(app).query_one(StatusLine).render())
            assert "$—" in status() and "tok —" in status()  # no budget event yet
            base_title = app.title
            assert "⚠" not in base_title and "r1" in base_title
            w.append("budget", **{k: v for k, v in BUDGET.items() if k != "type"})
            for step in range(5):
                w.append(
                    "metric",
                    at=10 + 2 * step,
                    job="job1",
                    step=step * 10,
                    total=100,
                    values={"loss": 1.0 / (step + 1), "tokens_per_s": 2500.0, "mfu": 0.35},
                )
            assert await wait_for(pilot, lambda: "$1.25" in status())
            assert "tok 123.5k/1.0M" in status() and "2:00:00" in status() and "25%" in status()
            jobs = rs(app).query_one(JobsPane)
            assert await wait_for(pilot, lambda: "step 40/100" in str(jobs.render()))
            text = str(jobs.render())
            # 40 steps in 8 s -> 5 steps/s; 60 steps to go -> 12 s
            assert "2.5k tok/s" in text and "MFU 35%" in text and "ETA 00:12" in text
            # the person is on the help screen when an alert and then an approval arrive
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            w.append(
                "alert",
                rule="nan_loss",
                severity="critical",
                message="loss is NaN",
                suggestion="lower the learning rate",
            )
            assert await wait_for(pilot, lambda: "alert: nan_loss" in app.title)
            assert bells and app.title.startswith("⚠")
            alerts = rs(app).query_one(AlertsPane)
            assert await wait_for(pilot, lambda: alerts.display and "lower the learning rate" in str(alerts.render()))
            n = len(bells)
            w.append("approval_request", id="a1", rule="outside_download", summary="get data", details={})
            assert await wait_for(pilot, lambda: "approval waiting" in app.title)
            assert len(bells) > n  # the prompt rang
            w.append("approval_decision", id="a1", decision="veto", scope="once", reason="", by="cli")
            assert await wait_for(pilot, lambda: "approval waiting" not in app.title)
            await pilot.press("escape")  # close help
            await pilot.press("x")  # the alert is seen
            assert app.title == base_title


def test_replay_index_gives_the_same_charts_as_live_feeding():
    events = []
    for i, ev in enumerate(marker_events()):
        ev = dict(ev)
        ev["seq"] = i + 1
        ev["ts"] = 1_750_000_000 + float(ev.pop("at"))
        events.append(ev)
    log = ReplayLog.of_list(events)
    for cut in (len(events) // 2, len(events) - 3, len(events)):
        live = LossChart()
        live.add_metrics(events[:cut])
        restored = LossChart()
        state = log.state_at(cut)
        restored.restore_extra(state.extra_chart(restored.maxlen), state.dev_scores(), {})
        for kind in ("reward", "lr", "kl", "entropy", "dev"):
            live.kind = restored.kind = kind
            assert restored.jobs_of_kind() == live.jobs_of_kind(), (kind, cut)
        assert {j: last for j, (_, last) in state.job_metrics().items()} == live.last_metric
        view = state.view()
        fed = RunView()
        fed.apply_batch(events[:cut])
        assert view.alerts == fed.alerts and view.budget == fed.budget


@pytest.mark.asyncio
async def test_timeline_click_seeks_and_shows_markers(tmp_path):
    run = make_run(tmp_path, "r1", marker_events())
    app = replay_app(run)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_screen(pilot, app, RunScreen)
        screen = app.screen
        timeline = screen.query_one(Timeline)
        assert await wait_for(pilot, lambda: timeline.content_size.width > 0, what="the timeline laid out")
        text = str(timeline.render())
        assert text.startswith("⏸ 10x 0/") and "◆" in text and "!" in text and "★" in text
        head = len(timeline._head(screen.feed.status()))
        width = timeline.content_size.width - head
        await pilot.click(Timeline, offset=(1 + head + width // 2, 0))
        total = screen.feed.total
        assert abs(screen.feed.position - total / 2) <= total * 0.05
        assert "┃" in str(timeline.render())
        await pilot.click(Timeline, offset=(1 + head + width - 1, 0))
        assert screen.feed.position == total


def test_every_run_and_job_state_has_a_style():
    from agent_core.record.events import JOB_STATES, RUN_STATES
    from screens.widgets.state_styles import JOB_STATE_STYLE, STATE_ENTRY_STYLE, STATE_STYLE
    from themes import DOMAIN_VARIABLES

    assert set(STATE_STYLE) == set(STATE_ENTRY_STYLE) == set(RUN_STATES)
    assert set(JOB_STATE_STYLE) == set(JOB_STATES)
    styles = {*STATE_STYLE.values(), *STATE_ENTRY_STYLE.values(), *JOB_STATE_STYLE.values()}
    assert styles <= set(DOMAIN_VARIABLES)
