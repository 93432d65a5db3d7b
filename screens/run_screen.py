"""The run screen: one screen for a live run (LiveFeed + RunClient) and for a replay
(ReplayFeed, no client).

Layout: status line (run, task, model, agent, state, elapsed / budget, $ and tokens spent
from the last `budget` event, "—" before one) / transcript | chart (`c` cycles loss, reward,
learning rate, KL, entropy, dev score; jobs overlaid, `j` pins one) + jobs pane (step/total,
tokens/s, MFU, ETA) + evaluation progress bar + alerts pane + host pane / nudge bar / replay timeline (replay only:
markers, click to seek; `,` `.` 1%, `<` `>` 10%, `[` `]` previous/next marker) / footer.
`o` shows the Outputs pane (the latest completions: screens/widgets/outputs.py) in place of the
transcript (`o` or esc goes back). `?` lists every binding (screens/help.py). While an approval waits or a new alert arrives on a
live run, the app rings the bell and puts "⚠ ..." in the window title (`app.set_attention`),
whatever screen is on top; `x` dismisses the alert, the decision clears the approval.

State lives in `RunView` (pure, no widgets) and is changed only by this screen's message
handlers: feeds post `EventsArrived` batches, control calls run in thread workers that post
`ControlDone`. The bindings (each with an id, so it can be remapped) and the palette's
commands are screens/run_bindings.py; the replay actions screens/replay_controls.py.

Batches go into an inbox that is worked off in slices of a few ms (`SLICE_S`); when one
slice does not empty it, the rest continues from a timer, so a burst of events (50k/s, or a
log that was written while nobody watched) never holds the event loop for long. The status
line and host pane are redrawn at once when what they show changes in kind (run state,
approvals waiting), else at most every `PRESENT_S` with a trailing redraw. A replay reset
that carries a `ReplayState` is rebuilt from the log index (view, chart series, transcript
entries, host sample) instead of from every event before it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from screens.approval import ApprovalScreen
from screens.approval_queue import ApprovalQueue
from screens.confirm import ConfirmScreen
from screens.feeds import DaemonAlive, EventsArrived, LiveFeed, ReplayFeed, ReplayProgress
from screens.replay_controls import ReplayControls
from screens.run_bindings import LIVE_ACTIONS, REPLAY_ACTIONS, RUN_BINDINGS, RunCommands
from screens.state import RunView
from screens.widgets import HostPane, LossChart, StatusInfo, StatusLine, Transcript
from screens.widgets.chart import CHART_KINDS
from screens.widgets.outputs import EvalBar, OutputsPane
from screens.widgets.panes import AlertsPane, JobsPane
from screens.widgets.timeline import Timeline
from tinker_tui.client import ControlError

__all__ = ["RunScreen", "RunView", "ConfirmScreen", "ControlDone", "RunCommands"]


class ControlDone(Message):
    """A control command finished in its worker (error=None: the daemon accepted it)."""

    def __init__(self, cmd: str, error: str | None) -> None:
        super().__init__()
        self.cmd = cmd
        self.error = error


class RunScreen(ReplayControls, Screen):
    COMMANDS = Screen.COMMANDS | {RunCommands}
    DEFAULT_CSS = """
    RunScreen { layout: vertical; }
    RunScreen #body { height: 1fr; }
    RunScreen #transcript { width: 1fr; }
    RunScreen.outputs #transcript { display: none; }
    RunScreen.outputs #outputs { display: block; }
    RunScreen #side { width: 40%; min-width: 30; max-width: 60; }
    RunScreen #host { min-height: 4; }
    RunScreen.compact #chart { height: 7; }
    RunScreen.compact AlertsPane { max-height: 4; }
    RunScreen #nudge-bar { height: 2; display: none; border-top: solid $person; }
    RunScreen #nudge-bar.shown { display: block; }
    RunScreen #nudge-bar Label { width: auto; padding: 0 1; color: $person; text-style: bold; }
    RunScreen #nudge-input { width: 1fr; border: none; height: 1; padding: 0 1 0 0; }
    """

    BINDINGS = RUN_BINDINGS

    def __init__(
        self,
        feed: LiveFeed | ReplayFeed,
        client=None,
        *,
        run=None,
        clock: Callable[[], float] = time.time,
        can_go_back: bool = False,
        approval_grace: float = 0.5,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.feed = feed
        self.client = client
        self.run = run if run is not None else getattr(feed, "run", None)
        self.clock = clock
        self.can_go_back = can_go_back
        self.approval_grace = approval_grace
        self.view = RunView(self.run.config() if self.run is not None else {})
        self.daemon_alive: bool | None = None
        self._approvals = ApprovalQueue()
        self._inbox: deque[list[dict]] = deque()  # batches not applied yet (in order)
        self._inbox_pos = 0  # events of _inbox[0] already applied
        self._drain_timer = None
        self._shown_at = 0.0  # last status/host redraw
        self._status_key: tuple = ()
        self._present_timer = None
        self._host_shown: dict | None = None
        self._alerts_seen = 0  # alerts the person has been told about (bell, title)
        self._panes_at = -1e9  # last jobs/alerts panes redraw (monotonic)
        self._panes_timer = None

    # -- layout ---------------------------------------------------------------------------
    @property
    def replay(self) -> bool:
        return isinstance(self.feed, ReplayFeed)

    @property
    def run_id(self) -> str:
        return str(self.view.config.get("id") or (self.run.id if self.run is not None else "replay"))

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="body"):
            yield Transcript(id="transcript")
            yield OutputsPane(id="outputs")
            with Vertical(id="side"):
                yield LossChart(id="chart")
                yield JobsPane(id="jobs")
                yield EvalBar(id="evalbar")
                yield AlertsPane(id="alerts")
                yield HostPane(id="host")
        with Horizontal(id="nudge-bar"):
            yield Label("nudge ▸")
            yield Input(placeholder="a hint for the agent; enter sends, esc cancels", id="nudge-input")
        if self.replay:
            yield Timeline(self.feed, id="timeline")
        yield Footer()

    def on_mount(self) -> None:
        transcript = self.query(Transcript)
        if not transcript:  # torn down before it mounted (the app closed at once): start nothing
            return
        transcript.first().focus()
        self.refresh_status()
        if not self.replay:
            self.set_interval(1.0, self.refresh_status, name="elapsed")
        self.feed.start(self)

    COMPACT_BELOW = 32  # rows: a smaller chart and alerts pane, so the host pane keeps room

    def on_resize(self, event) -> None:
        self.set_class(self.size.height < self.COMPACT_BELOW, "compact")

    def on_unmount(self) -> None:
        self.feed.stop()
        for source in self._attention_sources():
            self.app.clear_attention(source)

    def _attention_sources(self) -> tuple[str, str]:
        key = str(self.run.path) if self.run is not None else str(id(self))
        return f"approval:{key}", f"alert:{key}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ACTIONS:
            return self.client is not None
        if action in REPLAY_ACTIONS:
            return self.replay
        if action == "back":
            return self.can_go_back or self._nudge_shown() or self.has_class("outputs")
        return True

    # -- events in ------------------------------------------------------------------------
    SLICE_S = 0.004  # work off the inbox in slices of about this long
    CHUNK = 256  # events applied per step within a slice

    @on(EventsArrived)
    def _on_events(self, message: EventsArrived) -> None:
        message.stop()
        if message.reset:
            self._inbox.clear()
            self._inbox_pos = 0
            self._rebuild(message)
        if message.events:
            self._inbox.append(message.events)
        if self._drain_timer is None:  # else the running drain gets to it, in order
            self._drain()

    def _rebuild(self, message: EventsArrived) -> None:
        transcript = self.query_one(Transcript)
        chart = self.query_one(LossChart)
        transcript.reset()
        chart.reset()
        state = message.state
        if state is None:
            self.view.reset()
        else:
            self.view.restore(state.view(self.view.config))
            series, latest = state.chart(chart.maxlen)
            chart.restore(series, latest)
            if transcript.t0 is None:
                transcript.t0 = self.view.start_ts
            transcript.load(state.transcript(transcript.max_entries), state.log)
            jobs = state.job_metrics()
            chart.restore_extra(
                state.extra_chart(chart.maxlen), state.dev_scores(), {job: last for job, (_, last) in jobs.items()}
            )
            self.query_one(JobsPane).seed(jobs)
        if state is None:
            self.query_one(JobsPane).reset()
        self._alerts_seen = self.view.alert_count
        self._host_shown = self.view.last_host
        self.query_one(HostPane).show_sample(self.view.last_host)
        if not message.events:
            self._after_events(force=True)

    def _drain(self) -> None:
        """Apply queued events for about SLICE_S; schedule the rest."""
        self._drain_timer = None
        transcript = self.query_one(Transcript)
        chart = self.query_one(LossChart)
        view = self.view
        inbox = self._inbox
        deadline = time.perf_counter() + self.SLICE_S
        while inbox:
            batch = inbox[0]
            lo = self._inbox_pos
            hi = min(lo + self.CHUNK, len(batch))
            chunk = batch[lo:hi] if (lo or hi < len(batch)) else batch
            if hi >= len(batch):
                inbox.popleft()
                self._inbox_pos = 0
            else:
                self._inbox_pos = hi
            view.apply_batch(chunk)
            chart.add_metrics(chunk)
            if transcript.t0 is None:
                transcript.t0 = view.start_ts
            transcript.add_events(chunk)
            if time.perf_counter() >= deadline:
                break
        if inbox:
            self._drain_timer = self.set_timer(0.001, self._drain, name="run-inbox")
        self._after_events(force=False)

    PRESENT_S = 0.25  # status line / host pane redraw interval while events stream in

    def _after_events(self, force: bool) -> None:
        """After applying events: approvals at once; the status line and host pane at once
        when what they say changed in kind (state, approvals waiting), else at most every
        PRESENT_S (with a trailing redraw so the last value is shown)."""
        self._check_approvals()
        view = self.view
        key = (view.state, len(view.pending), view.end_ts is None)
        now = time.monotonic()
        if force or key != self._status_key or now - self._shown_at >= self.PRESENT_S:
            self._present()
        elif self._present_timer is None:
            self._present_timer = self.set_timer(
                self._shown_at + self.PRESENT_S - now, self._present, name="run-present"
            )

    def _present(self) -> None:
        if self._present_timer is not None:
            self._present_timer.stop()
            self._present_timer = None
        view = self.view
        self._shown_at = time.monotonic()
        self._status_key = (view.state, len(view.pending), view.end_ts is None)
        if view.last_host is not self._host_shown:
            self._host_shown = view.last_host
            self.query_one(HostPane).show_sample(view.last_host)
        self._present_panes()
        if view.alert_count > self._alerts_seen and not self.replay:
            self._alerts_seen = view.alert_count
            last = view.alerts[-1] if view.alerts else {}
            self.app.set_attention(self._attention_sources()[1], f"alert: {last.get('rule', '?')}")
        self.refresh_status()

    PANES_S = 0.5  # jobs / alerts panes redraw interval while events stream in

    def _present_panes(self) -> None:
        """The jobs and alerts panes, at most every PANES_S (with a trailing redraw)."""
        now = time.monotonic()
        wait = self._panes_at + self.PANES_S - now
        if wait > 0:
            if self._panes_timer is None:
                self._panes_timer = self.set_timer(wait, self._panes_due, name="run-panes")
            return
        self._panes_at = now
        view = self.view
        chart = self.query_one(LossChart)
        self.query_one(JobsPane).show(chart.last_metric, view.jobs, chart.first_metric)
        self.query_one(AlertsPane).show(view.alerts, view.alert_count)
        self.query_one(OutputsPane).show(view.last_completions, view.eval_progress)
        self.query_one(EvalBar).show(view.eval_progress)

    def _panes_due(self) -> None:
        self._panes_timer = None
        self._present_panes()

    @on(ReplayProgress)
    def _on_replay_progress(self, message: ReplayProgress) -> None:
        message.stop()
        self.refresh_status()
        if self.replay:
            self.query_one(Timeline).update_position()

    @on(DaemonAlive)
    def _on_daemon(self, message: DaemonAlive) -> None:
        message.stop()
        self.daemon_alive = message.alive
        self.refresh_status()

    def _status_info(self) -> StatusInfo:
        ticking = not self.replay and self.daemon_alive is not False  # else up to the end or last event
        return self.view.status_info(
            self.run_id,
            self.clock() if ticking else None,
            daemon=None if self.replay else self.daemon_alive,
            replay=self.feed.status() if self.replay else None,
        )

    def refresh_status(self) -> None:
        self.query_one(StatusLine).show(self._status_info())
        if self.replay:
            self.query_one(Timeline).update_position()
        waiting = bool(self.view.pending) and self.client is not None
        mode = "replay · " if self.replay else ""
        app = self.app
        if hasattr(app, "set_base_title"):
            app.set_base_title(f"{mode}{self.run_id} · {self.view.state} — tinker-tui")
            source = self._attention_sources()[0]
            if waiting:  # the bell rings per request when its prompt opens
                app.set_attention(source, "approval waiting", bell=False)
            else:
                app.clear_attention(source)
        else:
            title = f"{'⚠ approval waiting · ' if waiting else ''}{mode}{self.run_id} · {self.view.state}"
            if app.title != title:
                app.title = title

    # -- approvals ------------------------------------------------------------------------
    def _check_approvals(self) -> None:
        top = self.app.screen
        queue, pending = self._approvals, self.view.pending
        if isinstance(top, ApprovalScreen) and top.request_id not in pending:
            top.close(None)  # decided elsewhere (CLI, another UI) or the run ended
            queue.open = None
        queue.sync(pending)
        req = queue.next(pending) if self.client is not None else None
        if req is not None:
            self._open_approval(req)

    def _open_approval(self, req: dict) -> None:
        req_id = str(req.get("id"))
        if self._approvals.opened(req_id):
            self.app.bell()

        def closed(result: dict | None) -> None:
            self._approvals.closed(req_id, decided=result is not None, still_pending=req_id in self.view.pending)
            self.refresh_status()
            self.call_later(self._check_approvals)

        self.app.push_screen(ApprovalScreen(req, self.client, grace=self.approval_grace), callback=closed)

    def action_review_approvals(self) -> None:
        if not self.view.pending:
            self.notify("no approval is waiting")
            return
        self._approvals.review()
        self._check_approvals()

    # -- live controls --------------------------------------------------------------------
    def _control(self, cmd: str, *args) -> None:
        client = self.client

        def work() -> None:
            error = None
            try:
                getattr(client, cmd)(*args)
            except ControlError as exc:
                error = str(exc)
            except Exception as exc:  # never crash the UI on a client bug
                error = f"{type(exc).__name__}: {exc}"
            self.post_message(ControlDone(cmd, error))

        self.run_worker(work, thread=True, group="control", exit_on_error=False)

    @on(ControlDone)
    def _on_control_done(self, message: ControlDone) -> None:
        message.stop()
        if message.error:
            self.notify(message.error, title=f"{message.cmd} failed", severity="error")
        else:
            done = {
                "pause": "pause requested",
                "resume": "resume requested",
                "stop": "stop requested",
                "nudge": "nudge sent",
            }
            self.notify(done.get(message.cmd, f"{message.cmd} sent"), timeout=3)

    def action_toggle_pause(self) -> None:
        self._control("resume" if self.view.state == "paused" else "pause")

    def action_stop(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._control("stop")
            self.call_later(self._check_approvals)

        self.app.push_screen(
            ConfirmScreen(f"Stop run {self.run_id}? The agent stops and the run ends."), callback=answered
        )

    def _nudge_shown(self) -> bool:
        try:
            return self.query_one("#nudge-bar").has_class("shown")
        except Exception:
            return False

    def action_nudge(self) -> None:
        self.query_one("#nudge-bar").add_class("shown")
        self.query_one("#nudge-input", Input).focus()
        self.refresh_bindings()

    def _hide_nudge(self) -> None:
        box = self.query_one("#nudge-input", Input)
        box.value = ""
        self.query_one("#nudge-bar").remove_class("shown")
        self.query_one(Transcript).focus()
        self.refresh_bindings()

    @on(Input.Submitted, "#nudge-input")
    def _nudge_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text and self.client is not None:
            self._control("nudge", text)
        self._hide_nudge()

    def action_detach(self) -> None:
        self.app.exit()

    def action_quit_ui(self) -> None:
        self.app.exit()

    def action_back(self) -> None:
        if self._nudge_shown():
            self._hide_nudge()
        elif self.has_class("outputs"):
            self.action_toggle_outputs()
        elif self.can_go_back and self.app.screen is self:
            self.app.pop_screen()

    def action_cycle_job(self) -> None:
        self.query_one(LossChart).cycle_job()

    def action_toggle_outputs(self) -> None:
        """The Outputs pane (what the model wrote) in place of the transcript, and back."""
        shown = not self.has_class("outputs")
        self.set_class(shown, "outputs")
        (self.query_one(OutputsPane) if shown else self.query_one(Transcript)).focus()
        self.refresh_bindings()

    def action_cycle_chart(self) -> None:
        kind = self.query_one(LossChart).cycle_kind()
        self.notify(f"chart: {CHART_KINDS[kind][0]}", timeout=1.5)

    def action_ack_alerts(self) -> None:
        self._alerts_seen = self.view.alert_count
        self.app.clear_attention(self._attention_sources()[1])

    @on(Timeline.Seek)
    def _on_timeline_seek(self, message: Timeline.Seek) -> None:
        message.stop()
        self.feed.seek_fraction(message.fraction)
        self.refresh_status()
