"""The run screen's key bindings (each with an id, `run.*` or `replay.*`, so it can be remapped
with `App.set_keymap`), which of their actions apply to a live run or a replay only, and the
command palette entries made from them (`RunCommands`)."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

__all__ = ["RUN_BINDINGS", "LIVE_ACTIONS", "REPLAY_ACTIONS", "RunCommands"]

LIVE_ACTIONS = frozenset({"toggle_pause", "nudge", "stop", "detach", "review_approvals"})
REPLAY_ACTIONS = frozenset(
    {
        "replay_toggle",
        "replay_faster",
        "replay_slower",
        "replay_step",
        "replay_start",
        "replay_end",
        "replay_seek",
        "replay_marker",
    }
)

RUN_BINDINGS = [
    # live: the intervention bar
    Binding("p", "toggle_pause", "Pause/Resume", id="run.pause"),
    Binding("n", "nudge", "Nudge", id="run.nudge"),
    Binding("s", "stop", "Stop", id="run.stop"),
    Binding("a", "review_approvals", "Approvals", id="run.approvals"),
    Binding("d", "detach", "Detach", id="run.detach"),
    # replay (priority: the focused transcript would take left/right for scrolling)
    Binding("space", "replay_toggle", "Play/Pause", id="replay.toggle", priority=True),
    Binding("plus,equals_sign", "replay_faster", "Speed", id="replay.faster", key_display="+/-", priority=True),
    Binding("minus", "replay_slower", "Slower", id="replay.slower", key_display="-", priority=True, show=False),
    Binding("left", "replay_step(-1)", "Back", id="replay.back", priority=True, show=False),
    Binding("right", "replay_step(1)", "Step", id="replay.step", key_display="←/→", priority=True),
    Binding("home", "replay_start", "Start", id="replay.start", show=False, priority=True),
    Binding("end", "replay_end", "End", id="replay.end", show=False, priority=True),
    Binding("comma", "replay_seek(-1)", "Back 1%", id="replay.back_1pct", key_display=",", show=False),
    Binding("full_stop", "replay_seek(1)", "Forward 1%", id="replay.forward_1pct", key_display=".", show=False),
    Binding("less_than_sign", "replay_seek(-10)", "Back 10%", id="replay.back_10pct", key_display="<", show=False),
    Binding(
        "greater_than_sign",
        "replay_seek(10)",
        "Forward 10%",
        id="replay.forward_10pct",
        key_display=">",
        show=False,
    ),
    Binding(
        "left_square_bracket",
        "replay_marker(-1)",
        "Previous marker",
        id="replay.prev_marker",
        key_display="[",
        show=False,
    ),
    Binding(
        "right_square_bracket",
        "replay_marker(1)",
        "Next marker",
        id="replay.next_marker",
        key_display="]",
        show=False,
    ),
    # both
    Binding("c", "cycle_chart", "Chart", id="run.chart"),
    Binding("j", "cycle_job", "Job", id="run.cycle_job", show=False),
    Binding("o", "toggle_outputs", "Outputs", id="run.outputs", show=False),
    Binding("x", "ack_alerts", "Dismiss alert", id="run.ack_alerts", show=False),
    Binding("escape", "back", "Back", id="run.back"),
    Binding("q", "quit_ui", "Quit", id="run.quit"),
]


class RunCommands(Provider):
    """Command palette entries for the run screen's actions that apply right now
    (live or replay), named after their bindings."""

    def _commands(self) -> list[tuple[str, str, str]]:
        screen = self.screen
        if getattr(screen, "BINDINGS", None) is not RUN_BINDINGS:  # only on the run screen
            return []
        out = []
        for binding in RUN_BINDINGS:
            action, _, rest = binding.action.partition("(")
            params = tuple(int(p) for p in rest.rstrip(")").split(",") if p.strip()) if rest else ()
            if action in ("back", "quit_ui") or not screen.check_action(action, params):
                continue
            key = binding.key_display or binding.key.split(",")[0]
            out.append((f"Run: {binding.description}", binding.action, f"key: {key}"))
        return out

    async def discover(self) -> Hits:
        screen = self.screen
        for name, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        screen = self.screen
        for name, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(screen.run_action, action), help=help_text)
