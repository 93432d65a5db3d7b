"""Every approval decision, made with keys in the approval prompt against a real daemon (a
script agent whose run_python calls the network guard flags; nothing heavy runs):
approve once, approve for the session (rule + pattern), veto, veto with an instruction, edit
then approve (and a refused edit), and a client that attaches after the
request was made and answers it."""
from __future__ import annotations

import json

import pytest

from conftest import cli, events_of, write_script
from conftest_ui import wait_for
from screens.approval import ApprovalScreen
from screens.run_screen import RunScreen
from agent_core.runs import RunDir
from tinker_tui.app import TinkerApp
from tinker_tui.client import RunClient
from textual.widgets import TextArea

STEPS = [
    {"say": "approval paths"},
    {"tool": "run_python", "args": {"code": "import socket\nprint('first call ran')"}},
    {"tool": "run_python", "args": {"code": "import socket\nprint('second call ran')"}},
    {"tool": "run_python", "args": {"code": "import socket\nprint('third call ran')"}},
    {"tool": "run_python", "args": {"code": "import requests\nprint('requests ran')"}},
    {"tool": "run_python", "args": {"code": "import urllib.request\nprint('urllib ran')"}},
    {"tool": "run_python", "args": {"code": "import httpx\nprint('httpx ran')"}},
    {"tool": "run_python", "args": {"code": "import ftplib\nprint('ftplib ran')"}},
    {"say": "all decided"},
]


def results(run: RunDir) -> dict[str, dict]:
    evs = events_of(run.path)
    calls = {e["id"]: e for e in evs if e["type"] == "tool_call"}
    return {calls[e["id"]]["args"]["code"].split("\n")[0]: e for e in evs
            if e["type"] == "tool_result" and e["id"] in calls}


def prompt_for(app, word: str) -> bool:
    s = app.screen
    return isinstance(s, ApprovalScreen) and word in json.dumps(s.request.get("details", {}))


async def armed(pilot, app) -> None:
    """Wait out the prompt's grace period (covered in test_ui_run_screen) by its own clock: a
    busy event loop may deliver a key later than the test sent it."""
    assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.armed)


