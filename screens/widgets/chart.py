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

__all__ = ["LossChart", "LOSS_KEYS", "REWARD_KEYS", "downsample", "bars", "metric_point"]

LOSS_KEYS = ("loss", "train_loss")
REWARD_KEYS = ("reward", "mean_reward")
BLOCKS = " ▁▂▃▄▅▆▇█"


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
        chunk = values[lo:max(hi, lo + 1)]
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

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.hz, self._maybe_redraw, name="chart-redraw")

    # -- data -----------------------------------------------------------------------------
    def add_metric(self, ev: dict) -> bool:
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
        series.points.append((step if isinstance(step, (int, float)) else len(series.points),
                              value))
        self.latest_job = job
        self._dirty = True
        return True

    def add_metrics(self, events: list[dict]) -> int:
        """`add_metric` for the metric events of a batch; returns how many were drawn.
        (The common case, a job's next loss, is inlined: this runs for ~70% of events.)"""
        added = 0
        series_of = self.series.get
        last_job = last_series = None
        for ev in events:
            if ev.get("type") != "metric":
                continue
            values = ev.get("values")
            loss = values.get("loss") if isinstance(values, dict) else None
            job = ev.get("job", "?")
            if type(loss) is float and type(job) is str:
                series = last_series if job == last_job else series_of(job)
                if series is not None and series.key == "loss":
                    step = ev.get("step")
                    points = series.points
                    points.append((step if isinstance(step, (int, float)) else len(points),
                                   loss))
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

    def reset(self) -> None:
        self.series.clear()
        self.latest_job = self.pinned = None
        self._dirty = True

    @property
    def job(self) -> str | None:
        return self.pinned if self.pinned in self.series else self.latest_job

    def cycle_job(self) -> str | None:
        """Pin the next job (in order of first metric); after the last, follow the latest."""
        jobs = list(self.series)
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
        if self._dirty:
            self._dirty = False
            self.refresh()

    # -- drawing --------------------------------------------------------------------------
    def render(self) -> Text:
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
