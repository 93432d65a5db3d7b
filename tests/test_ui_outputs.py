"""The Outputs pane: what the model wrote (the latest `completions` event) in place of the
transcript on `o`, with the marks a person needs (scores and rewards, cut texts, the length
limit), a progress bar while an evaluation runs; the same live and in replay, also after a
seek back."""

from __future__ import annotations

import pytest

from conftest_ui import LIVE, EventWriter, FakeDaemon, live_app, make_run, replay_app, wait_for
from conftest_ui import run_screen as rs
from screens.widgets import Transcript
from screens.widgets.outputs import EvalBar, OutputsPane


def grpo(step: int, completion: str, **extra) -> dict:
    return {
        "type": "completions",
        "job": "job1",
        "source": "grpo",
        "step": step,
        "items": [
            {
                "prompt": "Q: What is 12 + 30?\nA:",
                "completion": completion,
                "expected": "42",
                "rewards": {"correct": 1.0 if completion.startswith("42") else 0.0, "format": 1.0},
                **extra,
            },
            {"prompt": "Q: What is 7 x 6?\nA:", "completion": "", "expected": "42", "rewards": {"correct": 0.0}},
        ],
    }


def outputs_events() -> list[dict]:
    """A run with an evaluation under way and two GRPO steps' completions (the snapshot's too)."""
    evs = [
        *LIVE,
        {"type": "agent_message", "text": "GRPO on gsm8k; I will read the completions as it trains.", "at": 2},
        {"type": "job_state", "job": "job1", "state": "running", "at": 3},
        {**grpo(1, "42 because 12 + 30 = 42"), "at": 10},
        {
            **grpo(2, "The answer is 42. " * 40, clipped=True, cut={"completion": 1200}),
            "at": 20,
        },
        {"type": "eval_progress", "id": "eval-1", "what": "evaluate", "done": 48, "total": 128, "at": 21},
    ]
    return evs


@pytest.mark.asyncio
async def test_outputs_pane_live_shows_the_latest_completions_and_eval_progress(tmp_path):
    run = make_run(tmp_path, "r1", LIVE)
    w = EventWriter(run)
    with FakeDaemon(run):
        app = live_app(run)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: rs(app).view.state == "running")
            pane, evalbar = rs(app).query_one(OutputsPane), rs(app).query_one(EvalBar)
            assert not pane.display and not evalbar.display  # nothing to show: the layout is as before
            await pilot.press("o")
            assert pane.display and pane.has_focus and not rs(app).query_one(Transcript).display
            assert "no completions yet" in pane.plain_lines()[0]
            for ev in outputs_events()[3:]:
                ev = dict(ev)
                w.append(ev.pop("type"), **ev)
            assert await wait_for(pilot, lambda: "48/128" in "\n".join(pane.plain_lines()))
            text = "\n".join(pane.plain_lines())
            assert pane.border_title == "outputs · grpo job1 step 2"
            assert "correct 0.00 · format 1.00  ✂ length limit" in text  # rewards per function, the limit
            assert "prompt   Q: What is 12 + 30? A:" in text  # the prompt on one line
            assert "…[+1200 chars not recorded]" in text and "(empty)" in text
            assert "expected 42" in text
            assert evalbar.display and "48/128" in str(evalbar.render())
            # the evaluation ends: the bar goes
            w.append("eval_progress", id="eval-1", what="evaluate", done=128, total=128)
            assert await wait_for(pilot, lambda: not evalbar.display)
            assert "48/128" not in "\n".join(pane.plain_lines())
            await pilot.press("escape")  # back to the transcript
            assert not pane.display and rs(app).query_one(Transcript).has_focus


@pytest.mark.asyncio
async def test_outputs_pane_in_replay_follows_seeks(tmp_path):
    run = make_run(tmp_path, "r1", outputs_events())
    app = replay_app(run)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = rs(app)
        assert await wait_for(pilot, lambda: screen.feed.log.done)
        await pilot.press("o", "end")
        pane = screen.query_one(OutputsPane)
        assert await wait_for(pilot, lambda: pane.border_title == "outputs · grpo job1 step 2")
        # the completions never reach the transcript
        assert not any("12 + 30" in ln or "48/128" in ln for ln in screen.query_one(Transcript).plain_lines())
        screen.feed.seek(5)  # just after step 1's completions: rebuilt from the index
        assert await wait_for(pilot, lambda: pane.border_title == "outputs · grpo job1 step 1")
        assert "output   42 because 12 + 30 = 42" in pane.plain_lines()
        assert "✂" not in "\n".join(pane.plain_lines())
