"""Live run screen: LiveFeed on a synthetic log + RunClient against a real Unix-socket server."""

from __future__ import annotations

import threading
import time

import pytest

from conftest_ui import (
    EventWriter,
    FakeDaemon,
    live_app,
    make_run,
    run_screen,
    until_armed,
    wait_for,
)
from conftest_ui import transcript_text as transcript
from screens.approval import ApprovalScreen
from screens.feeds import parse_ts
from screens.run_screen import ConfirmScreen, RunCommands, RunScreen
from screens.widgets import HostPane, LossChart, StatusLine
from agent_core.record.runs import RunDir

START = [
    {"type": "run_state", "state": "starting", "at": 0},
    {"type": "run_state", "state": "running", "at": 1},
    {"type": "agent_message", "text": "Plan: read the data first.", "at": 2},
    {"type": "host_sample", "gpus": [], "cpu": 37.5, "memory": 42.0, "at": 3},
]


@pytest.mark.asyncio
async def test_live_follows_appended_events(tmp_path):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    with FakeDaemon(run):
        app = live_app(run)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: "Plan: read the data" in transcript(app))
            screen = run_screen(app)
            assert screen.view.state == "running"
            assert await wait_for(pilot, lambda: screen.daemon_alive is True)
            host = screen.query_one(HostPane)
            assert "no GPU" in str(host.render()) and "38%" in str(host.render())
            writer.append("agent_message", text="hello from the agent")
            writer.append("tool_call", id="c1", tool="shell", args={"cmd": "nvidia-smi", "timeout": 30})
            writer.append("tool_result", id="c1", ok=False, summary="exit 127")
            writer.append("human_nudge", text="check the GPU first")
            for step in range(5):
                writer.append("metric", job="j1", step=step, values={"loss": 1.0 / (step + 1)})
            chart = screen.query_one(LossChart)
            # the screen may read the appended lines in more than one poll: wait for the last one
            assert await wait_for(pilot, lambda: "j1" in chart.series and len(chart.series["j1"].points) == 5)
            text = transcript(app)
            assert "check the GPU first" in text and "hello from the agent" in text
            assert 'shell(cmd="nvidia-smi", timeout=30)' in text
            assert "FAIL" in text and "exit 127" in text
            assert "YOU" in text and "nudge from the person" in text
            assert chart.job == "j1"
            assert "metric" not in text  # metrics go to the chart, not the transcript
            status = str(screen.query_one(StatusLine).render())
            assert "RUNNING" in status and "r1" in status and "gsm8k" in status
            assert "r1" in app.title and "running" in app.title


@pytest.mark.asyncio
async def test_pause_toggles_with_state(tmp_path):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    with FakeDaemon(run) as daemon:
        app = live_app(run)
        async with app.run_test() as pilot:
            assert await wait_for(pilot, lambda: run_screen(app).view.state == "running")
            await pilot.press("p")
            assert await wait_for(pilot, lambda: daemon.cmds() == ["pause"])
            writer.append("run_state", state="paused")
            assert await wait_for(pilot, lambda: run_screen(app).view.state == "paused")
            await pilot.press("p")
            assert await wait_for(pilot, lambda: daemon.cmds() == ["pause", "resume"])


@pytest.mark.asyncio
async def test_nudge_sends_text_and_keys_go_to_the_input(tmp_path):
    run = make_run(tmp_path, "r1", START)
    with FakeDaemon(run) as daemon:
        app = live_app(run)
        async with app.run_test() as pilot:
            assert await wait_for(pilot, lambda: run_screen(app).view.state == "running")
            await pilot.press("n")
            assert await wait_for(pilot, lambda: app.focused is run_screen(app).query_one("#nudge-input"))
            # 'p', 's', 'd', 'q' typed into the nudge box must not pause/stop/quit
            await pilot.press(*"stop padding, use lr 1e-5 quickly")
            await pilot.press("enter")
            assert await wait_for(pilot, lambda: daemon.requests)
            assert daemon.requests == [{"cmd": "nudge", "text": "stop padding, use lr 1e-5 quickly"}]
            assert not run_screen(app).query_one("#nudge-bar").has_class("shown")
            # escape cancels a nudge without sending it: the next command is the next request
            await pilot.press("n", "x", "escape")
            assert not run_screen(app).query_one("#nudge-bar").has_class("shown")
            await pilot.press("p")
            assert await wait_for(pilot, lambda: len(daemon.requests) > 1)
            assert daemon.cmds() == ["nudge", "pause"]
            assert app.is_running


