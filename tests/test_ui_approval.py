"""Every approval decision, made with keys in the approval prompt against a real daemon (a
script agent whose run_python calls the network guard flags; nothing heavy runs):
approve once, approve for the session (rule + pattern), veto, veto with an instruction, edit
then approve (and a refused edit), and a client that attaches after the
request was made and answers it."""

from __future__ import annotations

import json

import pytest

from conftest import cli, events_of, write_script
from conftest_ui import home_app, live_app, until_armed, wait_for
from screens.approval import ApprovalScreen
from screens.run_screen import RunScreen
from agent_core.record.runs import RunDir
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
    return {
        calls[e["id"]]["args"]["code"].split("\n")[0]: e for e in evs if e["type"] == "tool_result" and e["id"] in calls
    }


def prompt_for(app, word: str) -> bool:
    s = app.screen
    return isinstance(s, ApprovalScreen) and word in json.dumps(s.request.get("details", {}))


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_each_decision_path_against_a_live_daemon(home, tmp_path):
    out = cli(home, "run", "--agent", write_script(tmp_path / "steps.json", STEPS), "--detach").stdout
    run = RunDir(home / "runs" / out.split()[1])
    grace = 0.3
    app = live_app(run, approval_grace=grace)
    async with app.run_test(size=(120, 40)) as pilot:
        # approve once; a key inside the grace period does nothing
        assert await wait_for(pilot, lambda: prompt_for(app, "first call"), timeout=60)
        assert app.screen.request["rule"] == "network"
        assert len(RunClient(run).pending()) == 1
        await until_armed(pilot, app)
        await pilot.press("a")
        # the same kind of call asks again; approve it for the session
        assert await wait_for(pilot, lambda: prompt_for(app, "second call"), timeout=30), (
            app.screen,
            [str(n.message) for n in app._notifications],
            RunClient(run).pending(),
        )
        await until_armed(pilot, app)
        await pilot.press("A")
        # the third uses the same pattern (socket): no prompt; requests is another pattern: veto
        assert await wait_for(pilot, lambda: prompt_for(app, "import requests"), timeout=30)
        await until_armed(pilot, app)
        await pilot.press("v")
        # veto with an instruction
        assert await wait_for(pilot, lambda: prompt_for(app, "import urllib"), timeout=30)
        await until_armed(pilot, app)
        await pilot.press("i")
        assert await wait_for(pilot, lambda: app.focused is app.screen.query_one("#approval-reason"))
        await pilot.press(*"no downloads; use data/train.jsonl", "enter")
        # edit then approve: the editor holds the code; a denied edit is refused, the prompt stays
        assert await wait_for(pilot, lambda: prompt_for(app, "import httpx"), timeout=30)
        await until_armed(pilot, app)
        await pilot.press("e")
        editor = app.screen.query_one("#approval-editor", TextArea)
        assert editor.has_focus and editor.text == "import httpx\nprint('httpx ran')"
        editor.load_text("print(open('../hidden/test.jsonl').read())")
        await pilot.press("ctrl+s")
        assert await wait_for(
            pilot, lambda: any("eval_tamper" in str(n.message) for n in app._notifications), timeout=10
        )
        assert isinstance(app.screen, ApprovalScreen)
        editor.load_text("print('edited call ran')")
        await pilot.press("end", *"  # ok")  # keys go to the editor, not to the prompt
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: prompt_for(app, "import ftplib"), timeout=30)
    # the first client detaches (the app exits) with the last request still pending
    # a client attached after the request was made sees it pending and answers it
    assert [p["details"]["args"]["code"] for p in RunClient(run).pending()] == ["import ftplib\nprint('ftplib ran')"]
    app2 = live_app(run, approval_grace=0.1)
    try:
        async with app2.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: prompt_for(app2, "import ftplib"), timeout=30)
            await until_armed(pilot, app2)
            await pilot.press("a")
            assert await wait_for(
                pilot, lambda: isinstance(app2.screen, RunScreen) and app2.screen.view.state == "finished", timeout=30
            )
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
        ("approve", "once", "person"),
        ("approve", "session", "person"),
        ("approve", "session", "session rule"),
        ("veto", "once", "person"),
        ("veto", "once", "person"),
        ("approve", "once", "person"),
        ("approve", "once", "person"),
    ]
    assert decisions[1]["pattern"] == "socket"
    assert decisions[4]["reason"] == "no downloads; use data/train.jsonl"
    assert decisions[5]["edited_args"] == {"code": "print('edited call ran')  # ok"}


