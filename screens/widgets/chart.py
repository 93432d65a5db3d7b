"""A small dependency-free loss chart: block-character columns, one series per job.

`add(job, step, value)` only appends to a bounded deque and marks the chart dirty; a timer
redraws at most `hz` times a second. The series is downsampled (bucket means) to the
widget's width before drawing. Shows the job of the latest metric unless one is pinned
(`cycle_job`). Uses values["loss"] (else "train_loss"); a job that only logs "reward" is
drawn in the reward colour.
"""

from __future__ import annotations

from collections import deque

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from screens.widgets.palette import Palette

__all__ = ["LossChart", "LOSS_KEYS", "REWARD_KEYS", "downsample", "bars", "metric_point"]

LOSS_KEYS = ("loss", "train_loss")
REWARD_KEYS = ("reward", "mean_reward")
BLOCKS = " ▁▂▃▄▅▆▇█"
# Selectable charts (`c` cycles): kind -> (title, metric value keys, first one present wins).
# "loss" is the default chart (loss, else a reward-only job's reward); "dev" draws `score`
# events of split "dev".
CHART_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loss": ("loss", LOSS_KEYS),
    "reward": ("reward", ("reward_mean", "reward", "mean_reward")),
    "lr": ("learning rate", ("learning_rate", "lr")),
    "kl": ("KL", ("kl",)),
    "entropy": ("entropy", ("entropy",)),
    "dev": ("dev score", ()),
}
_EXTRA = tuple((kind, keys) for kind, (_, keys) in CHART_KINDS.items() if kind not in ("loss", "dev"))
JOB_STYLES = ("loss", "reward", "person", "tool", "risk-low", "risk-medium", "agent")


_PLANS: dict[tuple, tuple[tuple[str, str], ...]] = {}


def _plan(keys: tuple) -> tuple[tuple[str, str], ...]:
    present = set(keys)
    plan = []
    for kind, wanted in _EXTRA:
        for key in wanted:
            if key in present:
                plan.append((kind, key))
                break
    return tuple(plan)


def extra_points(values: dict) -> list[tuple[str, float]]:
    """(chart kind, value) for the selectable charts other than loss, from a metric's values:
    for each kind, the first of its keys that is present, if its value is a number. (Which
    keys to read is worked out once per set of value keys: a run logs the same keys at every
    step, so this is a dict lookup and a key or two per metric.)"""
    shape = tuple(values)
    plan = _PLANS.get(shape)
    if plan is None:
        if len(_PLANS) > 256:
            _PLANS.clear()
        plan = _PLANS[shape] = _plan(shape)
    out = []
    for kind, key in plan:
        v = values[key]
        if type(v) is float or type(v) is int:
            out.append((kind, float(v)))
    return out


def metric_point(ev: dict) -> tuple[str, str, float, object] | None:
    """(job, key, value, step) of a metric event the chart can draw, else None. The key is
    the first of LOSS_KEYS with a number, else the first of REWARD_KEYS."""
    values = ev.get("values")
    if not isinstance(values, dict):
        return None
    for key in _KEYS:
        value = values.get(key)
        if isinstance(value, (int, float)):
            return str(ev.get("job", "?")), key, float(value), ev.get("step")
    return None


_KEYS = LOSS_KEYS + REWARD_KEYS


def downsample(values: list[float], width: int) -> list[float]:
    """Exactly `width` columns: bucket means when there are more points, else each point
    repeated over its share of the width (so a short series still fills the chart)."""
    n = len(values)
    if width <= 0 or n == 0:
        return []
    if n <= width:
        return [values[i * n // width] for i in range(width)]
    out = []
    for i in range(width):
        lo, hi = i * n // width, (i + 1) * n // width
        chunk = values[lo : max(hi, lo + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def bars(values: list[float], height: int) -> list[str]:
    """Rows (top first) of a block-column chart of `values` scaled to min..max."""
    if not values or height <= 0:
        return [""] * max(height, 0)
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        levels = [height * 4] * len(values)
    else:
        levels = [1 + round((v - lo) / span * (height * 8 - 1)) for v in values]
    rows = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        rows.append("".join(BLOCKS[max(0, min(8, lv - base))] for lv in levels))
    return rows


class _Series:
    """A job's points: a bounded deque, or (after a replay seek) a function that makes
    them, called the first time they are needed."""

    __slots__ = ("key", "_points", "_make", "_maxlen")

    def __init__(self, key: str, maxlen: int, make=None) -> None:
        self.key = key
        self._maxlen = maxlen
        self._make = make
        self._points: deque[tuple[float, float]] | None = None if make else deque(maxlen=maxlen)

    @property
    def points(self) -> deque[tuple[float, float]]:
        if self._points is None:
            self._points = deque(self._make(), maxlen=self._maxlen)
            self._make = None
        return self._points

    @points.setter
    def points(self, value: deque[tuple[float, float]]) -> None:
        self._points, self._make = value, None


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
        self.series: dict[str, _Series] = {}
        self.latest_job: str | None = None
        self.pinned: str | None = None
        self._dirty = False
        self.border_title = "loss"
        self.kind = "loss"  # the chart shown (`c` cycles)
        self.extra: dict[str, dict[str, _Series]] = {}  # kind -> job -> points
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
            series = by_job[job] = _Series(kind, self.maxlen)
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
        plan = _PLANS.get(shape)
        if plan is None:
            extra_points(values)  # makes the plan
            plan = _PLANS[shape]
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
        if ev.get("split") != "dev" or type(value) not in (int, float):
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
            series = self.series[job] = _Series(key, self.maxlen)
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
            loss = values.get("loss") if isinstance(values, dict) else None
            job = ev.get("job", "?")
            if type(loss) is float and type(job) is str:
                series = last_series if job == last_job else series_of(job)
                if series is not None and series.key == "loss":
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
                self.series[job] = _Series(key, self.maxlen, points)
            else:
                s = self.series[job] = _Series(key, self.maxlen)
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
                job: (_Series(kind, self.maxlen, pts) if callable(pts) else _Series(kind, self.maxlen))
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


_LEFT = (0x40, 0x04, 0x02, 0x01)  # braille dots of the left column, bottom to top
_RIGHT = (0x80, 0x20, 0x10, 0x08)


def overlay(series: list[list[float]], width: int, rows: int, lo: float, hi: float) -> list[list[tuple[int, int]]]:
    """A rows x width grid of (braille dot bits, series number) drawing each series (later
    ones on top) at 2 points per cell across and 4 dots per cell up, scaled to lo..hi."""
    grid = [[(0, 0) for _ in range(width)] for _ in range(rows)]
    span = hi - lo
    levels = rows * 4
    for k, values in enumerate(series):
        pts = downsample(values, width * 2)
        for x, v in enumerate(pts):
            level = levels // 2 if span == 0 else min(levels - 1, int((v - lo) / span * levels))
            row = rows - 1 - level // 4
            col = x // 2
            dot = (_LEFT if x % 2 == 0 else _RIGHT)[level % 4]
            bits, owner = grid[row][col]
            grid[row][col] = ((bits if owner == k else 0) | dot, k)
    return grid
