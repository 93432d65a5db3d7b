"""A small dependency-free loss chart: block-character columns, one series per job.

`add(job, step, value)` only appends to a bounded deque and marks the chart dirty; a timer
redraws at most `hz` times a second. The series is downsampled (bucket means) to the
widget's width before drawing. Shows the job of the latest metric unless one is pinned
(`cycle_job`). Which metric values each chart reads: `chart_data`; the text drawing:
`chart_draw`.
"""

from __future__ import annotations

from collections import deque

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from agent_core.record.metrics import LOSS, SPLIT_DEV
from screens.widgets.chart_data import (
    CHART_KINDS,
    LOSS_KEYS,
    PLANS,
    REWARD_KEYS,
    Series,
    extra_points,
    metric_point,
)
from screens.widgets.chart_draw import bars, downsample, overlay
from screens.widgets.palette import Palette

__all__ = [
    "LossChart",
    "CHART_KINDS",
    "LOSS_KEYS",
    "REWARD_KEYS",
    "downsample",
    "bars",
    "extra_points",
    "metric_point",
]

JOB_STYLES = ("loss", "reward", "person", "tool", "risk-low", "risk-medium", "agent")


class LossChart(Widget):
    COMPONENT_CLASSES = {"chart--loss", "chart--reward", "chart--label"}
    DEFAULT_CSS = """
    LossChart {
        height: 9;
        border: round $primary 40%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    LossChart > .chart--loss { color: $loss; }
    LossChart > .chart--reward { color: $reward; }
    LossChart > .chart--label { color: $text-muted; }
    """

    def __init__(self, *, maxlen: int = 2048, hz: float = 3.0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.maxlen = maxlen
        self.hz = hz
        self.series: dict[str, Series] = {}
        self.latest_job: str | None = None
        self.pinned: str | None = None
        self._dirty = False
        self.border_title = "loss"
        self.kind = "loss"  # the chart shown (`c` cycles)
        self.extra: dict[str, dict[str, Series]] = {}  # kind -> job -> points
        self.dev: dict[str, deque] = {}  # job -> dev score points
        self.last_metric: dict[str, dict] = {}  # job -> its latest metric event
        self.first_metric: dict[str, dict] = {}  # job -> its first one (for rates)
        self._sinks: dict[tuple[str, str], deque] = {}  # (kind, job) -> its points
        self._pending_extra: list[dict] = []  # metrics whose other-chart points wait

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.hz, self._maybe_redraw, name="chart-redraw")

    # -- data -----------------------------------------------------------------------------
    def _sink(self, kind: str, job: str) -> deque:
        by_job = self.extra.get(kind)
        if by_job is None:
            by_job = self.extra[kind] = {}
        series = by_job.get(job)
        if series is None:
            series = by_job[job] = Series(kind, self.maxlen)
        points = self._sinks[(kind, job)] = series.points
        return points

    EXTRA_PER_FLUSH = 256

    def _flush_extra(self) -> None:
        """Add the other charts' points of the metrics received since the last redraw: all
        of them up to EXTRA_PER_FLUSH, else that many evenly spaced (always the last). The
        charts are drawn downsampled to the width anyway; this keeps the per-event cost of
        a 50k events/s stream at one list append."""
        pending = self._pending_extra
        if not pending:
            return
        self._pending_extra = []
        n = len(pending)
        cap = self.EXTRA_PER_FLUSH
        if n > cap:
            pending = [pending[(k + 1) * n // cap - 1] for k in range(cap)]
        for ev in pending:
            job = ev.get("job", "?")
            self._add_extra(job if type(job) is str else str(job), ev, ev["values"])

    def _add_extra(self, job: str, ev: dict, values: dict) -> None:
        """The other charts' points of one metric event (extra_points, inlined: this runs
        for every metric that logs more than its loss)."""
        shape = tuple(values)
        plan = PLANS.get(shape)
        if plan is None:
            extra_points(values)  # makes the plan
            plan = PLANS[shape]
        if not plan:
            return
        step = ev.get("step")
        sinks = self._sinks
        for kind, key in plan:
            v = values[key]
            if type(v) is float or type(v) is int:
                points = sinks.get((kind, job))
                if points is None:
                    points = self._sink(kind, job)
                points.append(
                    (
                        step if type(step) is int or isinstance(step, (int, float)) else min(len(points), self.maxlen),
                        float(v),
                    )
                )
                if kind == self.kind:
                    self._dirty = True

    def add_score(self, ev: dict) -> bool:
        """A dev-split `score` event, as a point of the "dev" chart (by its job, else "run")."""
        value = ev.get("value")
        if ev.get("split") != SPLIT_DEV or type(value) not in (int, float):
            return False
        job = str(ev.get("job") or "run")
        points = self.dev.get(job)
        if points is None:
            points = self.dev[job] = deque(maxlen=self.maxlen)
        step = ev.get("step")
        points.append((step if isinstance(step, (int, float)) else len(points), float(value)))
        if self.kind == "dev":
            self._dirty = True
        return True

    def add_metric(self, ev: dict) -> bool:
        job = ev.get("job", "?")
        job = job if type(job) is str else str(job)
        values = ev.get("values")
        if isinstance(values, dict):
            self.last_metric[job] = ev
            self.first_metric.setdefault(job, ev)
            self._pending_extra.append(ev)
        return self._add_loss(ev)

    def _add_loss(self, ev: dict) -> bool:
        point = metric_point(ev)
        if point is None:
            return False
        job, key, value, step = point
        series = self.series.get(job)
        if series is None:
            series = self.series[job] = Series(key, self.maxlen)
        elif series.key not in LOSS_KEYS and key in LOSS_KEYS:
            series.key, series.points = key, deque(maxlen=self.maxlen)
        if key != series.key:
            return False
        series.points.append((step if isinstance(step, (int, float)) else len(series.points), value))
        self.latest_job = job
        self._dirty = True
        return True

    def add_metrics(self, events: list[dict]) -> int:
        """`add_metric` for the metric events of a batch; returns how many were drawn.
        (The common case, a job's next loss, is inlined: this runs for ~70% of events.)"""
        added = 0
        series_of = self.series.get
        last_job = last_series = None
        last_metric = self.last_metric
        pending_extra = self._pending_extra.append
        for ev in events:
            kind = ev.get("type")
            if kind != "metric":
                if kind == "score":
                    self.add_score(ev)
                continue
            values = ev.get("values")
            loss = values.get(LOSS) if isinstance(values, dict) else None
            job = ev.get("job", "?")
            if type(loss) is float and type(job) is str:
                series = last_series if job == last_job else series_of(job)
                if series is not None and series.key == LOSS:
                    last_metric[job] = ev
                    if len(values) > 1:  # the other charts' points: at the next redraw
                        pending_extra(ev)
                    step = ev.get("step")
                    points = series.points
                    points.append((step if isinstance(step, (int, float)) else len(points), loss))
                    last_job, last_series = job, series
                    self.latest_job = job
                    self._dirty = True
                    added += 1
                    continue
            if self.add_metric(ev):
                added += 1
                last_job = None
        return added

    def restore(self, series: dict[str, tuple[str, object]], latest_job: str | None) -> None:
        """Replace all series (job -> (key, points or a function returning them), in order
        of first metric): used by replay to jump to a position without feeding every
        metric before it. Points given as a function are made when first drawn."""
        self.series = {}
        for job, (key, points) in series.items():
            if callable(points):
                self.series[job] = Series(key, self.maxlen, points)
            else:
                s = self.series[job] = Series(key, self.maxlen)
                s.points.extend(points)
        self.latest_job = latest_job
        self._dirty = True

    def restore_extra(
        self, extra: dict[str, dict[str, object]], dev: list[tuple[str, object, float]], last_metric: dict[str, dict]
    ) -> None:
        """Replace the other charts' series (kind -> job -> points or a function making
        them), the dev scores and the latest metric per job (replay seek)."""
        self.extra = {
            kind: {
                job: (Series(kind, self.maxlen, pts) if callable(pts) else Series(kind, self.maxlen))
                for job, pts in by_job.items()
            }
            for kind, by_job in extra.items()
        }
        for kind, by_job in extra.items():
            for job, pts in by_job.items():
                if not callable(pts):
                    self.extra[kind][job].points.extend(pts)
        self.dev = {}
        for job, step, value in dev:
            points = self.dev.setdefault(job, deque(maxlen=self.maxlen))
            points.append((step if isinstance(step, (int, float)) else len(points), value))
        self.last_metric = dict(last_metric)
        self.first_metric = {}
        self._sinks = {}
        self._pending_extra = []
        self._dirty = True

    def reset(self) -> None:
        self.series.clear()
        self.extra = {}
        self.dev = {}
        self.last_metric = {}
        self.first_metric = {}
        self._sinks = {}
        self._pending_extra = []
        self.latest_job = self.pinned = None
        self._dirty = True

    def select(self, kind: str) -> None:
        if kind not in CHART_KINDS:
            raise ValueError(f"unknown chart {kind!r} (charts: {', '.join(CHART_KINDS)})")
        self.kind = kind
        self._dirty = True
        self._maybe_redraw()

    def cycle_kind(self) -> str:
        kinds = list(CHART_KINDS)
        self.select(kinds[(kinds.index(self.kind) + 1) % len(kinds)])
        return self.kind

    def jobs_of_kind(self) -> dict[str, list[tuple[float, float]]]:
        """job -> points of the selected chart (in order of first point)."""
        self._flush_extra()
        if self.kind == "loss":
            return {job: list(s.points) for job, s in self.series.items()}
        if self.kind == "dev":
            return {job: list(p) for job, p in self.dev.items()}
        return {job: list(s.points) for job, s in self.extra.get(self.kind, {}).items()}

    @property
    def job(self) -> str | None:
        return self.pinned if self.pinned in self.series else self.latest_job

    def _kind_series(self) -> dict[str, object]:
        if self.kind == "dev":
            return self.dev
        return self.extra.get(self.kind, {})

    def cycle_job(self) -> str | None:
        """Pin the next job (in order of first metric); after the last, follow the latest
        (the loss chart) or overlay all jobs (the others)."""
        jobs = list(self.series) if self.kind == "loss" else list(self._kind_series())
        if not jobs:
            return None
        if self.pinned is None:
            self.pinned = jobs[0]
        else:
            i = jobs.index(self.pinned) if self.pinned in jobs else -1
            self.pinned = jobs[i + 1] if i + 1 < len(jobs) else None
        self._dirty = True
        self._maybe_redraw()
        return self.job

    def _maybe_redraw(self) -> None:
        if self.kind != "loss":
            self._flush_extra()
        elif len(self._pending_extra) > 4 * self.EXTRA_PER_FLUSH:
            self._flush_extra()  # not shown now: keep the backlog small anyway
        if self._dirty:
            self._dirty = False
            self.refresh()

    # -- drawing --------------------------------------------------------------------------
    def render(self) -> Text:
        if self.kind != "loss":
            return self._render_kind()
        width, height = self.content_size.width, self.content_size.height
        label_style = self.get_component_rich_style("chart--label")
        job = self.job
        if job is None:
            self.border_title = "loss"
            return Text("no metrics yet", style=label_style)
        series = self.series[job]
        is_loss = series.key in LOSS_KEYS
        bar_style = self.get_component_rich_style("chart--loss" if is_loss else "chart--reward")
        values = [v for _, v in series.points]
        last_step, last = series.points[-1]
        pin = " (pinned)" if self.pinned else ""
        more = f" · {len(self.series)} jobs, j cycles" if len(self.series) > 1 else ""
        self.border_title = f"{series.key} · {job}{pin}{more}"
        label = Text(no_wrap=True, overflow="ellipsis")
        label.append(f"{last:.4g}", bar_style + Style(bold=True))
        label.append(f" @{last_step:g}  min {min(values):.4g}  max {max(values):.4g}", label_style)
        label.truncate(max(width, 1), overflow="ellipsis")
        out = Text()
        out.append_text(label)
        out.append("\n")
        rows = bars(downsample(values, max(width, 1)), max(height - 1, 1))
        out.append("\n".join(rows), bar_style)
        return out

    def _render_kind(self) -> Text:
        """A selectable chart other than loss: one job (pinned, or the only one) as block
        columns, else every job overlaid as coloured braille lines with a legend."""
        self._flush_extra()
        width, height = max(self.content_size.width, 1), max(self.content_size.height, 2)
        label_style = self.get_component_rich_style("chart--label")
        title = CHART_KINDS[self.kind][0]
        by_job = self._kind_series()
        jobs = {job: [v for _, v in (s if isinstance(s, deque) else s.points)] for job, s in by_job.items()}
        jobs = {job: vals for job, vals in jobs.items() if vals}
        if self.pinned in jobs:
            jobs = {self.pinned: jobs[self.pinned]}
        more = " · c: next chart"
        if not jobs:
            self.border_title = f"{title}{more}"
            what = "no dev scores yet" if self.kind == "dev" else f"no {title} metric yet"
            return Text(what, style=label_style)
        pal = Palette.from_app(self.app)
        pin = " (pinned)" if self.pinned in jobs else ""
        if len(jobs) == 1:
            ((job, values),) = jobs.items()
            self.border_title = f"{title} · {job}{pin}{more}"
            style = pal["reward"] if self.kind in ("reward", "dev") else pal["loss"]
            out = Text(no_wrap=True, overflow="ellipsis")
            out.append(f"{values[-1]:.4g}", style + Style(bold=True))
            out.append(f"  min {min(values):.4g}  max {max(values):.4g}", label_style)
            out.truncate(width, overflow="ellipsis")
            out.append("\n")
            out.append("\n".join(bars(downsample(values, width), height - 1)), style)
            return out
        self.border_title = f"{title} · {len(jobs)} jobs overlaid{more}"
        lo = min(min(v) for v in jobs.values())
        hi = max(max(v) for v in jobs.values())
        rows = height - 1
        legend = Text(no_wrap=True, overflow="ellipsis")
        for k, (job, values) in enumerate(jobs.items()):
            legend.append(f"■{job} {values[-1]:.3g} ", pal[JOB_STYLES[k % len(JOB_STYLES)]])
        legend.truncate(width, overflow="ellipsis")
        grid = overlay(list(jobs.values()), width, rows, lo, hi)
        out = Text()
        out.append_text(legend)
        for row in grid:
            out.append("\n")
            for bits, k in row:
                if bits:
                    out.append(chr(0x2800 + bits), pal[JOB_STYLES[k % len(JOB_STYLES)]])
                else:
                    out.append(" ")
        return out