class FakeClient:
    """Records the decisions the prompt sends (no daemon)."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def approve(self, aid, scope):
        self.sent.append(("approve", aid, scope))

    def veto(self, aid, reason):
        self.sent.append(("veto", aid, reason))

    def request(self, cmd, **kw):
        self.sent.append((cmd, kw))


def filler(n: int, start: int = 0) -> str:
    return "".join(f"row_{i} = {i}  # filler\n" for i in range(start, start + n))


def network_request(tmp_path, code: str) -> dict:
    """An approval request shaped as the daemon makes it (agent_core.oversight.approvals.ask):
    the call's args, then the verdict's details (the code again, and its flagged spans)."""
    from types import SimpleNamespace
    from agent_core.oversight.policy import classify

    verdict = classify(
        "run_python", {"code": code}, SimpleNamespace(workspace=tmp_path, hidden_dir=tmp_path / "hidden")
    )
    assert verdict.rule == "network"
    return {
        "id": "a1",
        "rule": verdict.rule,
        "summary": verdict.reason,
        "risk": verdict.risk,
        "details": {
            "tool": "run_python",
            "args": {"code": code, "timeout": 60},
            "call": "c1",
            "risk": verdict.risk,
            **verdict.details,
            "pattern": verdict.pattern,
        },
    }


def on_screen(view) -> str:
    """The text of the view's visible rows, as rendered."""
    from textual.geometry import Region

    size = view.outer_size  # the border and padding rows too
    return "\n".join(strip.text for strip in view.render_lines(Region(0, 0, size.width, size.height)))


async def test_the_whole_call_is_shown_and_the_flagged_part_is_highlighted(tmp_path):
    """A flagged import 20,000+ characters into the code (past any preview cut), with more code
    after it: the prompt holds all of the code, highlights the import, opens scrolled to it,
    scrolls by keyboard, and the decision keys still work with the code view focused."""
    from rich.style import Style
    from textual.widgets import Static
    from screens.widgets.call_view import CallView

    code = filler(1000) + "import os, socket\n" + filler(300, 1000) + "print('end of the code')\n"
    assert len(code) > 20_000
    client = FakeClient()
    app = home_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = ApprovalScreen(network_request(tmp_path, code), client=client, grace=0.0)
        app.push_screen(screen)
        view = None

        def opened() -> bool:
            nonlocal view
            views = screen.query(CallView) if screen.is_mounted else []
            view = views.first() if views else None
            return view is not None and view.document.line_count > 1 and view.scroll_y > 0 and view.has_focus

        assert await wait_for(pilot, opened)
        # drawn where it opened (the layout settles after the scroll)
        assert await wait_for(pilot, lambda: "1001 │ import os, socket" in on_screen(view))
        doc = view.document
        # all of the code, once, numbered: its first and its last line are in the view
        assert view.text.count("row_0 = 0  # filler") == 1
        assert doc.get_line(doc.line_count - 1) == " 1302 │ print('end of the code')"
        assert "code: ↓ below, as code" in view.text  # the args' copy is not shown twice
        # the flagged span: located, highlighted (risk colour, bold, reversed), and counted
        [flag] = view.doc.flags
        assert (flag.label, flag.source_line) == ("network: socket", 1001)
        assert doc.get_line(flag.line)[flag.start : flag.end] == "socket"
        line = view.get_line(flag.line)
        [hit] = [s for s in line.spans if line.plain[s.start : s.end] == "socket"]
        style = hit.style if isinstance(hit.style, Style) else Style.parse(hit.style)
        assert style.reverse and style.bold and style.color is not None
        flags = screen.query_one("#approval-flags", Static).visual.plain
        assert "1 flagged span (highlighted)" in flags and "network: socket at line 1001" in flags
        # opened on it: the flagged line is on screen, and the view has the keys
        assert view.has_focus and view.is_line_visible(flag.line)
        assert "1001 │ import os, socket" in on_screen(view)
        assert "row_0 = 0" not in on_screen(view)
        # the keyboard scrolls it (the end of the code too) ...
        top = view.scroll_y  # (scrolling may be animated: wait for where it ends)
        await pilot.press("pageup")
        assert await wait_for(pilot, lambda: view.scroll_y < top and not view.is_line_visible(flag.line))
        await pilot.press("end")
        assert await wait_for(pilot, lambda: "1302 │ print('end of the code')" in on_screen(view))
        await pilot.press("n")  # back to the flagged span
        assert await wait_for(pilot, lambda: view.is_line_visible(flag.line))
        await pilot.press("home")
        assert await wait_for(pilot, lambda: view.scroll_y == 0 and "tool: run_python" in on_screen(view))
        # ... and the decision keys still reach the prompt
        await pilot.press("v")
        assert await wait_for(pilot, lambda: client.sent)
        assert client.sent == [("veto", "a1", "")]