@pytest.mark.asyncio
async def test_each_decision_path_against_a_live_daemon(home, tmp_path):
    out = cli(home, "run", "--agent", write_script(tmp_path / "steps.json", STEPS), "--detach").stdout
    run = RunDir(home / "runs" / out.split()[1])
    grace = 0.3
    app = TinkerApp(home=home, run=run, mode="attach", approval_grace=grace, live_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        # approve once; a key inside the grace period does nothing
        assert await wait_for(pilot, lambda: prompt_for(app, "first call"), timeout=60)
        assert app.screen.request["rule"] == "network"
        assert len(RunClient(run).pending()) == 1
        await armed(pilot, app)
        await pilot.press("a")
        # the same kind of call asks again; approve it for the session
        assert await wait_for(pilot, lambda: prompt_for(app, "second call"), timeout=30), (
            app.screen, [str(n.message) for n in app._notifications], RunClient(run).pending())
        await armed(pilot, app)
        await pilot.press("A")
        # the third uses the same pattern (socket): no prompt; requests is another pattern: veto
        assert await wait_for(pilot, lambda: prompt_for(app, "import requests"), timeout=30)
        await armed(pilot, app)
        await pilot.press("v")
        # veto with an instruction
        assert await wait_for(pilot, lambda: prompt_for(app, "import urllib"), timeout=30)
        await armed(pilot, app)
        await pilot.press("i", *"no downloads; use data/train.jsonl", "enter")
        # edit then approve: the editor holds the code; a denied edit is refused, the prompt stays
        assert await wait_for(pilot, lambda: prompt_for(app, "import httpx"), timeout=30)
        await armed(pilot, app)
        await pilot.press("e")
        editor = app.screen.query_one("#approval-editor", TextArea)
        assert editor.has_focus and editor.text == "import httpx\nprint('httpx ran')"
        editor.load_text("print(open('../hidden/test.jsonl').read())")
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: any("eval_tamper" in str(n.message)
                                                 for n in app._notifications), timeout=10)
        assert isinstance(app.screen, ApprovalScreen)
        editor.load_text("print('edited call ran')")
        await pilot.press("end", *"  # ok")  # keys go to the editor, not to the prompt
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: prompt_for(app, "import ftplib"), timeout=30)
    # the first client detaches (the app exits) with the last request still pending
    # a client attached after the request was made sees it pending and answers it
    assert [p["details"]["args"]["code"] for p in RunClient(run).pending()] == ["import ftplib\nprint('ftplib ran')"]
    app2 = TinkerApp(home=home, run=run, mode="attach", approval_grace=0.1, live_interval=0.05)
    try:
        async with app2.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: prompt_for(app2, "import ftplib"), timeout=30)
            await armed(pilot, app2)
            await pilot.press("a")
            assert await wait_for(pilot, lambda: isinstance(app2.screen, RunScreen)
                                  and app2.screen.view.state == "finished", timeout=30)
    finally:
        if run.is_live():
            cli(home, "stop", run.id, check=False)

    res = results(run)
    assert res["import socket"]["ok"]  # the last of the three socket calls; all three ran
    summaries = [e["summary"] for e in events_of(run.path) if e["type"] == "tool_result"]
    for text in ("first call ran", "second call ran", "third call ran", "edited call ran", "ftplib ran"):
        assert any(text in s for s in summaries), text
    assert "vetoed by the person [network]" in res["import requests"]["summary"]
    assert "no downloads; use data/train.jsonl" in res["import urllib.request"]["summary"]
    decisions = [e for e in events_of(run.path) if e["type"] == "approval_decision"]
    assert [(d["decision"], d["scope"], d["by"]) for d in decisions] == [
        ("approve", "once", "person"), ("approve", "session", "person"),
        ("approve", "session", "session rule"), ("veto", "once", "person"), ("veto", "once", "person"),
        ("approve", "once", "person"), ("approve", "once", "person")]
    assert decisions[1]["pattern"] == "socket"
    assert decisions[4]["reason"] == "no downloads; use data/train.jsonl"
    assert decisions[5]["edited_args"] == {"code": "print('edited call ran')  # ok"}


async def test_the_whole_call_is_shown_and_the_flagged_part_is_highlighted(tmp_path):
    """A flagged import placed 20,000 characters into the code (past any preview cut) is in
    the prompt, highlighted, and the prompt opens scrolled to it."""
    from types import SimpleNamespace
    from textual.containers import VerticalScroll
    from textual.widgets import Static
    from agent_core.policy import classify

    code = "".join(f"row_{i} = {i}  # filler\n" for i in range(1000)) + "import socket\nprint('end of the code')\n"
    assert len(code) > 20_000
    ctx = SimpleNamespace(workspace=tmp_path, hidden_dir=tmp_path / "hidden")
    verdict = classify("run_python", {"code": code}, ctx)
    assert verdict.rule == "network" and verdict.details["code"] == code  # nothing cut
    [span] = verdict.details["spans"]
    assert code[span[0]:span[1]] == "import socket" and span[2] == "network: socket"
    request = {"id": "a1", "rule": verdict.rule, "summary": verdict.reason, "risk": verdict.risk,
               "details": {"tool": "run_python", "args": {"code": code}, "call": "c1", **verdict.details}}
    app = TinkerApp(home=tmp_path, mode="home", home_refresh=60)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = ApprovalScreen(request, client=None, grace=0.0)
        app.push_screen(screen)
        await pilot.pause()
        await pilot.pause(0.2)
        text = screen.query_one("#approval-details-text", Static).visual
        plain = text.plain
        assert "print('end of the code')" in plain and "row_0 = 0" in plain  # all of it
        [hit] = [s for s in text.spans if plain[s.start:s.end] == "import socket"]
        assert hit.style.reverse and hit.style.bold
        flags = screen.query_one("#approval-flags", Static).visual.plain
        assert "1 flagged span" in flags and "network: socket at line 1001" in flags
        scroll = screen.query_one("#approval-details", VerticalScroll)
        assert scroll.has_focus and scroll.scroll_y > 900  # opened on the flagged line
        await pilot.press("pageup")
        assert scroll.scroll_y < 1000