@pytest.mark.asyncio
async def test_stop_asks_first(tmp_path):
    run = make_run(tmp_path, "r1", START)
    with FakeDaemon(run) as daemon:
        app = live_app(run)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: run_screen(app).view.state == "running")
            names = [name for name, _, _ in RunCommands(app.screen)._commands()]
            assert {"Run: Pause/Resume", "Run: Nudge", "Run: Stop", "Run: Detach"} <= set(names)
            assert "Run: Play/Pause" not in names
            await pilot.press("s")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert isinstance(app.screen, RunScreen)
            assert daemon.requests == []
            await pilot.press("s")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")  # the first request the daemon gets: `n` sent nothing
            assert await wait_for(pilot, lambda: daemon.requests)
            assert daemon.cmds() == ["stop"]


@pytest.mark.asyncio
async def test_approval_prompt_grace_then_approve(tmp_path, monkeypatch):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    with FakeDaemon(run) as daemon:
        app = live_app(run, approval_grace=3.0)  # longer than the default 0.5 s: a busy loop is slow
        bells = []
        monkeypatch.setattr(app, "bell", lambda: bells.append(1))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: run_screen(app).view.state == "running")
            writer.append(
                "approval_request",
                id="a1",
                rule="network",
                summary="download gsm8k from the hub",
                details={"url": "https://huggingface.co/datasets/gsm8k", "risk": "medium"},
            )
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            modal = app.screen
            assert modal.request_id == "a1"
            assert bells == [1]
            assert app.title.startswith("⚠ approval waiting")
            assert await wait_for(pilot, lambda: modal.is_mounted and len(modal.query("Static")) >= 5)
            shown = " ".join(str(w.render()) for w in modal.query("Static"))
            assert "network" in shown and "download gsm8k" in shown and "huggingface.co" in shown
            # keys typed in the grace period are ignored (the prompt sends nothing, and stays)
            assert not modal.armed
            await pilot.press("a")
            assert not modal.busy and app.screen is modal
            await until_armed(pilot, app)
            await pilot.press("a")
            assert await wait_for(pilot, lambda: daemon.requests)
            assert daemon.requests == [{"cmd": "approve", "id": "a1", "scope": "once"}]  # one: the second `a`
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            writer.append("approval_decision", id="a1", decision="approve", scope="once", reason="", by="person")
            assert await wait_for(pilot, lambda: "approved once" in transcript(app))
            assert not app.title.startswith("⚠")
            assert isinstance(app.screen, RunScreen)


