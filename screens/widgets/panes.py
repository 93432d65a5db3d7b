"""Small panes of the run screen's right column: jobs and alerts.

JobsPane: one line per training job: state, step / total, tokens/s, MFU, ETA. It is fed the
chart's latest metric per job (no extra work per event) and keeps a few (time, step) samples
per job to estimate steps/s for the ETA. A metric's total comes from the event's "total" or
its values' "total_steps" / "max_steps"; MFU from values["mfu"] (a fraction).

AlertsPane: the newest alerts (rule, severity, message, suggestion), newest first.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import Static

from agent_core.record.events import parse_ts
from screens.widgets.palette import Palette, fmt_duration, one_line
from screens.widgets.state_styles import JOB_STATE_STYLE, SEVERITY_STYLE

__all__ = ["JobsPane", "AlertsPane", "job_line_info", "fmt_si", "update_if_changed"]


def update_if_changed(widget: Static, text: Text, shown: list) -> None:
    """Static.update, skipped when the text is the same as shown[0], and without a layout
    pass (a full repaint) when it has as many lines as before (the panes are height: auto)."""
    key = (text.plain, tuple(str(s) for s in text.spans))
    if shown and shown[0] == key:
        return
    same_height = bool(shown) and shown[0][0].count("\n") == text.plain.count("\n")
    shown[:] = [key]
    widget.update(text, layout=not same_height)


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fmt_si(value: float | None) -> str:
    if value is None:
        return "—"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.1f}{unit}"
    return f"{value:.0f}"


def _total(ev: dict) -> float | None:
    total = _num(ev.get("total"))
    values = ev.get("values") if isinstance(ev.get("values"), dict) else {}
    for key in ("total_steps", "max_steps"):
        if total is None:
            total = _num(values.get(key))
    return total


def job_line_info(last: dict, samples: "deque[tuple[float, float]] | list") -> dict:
    """step, total, tokens/s, MFU and ETA (seconds) of a job from its latest metric event
    and (time, step) samples, oldest first."""
    values = last.get("values") if isinstance(last.get("values"), dict) else {}
    step = _num(last.get("step"))
    total = _total(last)
    rate = None
    if len(samples) >= 2:
        (t0, s0), (t1, s1) = samples[0], samples[-1]
        if t1 > t0 and s1 > s0:
            rate = (s1 - s0) / (t1 - t0)
    eta = None
    if rate and total is not None and step is not None:
        eta = max(0.0, (total - step) / rate)
    return {
        "step": step,
        "total": total,
        "tps": _num(values.get("tokens_per_s")),
        "mfu": _num(values.get("mfu")),
        "eta": eta,
    }


class JobsPane(Static):
    DEFAULT_CSS = """
    JobsPane {
        height: auto; max-height: 7;
        border: round $primary 40%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    """
    SAMPLES = 30

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.border_title = "jobs"
        self.samples: dict[str, deque] = {}
        self.last: dict[str, dict] = {}
        self.states: dict[str, str] = {}
        self._shown: list = []

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        self.redraw()

    def reset(self) -> None:
        self.samples.clear()
        self.last = {}

    def _sample(self, job: str, ev: dict) -> None:
        t, step = parse_ts(ev.get("ts")), _num(ev.get("step"))
        if t is None or step is None:
            return
        q = self.samples.get(job)
        if q is None:
            q = self.samples[job] = deque(maxlen=self.SAMPLES)
        if not q or q[-1] != (t, step):
            q.append((t, step))

    def seed(self, pairs: dict[str, tuple[dict | None, dict]]) -> None:
        """After a replay seek: job -> (an earlier metric, the last one)."""
        self.reset()
        for job, (earlier, last) in pairs.items():
            if earlier is not None:
                self._sample(job, earlier)
            self._sample(job, last)
            self.last[job] = last

    def show(
        self, last_metric: dict[str, dict], states: dict[str, str], first_metric: dict[str, dict] | None = None
    ) -> None:
        """Latest metric per job and job states; `first_metric` (a job's first metric seen)
        gives a rate before two samples were taken here (a burst, a log read at once)."""
        for job, ev in last_metric.items():
            if self.last.get(job) is not ev:
                if job not in self.samples and first_metric and first_metric.get(job) is not ev and job in first_metric:
                    self._sample(job, first_metric[job])
                self._sample(job, ev)
        self.last = dict(last_metric)
        self.states = dict(states)
        self.redraw()

    def redraw(self) -> None:
        pal = Palette.from_app(self.app)
        jobs = list(dict.fromkeys([*self.states, *self.last]))
        out = Text(no_wrap=True, overflow="ellipsis")
        if not jobs:
            out.append("no jobs yet", pal["muted"])
        shown = jobs[-3:]  # the newest jobs
        for n, job in enumerate(shown):
            state = self.states.get(job, "running")
            style = JOB_STATE_STYLE.get(state, "muted")
            out.append(f"{job} ", pal.bold("tool"))
            out.append(f"{state}", pal[style])
            last = self.last.get(job)
            if last is not None:
                info = job_line_info(last, self.samples.get(job, ()))
                step, total = info["step"], info["total"]
                out.append("  step ", pal["muted"])
                out.append(f"{step:.0f}" if step is not None else "—")
                out.append(f"/{total:.0f}" if total is not None else "/—", pal["muted"])
                out.append("\n  ")
                out.append(fmt_si(info["tps"]))
                out.append(" tok/s  MFU ", pal["muted"])
                mfu = info["mfu"]
                out.append(f"{mfu * 100:.0f}%" if mfu is not None else "—")
                out.append("  ETA ", pal["muted"])
                eta = info["eta"]
                out.append(fmt_duration(eta) if eta is not None else "—")
            if n < len(shown) - 1:
                out.append("\n")
        more = len(jobs) - len(shown)
        self.border_title = f"jobs ({len(jobs)}, newest {len(shown)})" if more > 0 else "jobs"
        update_if_changed(self, out, self._shown)


class AlertsPane(Static):
    DEFAULT_CSS = """
    AlertsPane {
        height: auto; max-height: 6;
        border: round $risk-medium 60%;
        border-title-color: $risk-medium;
        padding: 0 1;
        display: none;
    }
    AlertsPane.shown { display: block; }
    """
    SHOWN = 4

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.alerts: tuple[dict, ...] = ()
        self.total = 0
        self.border_title = "alerts"
        self._shown: list = []

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def show(self, alerts: tuple[dict, ...], total: int) -> None:
        if alerts is self.alerts and total == self.total:
            return
        self.alerts, self.total = alerts, total
        self.redraw()

    def redraw(self) -> None:
        if self.has_class("shown") != bool(self.alerts):
            self.set_class(bool(self.alerts), "shown")
            self._shown = []
        pal = Palette.from_app(self.app)
        out = Text(overflow="fold")
        newest = list(reversed(self.alerts[-self.SHOWN :]))
        for n, ev in enumerate(newest):
            sev = str(ev.get("severity", "warning")).lower()
            style = SEVERITY_STYLE.get(sev, "risk-low")
            out.append(f"{'!' if style == 'risk-high' else '⚠'} {sev} ", pal.bold(style))
            out.append(f"{ev.get('rule', '?')}: ", pal.bold("agent"))
            out.append(one_line(ev.get("message", ""), 200))
            if ev.get("suggestion"):
                out.append(f" → {one_line(ev['suggestion'], 120)}", pal["muted"])
            if n < len(newest) - 1:
                out.append("\n")
        self.border_title = f"alerts ({self.total})"
        update_if_changed(self, out, self._shown)