async def test_every_flagged_span_is_counted_and_n_walks_them(tmp_path):
    from screens.widgets.call_view import CallView

    code = (
        "import requests\n"
        + filler(400)
        + "import json, socket\n"
        + filler(400, 400)
        + "import subprocess\nsubprocess.run(['pip', 'install', 'trl'])\n"
    )
    app = home_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = ApprovalScreen(network_request(tmp_path, code), client=FakeClient(), grace=0.0)
        app.push_screen(screen)
        assert await wait_for(pilot, lambda: screen.is_mounted and screen.query(CallView))
        view = screen.query_one(CallView)
        # opened on the first flagged span (after the first refresh), laid out
        assert await wait_for(pilot, lambda: view._next_flag == 1 and view.scrollable_content_region.height > 0)
        labels = [(f.label, f.source_line) for f in view.doc.flags]
        assert labels == [("network: requests", 1), ("network: socket", 402), ("network: pip install", 804)]
        assert "3 flagged spans" in screen.query_one("#approval-flags").visual.plain
        flags = view.doc.flags
        assert view.is_line_visible(flags[0].line) and not view.is_line_visible(flags[1].line)
        for flag in flags[1:] + flags[:1]:  # opened on the first; n goes to the next, cycling
            await pilot.press("n")
            assert view.is_line_visible(flag.line), flag


def test_long_fields_are_whole_or_say_what_is_not_shown(monkeypatch):
    """Diffs, file content and big JSON are blocks, whole; over the sanity limit the prompt says
    how many characters it does not show, and flagged spans there are still counted."""
    import screens.approval_doc as approval
    from screens.approval_doc import build_doc, flag_note
    from screens.widgets.palette import Palette

    pal = Palette()
    content = "".join(f"line {i}\n" for i in range(500))
    doc, long, past = build_doc(
        {
            "tool": "write_file",
            "args": {"path": "reward.py", "content": content},
            "path": "reward.py",
            "diff": "--- a\n+++ b\n" + content,
            "rows": list(range(2000)),
        },
        pal,
    )
    assert long and not past
    text = doc.plain
    assert "args.content  (500 lines" in text and "diff  (502 lines" in text and "rows  (2,002 lines" in text
    assert text.count("line 499") == 2 and "[... " not in text
    assert "  content: ↓ below, as args.content" in text and "path: reward.py" in text
    # over the limit: said, with the count, and the flagged span there is not lost
    monkeypatch.setattr(approval, "MAX_SHOWN", 1000)
    code = filler(100) + "import socket\n"
    start = code.index("import socket")
    doc, long, past = build_doc({"code": code, "spans": [[start, start + 13, "network: socket"]]}, pal)
    assert f"[... {len(code) - 1000:,} more characters not shown" in doc.plain
    assert not doc.flags and past == [("network: socket", 101)]
    note = flag_note(doc, past, pal).plain
    assert "1 flagged span" in note and "past the part shown (NOT SHOWN)" in note and "line 101" in note


def test_what_the_terminal_would_hide_is_shown_escaped():
    """A bidi override or a control character cannot make the code on screen differ from the
    code that runs; a carriage return is a line break, as Python reads it."""
    from screens.approval import build_doc
    from screens.widgets.palette import Palette

    code = "x = 1  # \u202e ok\rimport socket\x0c\nprint(x)"
    start = code.index("import socket")
    doc, _, _ = build_doc({"code": code, "spans": [[start, start + 13, "network: socket"]]}, Palette())
    lines = doc.plain.splitlines()
    assert " 1 │ x = 1  # \\u202e ok" in lines and " 2 │ import socket\\x0c" in lines
    [flag] = doc.flags
    assert doc.lines[flag.line][flag.start : flag.end] == "import socket" and flag.source_line == 2
    assert "\u202e" not in doc.plain and "\x0c" not in doc.plain
    # an argument's name cannot break a line either (the view's lines are the document's)
    doc, _, _ = build_doc({"tool": "run_python", "args": {"timeout\ncode: print(1)": 5}}, Palette())
    assert doc.lines == ["tool: run_python", "args:", "  timeout\\x0acode: print(1): 5"]