@pytest.mark.asyncio
async def test_decision_logged_before_the_reply_closes_the_prompt_once(tmp_path):
    """The daemon logs the decision before it answers: the prompt must close once, and the
    run screen under it must stay (a second dismiss used to pop it)."""
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    shown = threading.Event()  # set once the UI has shown the logged decision

    def log_then_reply(req):
        if req.get("cmd") == "approve":
            writer.append(
                "approval_decision", id=req["id"], decision="approve", scope=req["scope"], reason="", by="person"
            )
            shown.wait(10)  # the UI sees the logged decision before the reply

    with FakeDaemon(run, on_request=log_then_reply) as daemon:
        app = live_app(run, approval_grace=0.1)
        async with app.run_test() as pilot:
            client, answered = run_screen(app).client, threading.Event()
            approve = client.approve

            def approve_and_tell(*args, **kw):  # the prompt's worker got its reply
                try:
                    return approve(*args, **kw)
                finally:
                    answered.set()

            client.approve = approve_and_tell
            writer.append("approval_request", id="a1", rule="shell", summary="ls", details={})
            await until_armed(pilot, app)
            await pilot.press("a")
            assert await wait_for(pilot, lambda: "approved once" in transcript(app))
            assert daemon.replied == 0 and not answered.is_set()
            shown.set()  # now the reply arrives, after the prompt closed
            assert await wait_for(pilot, answered.is_set, what="the reply to reach the prompt's worker")
            await pilot.pause()  # until idle: a second dismiss, if any, is done
            assert isinstance(app.screen, RunScreen) and app.is_running
            assert daemon.cmds() == ["approve"]
            # reply first, log right after: both paths close the prompt in the same tick
            writer.append("approval_request", id="a2", rule="shell", summary="ls", details={})
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            modal = app.screen
            modal.close({"id": "a2", "decision": "approve", "scope": "once", "reason": ""})
            modal.close(None)
            assert await wait_for(pilot, lambda: modal not in app.screen_stack)
            await pilot.pause()  # until idle: a second dismiss, if any, is done
            assert isinstance(app.screen, RunScreen)


@pytest.mark.asyncio
async def test_approval_veto_with_instruction_and_session_scope(tmp_path):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    with FakeDaemon(run) as daemon:
        app = live_app(run, approval_grace=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            writer.append(
                "approval_request", id="a1", rule="shell", summary="rm -rf data/", details={"command": "rm -rf data/"}
            )
            writer.append(
                "approval_request",
                id="a2",
                rule="network",
                summary="pip install trl",
                details={"command": "pip install trl"},
            )
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            assert app.screen.request_id == "a1"
            await until_armed(pilot, app)
            await pilot.press("i")
            assert await wait_for(pilot, lambda: app.focused is app.screen.query_one("#approval-reason"))
            await pilot.press(*"keep the data; use a copy")
            await pilot.press("enter")
            assert await wait_for(pilot, lambda: daemon.requests)
            assert daemon.requests == [{"cmd": "veto", "id": "a1", "reason": "keep the data; use a copy"}]
            # the next pending request comes up, with its own grace period
            assert await wait_for(
                pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.request_id == "a2"
            )
            await until_armed(pilot, app)
            await pilot.press("A")
            assert await wait_for(pilot, lambda: len(daemon.requests) == 2)
            assert daemon.requests[1] == {"cmd": "approve", "id": "a2", "scope": "session"}


@pytest.mark.asyncio
async def test_approval_later_and_decided_elsewhere(tmp_path):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    with FakeDaemon(run) as daemon:
        app = live_app(run, approval_grace=0.1)
        async with app.run_test() as pilot:
            writer.append("approval_request", id="a1", rule="shell", summary="ls", details={})
            await until_armed(pilot, app)
            await pilot.press("escape")  # decide later
            assert isinstance(app.screen, RunScreen)
            assert "1 approval waiting" in str(run_screen(app).query_one(StatusLine).render())
            await pilot.press("a")  # review it again
            assert isinstance(app.screen, ApprovalScreen)
            # decided from the CLI meanwhile: the prompt goes away by itself
            writer.append("approval_decision", id="a1", decision="veto", scope="once", reason="no", by="cli")
            assert await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            assert daemon.requests == []


@pytest.mark.asyncio
async def test_control_errors_are_notified_not_raised(tmp_path):
    run = make_run(tmp_path, "r1", START)
    writer = EventWriter(run)
    app = live_app(run, approval_grace=0.0)  # no daemon at all: no control socket
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: run_screen(app).view.state == "running")
        assert await wait_for(pilot, lambda: run_screen(app).daemon_alive is False)
        await pilot.press("p")
        assert await wait_for(pilot, lambda: any("not running" in str(n.message) for n in app._notifications))
        writer.append("approval_request", id="a1", rule="shell", summary="ls", details={})
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("v")
        assert await wait_for(pilot, lambda: sum("not running" in str(n.message) for n in app._notifications) >= 2)
        assert isinstance(app.screen, ApprovalScreen)  # still open: nothing was decided
        assert app.is_running
    with FakeDaemon(run, fail_with="no such approval") as daemon:
        app = live_app(run, approval_grace=0.0)
        async with app.run_test() as pilot:
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            await pilot.press("a")
            assert await wait_for(pilot, lambda: any("no such approval" in str(n.message) for n in app._notifications))
            assert daemon.cmds() == ["approve"]


