"""The run screen at scale (issue 6): the fast log reader, batched RunView, lazy transcript
heights, the replay log index, and Pilot runs of a large replay (seeking lands on exactly
the state of events[:i]) and of a live burst (applied completely, in order)."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from rich.console import Console

from agent_core.record.events import LogReader
from conftest_ui import BASE, live_app, make_run, replay_app, until_settled, wait_for
from screens.feeds import ReplayFeed
from screens.replay_log import FastLogReader, ReplayLog
from screens.run_screen import RunScreen
from screens.state import RunView
from screens.widgets import HostPane, LossChart, Transcript
from screens.widgets.palette import Palette
from screens.widgets.transcript import HIDDEN_TYPES, entry_height, layout_event


def ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def synth(n: int, seed: int = 1, t0: float = 0.0) -> list[dict]:
    """A mix like a real run's (mostly metrics), with the awkward cases: events without ts,
    terminal states with and without ts, reward-then-loss series, non-numeric steps,
    approvals decided later, several jobs, multi-line messages."""
    rng = random.Random(seed)
    out: list[dict] = []
    t = t0
    job, step = 1, 0
    pending: list[str] = []
    for i in range(n):
        t += rng.uniform(0.01, 3.0) if rng.random() > 0.001 else 900.0
        ev: dict = {"seq": i + 1, "ts": ts(t)}
        r = rng.random()
        if r < 0.65:
            step += 1
            key = "reward" if (job % 3 == 0 and step % 50 < 25) else "loss"
            ev.update(
                type="metric",
                job=f"j{job}",
                step=step if rng.random() > 0.01 else "late",
                values={key: rng.random() * 3, "lr": 1e-5},
            )
        elif r < 0.75:
            ev.update(type="host_sample", gpus=[], cpu=rng.uniform(0, 100), memory=50.0)
        elif r < 0.82:
            ev.update(type="tool_call", id=f"c{i}", tool="shell", args={"cmd": "ls " * rng.randint(1, 30)})
        elif r < 0.89:
            ev.update(type="tool_result", id=f"c{i}", ok=rng.random() < 0.9, summary="result " * rng.randint(1, 60))
        elif r < 0.94:
            ev.update(
                type="agent_message", text="\n".join("word " * rng.randint(3, 40) for _ in range(rng.randint(1, 5)))
            )
        elif r < 0.955:
            pending.append(f"a{i}")
            ev.update(type="approval_request", id=f"a{i}", rule="network", summary="fetch")
        elif r < 0.97 and pending:
            ev.update(type="approval_decision", id=pending.pop(0), decision="approve", scope="once")
        elif r < 0.98:
            job += rng.random() < 0.3
            ev.update(type="job_state", job=f"j{job}", state=rng.choice(["running", "finished"]))
        elif r < 0.985:
            ev.update(type="run_state", state=rng.choice(["running", "paused", "finished", "running"]))
            if rng.random() < 0.3:
                del ev["ts"]
        elif r < 0.99:
            ev.update(type="score", split="dev", value=rng.random())
        else:
            ev.update(type="alert", rule="loss_plateau", severity="warning", message="flat")
            if rng.random() < 0.5:
                del ev["ts"]
        out.append(ev)
    return out


def sequential(events: list[dict], maxlen: int = 2048) -> tuple[RunView, LossChart]:
    view, chart = RunView(), LossChart(maxlen=maxlen)
    for ev in events:
        view.apply(ev)
        if ev.get("type") == "metric":
            chart.add_metric(ev)
    return view, chart


def view_fields(view: RunView) -> dict:
    return {
        k: getattr(view, k)
        for k in ("state", "start_ts", "last_ts", "end_ts", "pending", "jobs", "last_score", "last_host", "count")
    }


def chart_fields(chart: LossChart) -> tuple:
    return chart.latest_job, [(job, s.key, list(s.points)) for job, s in chart.series.items()]


# -- pure parts ---------------------------------------------------------------------------------
def test_fast_reader_matches_log_reader(tmp_path):
    events = synth(3000, seed=2)
    lines = [json.dumps(e).encode() for e in events]
    # damage: garbage, a torn line repaired with a newline, a duplicate seq, blank and
    # whitespace lines, JSON that is not an event, bad UTF-8, an object split into two
    lines[10] = b"not json at all"
    lines[20] = lines[20][:25]
    lines[30] = lines[29]
    lines[40:40] = [
        b"",
        b"   ",
        b"[1, 2]",
        b'{"seq": "x", "type": "a"}',
        b'{"a": "\xff"}',
        b'{"seq": 99999, "type": "x"}, {"seq": 100000, "type": "y"}',
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + lines[-1][:30])  # torn tail
    slow, fast = LogReader(path), FastLogReader(path)
    got_slow, got_fast = [], []
    while batch := slow.poll(max_bytes=50_000):
        got_slow.extend(batch)
    while batch := fast.poll(max_bytes=50_000):
        got_fast.extend(batch)
    assert got_fast == got_slow and len(got_fast) > 2900
    assert (fast.corrupt, fast.last_seq, fast.offset) == (slow.corrupt, slow.last_seq, slow.offset)


def test_apply_batch_matches_apply():
    events = synth(4000, seed=3)
    rng = random.Random(3)
    one = RunView()
    for ev in events:
        one.apply(ev)
    batched = RunView()
    i = 0
    while i < len(events):
        n = rng.choice([1, 2, 7, 100, 900])
        batched.apply_batch(events[i : i + n])
        i += n
    assert view_fields(batched) == view_fields(one)


def test_entry_height_is_the_number_of_laid_out_lines():
    pal, console = Palette(), Console(width=200)
    events = [e for e in synth(1500, seed=4) if e["type"] not in HIDDEN_TYPES]
    events += [
        {"type": "agent_message", "text": t}
        for t in ("", "x" * 500, "a\tb\tc " * 40, "漢字かな " * 60, "line\n\n\nend\n", "w " * 3)
    ]
    events.append({"type": "custom_thing", "payload": {"k": "v" * 300}})
    for width in (25, 40, 97, 160):
        for ev in events:
            assert entry_height(ev, pal, 0.0, width, console) == len(layout_event(ev, pal, 0.0, width, console)), (
                width,
                ev,
            )


def test_replay_log_state_is_the_state_after_the_first_i_events(tmp_path):
    events = synth(6000, seed=5)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    from_file = ReplayLog.of_file(path)
    from_file.scan()
    from_list = ReplayLog.of_list(events)
    assert from_file.count == from_list.count == len(events)
    assert from_file.vt == from_list.vt and from_file.events(17, 19) == events[17:19]
    shown = [k for k, e in enumerate(events) if e["type"] not in HIDDEN_TYPES]
    for i in [0, 1, 999, 1000, 1001, 2500, 4321, 5999, 6000]:
        view, chart = sequential(events[:i], maxlen=100)
        for log in (from_file, from_list):
            state = log.state_at(i)
            assert view_fields(state.view()) == view_fields(view), i
            restored = LossChart(maxlen=100)
            restored.restore(*state.chart(100))
            assert chart_fields(restored) == chart_fields(chart), i
            assert state.transcript(50) == [k for k in shown if k < i][-50:]


# -- Pilot: a large replay ----------------------------------------------------------------------
def expected_entries(events: list[dict], i: int, max_entries: int) -> list[int]:
    return [e["seq"] for e in events[:i] if e["type"] not in HIDDEN_TYPES][-max_entries:]


@pytest.mark.asyncio
async def test_large_replay_seeks_land_on_the_right_state(tmp_path, monkeypatch):
    events = synth(12_000, seed=6)
    run = make_run(tmp_path, "big")
    run.events_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    monkeypatch.setattr(ReplayFeed, "SYNC_BYTES", 200_000)
    assert run.events_path.stat().st_size > ReplayFeed.SYNC_BYTES  # indexed in a worker
    app = replay_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        feed, transcript, chart = screen.feed, screen.query_one(Transcript), screen.query_one(LossChart)
        await pilot.press("end")  # pressed while the log is still being indexed: lands later
        assert await wait_for(pilot, lambda: screen.view.count == len(events), timeout=20)
        assert not feed.loading and feed.total == len(events)

        async def check(i: int) -> None:
            assert await wait_for(pilot, lambda: screen.view.count == i and feed.position == i)
            view, ref = sequential(events[:i], maxlen=chart.maxlen)
            assert view_fields(screen.view) == view_fields(view), i
            assert chart_fields(chart) == chart_fields(ref), i
            want = expected_entries(events, i, transcript.max_entries)
            got = transcript.entries
            assert len(got) == len(want)
            assert [transcript._entry(j)["seq"] for j in range(len(got) - 40, len(got)) if j >= 0] == want[-40:]
            assert screen.query_one(HostPane).sample == view.last_host

        await check(len(events))
        rng = random.Random(7)
        for i in [rng.randrange(len(events)) for _ in range(4)] + [0, 1, 5000]:
            feed.seek(i)
            await check(i)
        await pilot.press("left", "left", "left")
        await check(4997)
        await pilot.press("right")
        await check(4998)
        feed.seek(4998 + 200)  # a short jump forward is played as one batch
        await check(5198)
        await pilot.press("home")
        await check(0)
        # the transcript follows the tail after a seek: its last row is the last entry's
        feed.seek(9000)
        await check(9000)
        await until_settled(pilot, app)
        assert await wait_for(pilot, lambda: transcript.follow and transcript.scroll_y == transcript.max_scroll_y)


# -- Pilot: a live burst ------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_live_burst_is_applied_completely_and_in_order(tmp_path):
    events = [e for e in synth(30_000, seed=8) if e["type"] not in ("approval_request", "approval_decision")]
    for k, e in enumerate(events):
        e["seq"] = k + 1
    run = make_run(tmp_path, "live")
    app = live_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        # the feed is polling (it has looked for the daemon) before the burst is written
        assert await wait_for(pilot, lambda: screen.daemon_alive is not None)
        with open(run.events_path, "a") as fh:  # one write: many polls' worth at once
            fh.write("".join(json.dumps(e) + "\n" for e in events))
        assert await wait_for(pilot, lambda: screen.view.count == len(events), timeout=20)
        await until_settled(pilot, app)
        view, ref = sequential(events)
        assert view_fields(screen.view) == view_fields(view)
        assert chart_fields(screen.query_one(LossChart)) == chart_fields(ref)
        transcript = screen.query_one(Transcript)
        want = expected_entries(events, len(events), transcript.max_entries)
        assert len(transcript.entries) <= transcript.max_entries * 5 // 4
        assert [e["seq"] for e in transcript.entries[-len(want) // 2 :]] == want[-len(want) // 2 :]
        assert await wait_for(pilot, lambda: transcript.follow and transcript.scroll_y == transcript.max_scroll_y)
