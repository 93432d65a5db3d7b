"""SVG snapshots of the run, approval, replay and home screens at 120x40 and 80x24 in each of
the three themes (24). Built from a synthetic log with fixed timestamps and a fixed clock, so
elapsed times and ages are the same on every machine.

Update after an intended change: pytest tests/test_ui_snapshots.py --snapshot-update
(and look at the report)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from conftest_ui import (
    BASE_EPOCH,
    FakeDaemon,
    home_app,
    live_app,
    make_run,
    replay_app,
    run_screen,
    sample_events,
    until_settled,
    wait_for,
)
from screens.approval import ApprovalScreen
from screens.run_screen import RunScreen
from themes import THEMES

SIZES = [(120, 40), (80, 24)]
SCREENS = ["run", "approval", "replay", "home"]


def rich_events() -> list[dict]:
    """sample_events() plus a budget event, a second job with the other metrics, a dev
    score and a critical alert with a suggestion."""
    evs = sample_events()
    extra = (
        [
            {
                "type": "budget",
                "spent": {"wall_s": 1800, "gpu_h": 0.5, "tokens": 123456, "usd": 1.25},
                "limits": {"wall_s": 7200, "gpu_h": None, "tokens": 1000000, "usd": 10.0},
                "frac": 0.25,
                "at": 105,
            },
            {"type": "job_state", "job": "j2", "state": "running", "at": 106},
        ]
        + [
            {
                "type": "metric",
                "job": "j2",
                "step": s,
                "total": 40,
                "values": {
                    "loss": 1.5 / (s + 1),
                    "reward_mean": 0.05 * s,
                    "learning_rate": 1e-4,
                    "tokens_per_s": 5200.0,
                    "mfu": 0.41,
                },
                "at": 107 + 2 * s,
            }
            for s in range(8)
        ]
        + [
            {"type": "score", "split": "dev", "value": 0.31, "job": "j2", "step": 7, "at": 123},
            {
                "type": "alert",
                "rule": "reward_hack",
                "severity": "critical",
                "message": "reward up while the dev score is down",
                "suggestion": "read a few samples",
                "at": 124,
            },
        ]
    )
    cut = next(i for i, e in enumerate(evs) if e["type"] == "score")
    return evs[:cut] + extra + evs[cut:]


def build(screen: str, theme: str, tmp_path):
    """(app, run_before, context manager or None) for one snapshot."""
    evs = rich_events()
    if screen == "home":
        make_run(tmp_path, "20250601-120000-aaaa", evs, config={"created": BASE_EPOCH})
        make_run(tmp_path, "20250601-123000-bbbb", evs[:12], config={"created": BASE_EPOCH + 1800, "task": "humaneval"})
        app = home_app(tmp_path, theme=theme)

        async def ready(pilot):
            await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
            app.screen.query_one("#home-title").update("tinker-tui · runs in $HOME")

        return app, ready, None
    if screen == "replay":
        run = make_run(tmp_path, "r1", evs)
        app = replay_app(run, theme=theme)

        async def ready(pilot):
            # the log is indexed in a worker: seek once all of it is (a loaded machine is slower)
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.feed.log.done)
            app.screen.feed.seek(len(evs) - 5)
            await wait_for(pilot, lambda: app.screen.view.count == len(evs) - 5)
            await until_settled(pilot, app)  # the chart and panes redrawn

        return app, ready, None
    # live: "run" has no approval waiting (decided); "approval" stops at the request
    if screen == "run":
        cut = len(evs) - 3  # before the test score and the end: still running
    else:
        cut = next(i for i, e in enumerate(evs) if e["type"] == "approval_decision")
    run = make_run(tmp_path, "r1", evs[:cut])
    app = live_app(run, theme=theme)

    async def ready(pilot):
        if screen == "approval":
            await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await wait_for(pilot, lambda: run_screen(app).daemon_alive is not None and run_screen(app).view.count == cut)
        await until_settled(pilot, app)  # the chart and panes redrawn

    return app, ready, FakeDaemon(run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", sorted(THEMES))
@pytest.mark.parametrize("screen", SCREENS)
def test_snapshot(screen, theme, size, tmp_path, snap_compare):
    app, ready, ctx = build(screen, theme, tmp_path)
    if ctx is None:
        assert snap_compare(app, terminal_size=size, run_before=ready)
    else:
        with ctx:
            assert snap_compare(app, terminal_size=size, run_before=ready)


def test_snapshot_outputs_pane(tmp_path, snap_compare):
    """The Outputs pane (key o) at the end of a replay: two GRPO completions (one clipped and cut
    for the record, one empty), the rewards per function, an evaluation's progress bar."""
    from test_ui_outputs import outputs_events

    evs = outputs_events()
    run = make_run(tmp_path, "r1", evs)
    app = replay_app(run, theme="tinker-dark")

    async def ready(pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.feed.log.done)
        await pilot.press("o")
        app.screen.feed.seek(len(evs))
        await wait_for(pilot, lambda: app.screen.view.count == len(evs))
        await until_settled(pilot, app)  # the panes redrawn

    assert snap_compare(app, terminal_size=(120, 40), run_before=ready)