@pytest.mark.asyncio
async def test_detach_exits_and_leaves_the_run(tmp_path):
    run = make_run(tmp_path, "r1", START)
    with FakeDaemon(run) as daemon:
        app = live_app(run)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: run_screen(app).view.state == "running")
            await pilot.press("d")
            assert await wait_for(pilot, lambda: not app.is_running)
        assert daemon.requests == []  # detaching sends nothing to the daemon
        assert app.return_code == 0


@pytest.mark.asyncio
async def test_big_log_loads_in_one_batch(tmp_path):
    events = list(START)
    for i in range(3000):
        events.append(
            {
                "type": "agent_message" if i % 3 else "metric",
                "text": f"line {i}",
                "job": "j1",
                "step": i,
                "values": {"loss": 1 / (i + 1)},
                "at": 10 + i,
            }
        )
    run = make_run(tmp_path, "r1", events)
    app = live_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.monotonic()
        assert await wait_for(pilot, lambda: run_screen(app).view.count == len(events))
        assert time.monotonic() - t0 < 5
        assert "line 2999" in transcript(app)
        assert len(run_screen(app).query_one(LossChart).series["j1"].points) == 1000


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_end_to_end_with_a_real_daemon(home, tmp_path):
    """The lead's daemon (script agent) + this UI: the prompt appears, `a` approves it."""
    from conftest import cli, write_script  # the lead's shared helpers

    steps = [
        {"say": "start"},
        {"tool": "load_dataset", "args": {"name": "hf:someone/more-arithmetic"}},
        {"say": "after the decision"},
    ]
    out = cli(home, "run", "--agent", write_script(tmp_path / "steps.json", steps), "--detach").stdout
    run = RunDir(home / "runs" / out.split()[1])
    app = live_app(run, approval_grace=0.1)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
            await until_armed(pilot, app)
            await pilot.press("a")
            assert await wait_for(pilot, lambda: run_screen(app).view.state == "finished", timeout=90)
            text = transcript(app)
            assert "approved once" in text and "after the decision" in text
            assert isinstance(app.screen, RunScreen)
    finally:
        if run.is_live():
            cli(home, "stop", run.id, check=False)


def test_chart_and_transcript_helpers():
    from screens.widgets.chart import bars, downsample
    from screens.widgets.palette import Palette
    from screens.widgets.transcript import format_event

    assert downsample([1.0, 2.0], 4) == [1.0, 1.0, 2.0, 2.0]  # a short series fills the width
    assert downsample([1.0, 3.0, 5.0, 7.0], 2) == [2.0, 6.0]  # bucket means
    assert downsample([], 5) == []
    rows = bars([0.0, 1.0], 2)
    assert rows == [" █", "▁█"]
    pal = Palette()
    seen = {
        kind: format_event(
            {"type": kind, "ts": "2025-06-01T12:00:05Z", **fields}, pal, t0=parse_ts("2025-06-01T12:00:00Z")
        ).plain
        for kind, fields in {
            "checkpoint": {"job": "job1", "path": "ckpt-3", "step": 30},
            "submitted": {"checkpoint": "ckpt-3"},
            "note": {"text": "remember: dev set is small"},
            "job_state": {"job": "job1", "state": "failed", "detail": "CUDA OOM"},
            "something_new": {"x": 1},
        }.items()
    }
    assert seen["checkpoint"].startswith("  00:05 ckpt   job1 saved ckpt-3 @ step 30")
    assert "submitted ckpt-3" in seen["submitted"]
    assert "CUDA OOM" in seen["job_state"]
    assert '{"x": 1}' in seen["something_new"]
    assert format_event({"type": "metric", "values": {"loss": 1}}, pal, None) is None
