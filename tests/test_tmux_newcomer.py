"""A terminal test under tmux that walks the newcomer's path as a person would:
start the demo in the UI, approve its flagged action, pause, nudge, resume, detach, check the
run goes on without the UI, attach again and see the history, stop it, and replay the finished
run in the UI (jump to its end, see it finished)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from conftest import ROOT, cli, events_of, last_state, wait_for

from agent_core.record.runs import list_runs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    def __init__(self, env: dict):
        self.server = f"tt-{uuid.uuid4().hex[:8]}"
        self.env = env

    def cmd(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, check=True, env=self.env
        ).stdout

    def start(self, command: str) -> None:
        self.cmd("new-session", "-d", "-s", "main", "-x", "120", "-y", "40", command)

    def keys(self, *keys: str) -> None:
        self.cmd("send-keys", "-t", "main", *keys)

    def type(self, text: str) -> None:
        self.cmd("send-keys", "-t", "main", "-l", text)

    def screen(self) -> str:
        return self.cmd("capture-pane", "-p", "-t", "main")

    def wait_screen(self, text: str, timeout: float = 60) -> str:
        return wait_for(
            lambda: (s := self.screen()) and text in s and s, timeout, interval=0.2, what=f"{text!r} on screen"
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, env=self.env)


@pytest.fixture
def tmux(home):
    env = {
        **os.environ,
        "TINKER_TUI_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TERM": "xterm-256color",
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    }
    env.pop("NO_COLOR", None)
    t = Tmux(env)
    yield t
    t.kill()


def press_until_heard(tmux, key: str, heard, what: str, tries: int = 3) -> None:
    """Press `key` as a person would: again if the daemon has not heard it (a closing box took it)."""
    for _ in range(tries):
        tmux.keys(key)
        try:
            wait_for(heard, 15, what=what)
            return
        except AssertionError:
            continue
    wait_for(heard, 1, what=what)


def test_newcomer_path_demo_pause_nudge_detach_attach(home, tmux):
    py = sys.executable
    tmux.start("bash --norc --noprofile")
    # The marker is computed, so the typed command line itself does not match it.
    tmux.type(f"cd {ROOT} && {py} -m tinker_tui demo; echo UI-$((40+2))")
    tmux.keys("Enter")
    # The playbook asks for an outside dataset early: the approval prompt appears.
    tmux.wait_screen("outside_download", timeout=90)
    tmux.wait_screen("approve once", timeout=30)  # the prompt's own key line: it is open
    time.sleep(0.8)  # past the input grace period
    [run] = wait_for(lambda: list_runs(home), 10, what="the run")

    def approval():
        return next((e for e in events_of(run.path) if e["type"] == "approval_decision"), None)

    # approve once (the offline demo then finds no extra data, and goes on); again if a busy
    # prompt was still in its grace period and ignored the key
    press_until_heard(tmux, "a", approval, "the approval in the log")
    decision = approval()
    assert decision["decision"] == "approve"

    # Pause from the UI: the agent stops at its next step boundary. On a loaded machine the
    # approval prompt may still be closing and take the key: as a person would, press again
    # when the daemon has not heard it.
    def pause_heard() -> bool:
        return any(e["type"] == "control" and e.get("cmd") == "pause" for e in events_of(run.path))

    press_until_heard(tmux, "p", pause_heard, "the pause in the log")
    wait_for(lambda: last_state(run.path) == "paused", 90, what="paused")
    tmux.wait_screen("paused", timeout=10)

    # Nudge from the UI.
    tmux.keys("n")
    tmux.wait_screen("enter sends, esc cancels", timeout=20)  # the box is open: typing goes there
    tmux.type("read a few completions before training more")
    tmux.keys("Enter")
    wait_for(lambda: any(e["type"] == "human_nudge" for e in events_of(run.path)), 20, what="the nudge")

    # Resume: the nudge box may still be closing and take the key, as the prompt could above.
    def resume_heard() -> bool:
        return any(e["type"] == "control" and e.get("cmd") == "resume" for e in events_of(run.path))

    press_until_heard(tmux, "p", resume_heard, "the resume in the log")
    wait_for(lambda: last_state(run.path) == "running", 20, what="running again")

    # Detach: the UI exits, the run goes on without it.
    tmux.keys("d")
    tmux.wait_screen("UI-42", timeout=20)
    assert run.is_live()
    seq_at_detach = events_of(run.path)[-1]["seq"]
    wait_for(lambda: events_of(run.path)[-1]["seq"] > seq_at_detach + 3, 60, what="events after detach")

    # Attach again: the whole history is there, including what happened while away.
    tmux.type(f"clear; {py} -m tinker_tui attach; echo UI-$((40+3))")
    tmux.keys("Enter")
    tmux.wait_screen("read a few completions", timeout=60)
    screen = tmux.screen()
    assert "approved once" in screen or "outside_download" in screen
    tmux.keys("d")
    tmux.wait_screen("UI-43", timeout=20)

    cli(home, "stop", run.id)
    wait_for(lambda: last_state(run.path) == "finished", 120, what="finished after stop")
    kinds = [e["type"] for e in events_of(run.path)]
    assert "human_nudge" in kinds and "approval_decision" in kinds

    # Replay the finished run in the UI: the timeline, then its end.
    tmux.type(f"clear; {py} -m tinker_tui replay {run.id}; echo UI-$((40+4))")
    tmux.keys("Enter")
    tmux.wait_screen("Play/Pause", timeout=60)
    tmux.keys("End")
    tmux.wait_screen("FINISHED", timeout=20)
    screen = tmux.screen()
    n = len(events_of(run.path))
    assert f"{n}/{n}" in screen, screen  # the timeline says: at the last event
    tmux.keys("q")
    tmux.wait_screen("UI-44", timeout=20)
