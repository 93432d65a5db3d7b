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

__all__ = ["LossChart", "LOSS_KEYS", "REWARD_KEYS", "downsample", "bars"]

LOSS_KEYS = ("loss", "train_loss")
REWARD_KEYS = ("reward", "mean_reward")
BLOCKS = " ▁▂▃▄▅▆▇█"


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
    __slots__ = ("key", "points")

    def __init__(self, key: str, maxlen: int) -> None:
        self.key = key
        self.points: deque[tuple[float, float]] = deque(maxlen=maxlen)


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
        values = ev.get("values")
        if not isinstance(values, dict):
            return False
        key = next((k for k in LOSS_KEYS if isinstance(values.get(k), (int, float))), None)
        if key is None:
            key = next((k for k in REWARD_KEYS if isinstance(values.get(k), (int, float))), None)
        if key is None:
            return False
        job = str(ev.get("job", "?"))
        series = self.series.get(job)
        if series is None:
            series = self.series[job] = _Series(key, self.maxlen)
        elif series.key not in LOSS_KEYS and key in LOSS_KEYS:
            series.key, series.points = key, deque(maxlen=self.maxlen)
        if key != series.key:
            return False
        step = ev.get("step")
        series.points.append((step if isinstance(step, (int, float)) else len(series.points),
                              float(values[key])))
        self.latest_job = job
        self._dirty = True
        return True

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
