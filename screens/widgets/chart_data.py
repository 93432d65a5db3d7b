"""What the run screen's charts draw, no widget: which metric values each selectable chart reads
(names from agent_core.record.metrics), picking a metric event's points, and a job's points.

The loss chart uses the loss (LOSS_KEYS: "loss", else "train_loss"); a job that logs no loss but
a reward (REWARD_KEYS: "reward_mean", else its aliases) is drawn in the reward colour.
"""

from __future__ import annotations

from collections import deque

from agent_core.record import metrics

LOSS_KEYS = metrics.LOSS_KEYS
REWARD_KEYS = metrics.REWARD_KEYS
# Selectable charts (`c` cycles): kind -> (title, metric value keys, first one present wins).
# "loss" is the default chart (loss, else a reward-only job's reward); "dev" draws `score`
# events of split "dev".
CHART_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loss": ("loss", LOSS_KEYS),
    "reward": ("reward", REWARD_KEYS),
    "lr": ("learning rate", metrics.LR_KEYS),
    "kl": ("KL", (metrics.KL,)),
    "entropy": ("entropy", (metrics.ENTROPY,)),
    "dev": ("dev score", ()),
}
_EXTRA = tuple((kind, keys) for kind, (_, keys) in CHART_KINDS.items() if kind not in ("loss", "dev"))

# The plan of extra_points per set of value keys (LossChart reads it directly on its hot path).
PLANS: dict[tuple, tuple[tuple[str, str], ...]] = {}


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
    plan = PLANS.get(shape)
    if plan is None:
        if len(PLANS) > 256:
            PLANS.clear()
        plan = PLANS[shape] = _plan(shape)
    out = []
    for kind, key in plan:
        v = values[key]
        if type(v) is float or type(v) is int:
            out.append((kind, float(v)))
    return out


_KEYS = LOSS_KEYS + REWARD_KEYS


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


class Series:
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
