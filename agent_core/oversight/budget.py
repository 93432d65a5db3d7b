"""Run budgets: wall clock, GPU-hours, tokens and dollars.

    spent   wall_s  seconds the daemon has run this run (all daemons, a resumed run included;
                    the time the run sat dead between a crash and `resume` is not counted)
            gpu_h   training jobs' running time x the GPUs each holds (one per worker process:
                    the spec's num_processes, at most the machine's GPUs), in hours. On a
                    machine without GPUs a job counts as one device, so the figure is
                    "device-hours" (the job's wall time); REPORT.md says which.
            tokens  prompt + completion tokens the agent's model used (the providers' usage,
                    cached prompt tokens included)
            usd     those tokens priced per model (PRICES, per million input / output tokens;
                    cached input read at 10% and written at 125% of the input price unless the
                    table says otherwise)
    limits  the same keys, None when not limited

Price table override: `prices.toml` or `prices.json` in the runs home, or the run config's
`prices` (a path or a table), each of the form

    [models."claude-sonnet-4-6"]          {"models": {"my-model": {"input": 0.5, "output": 1.5}}}
    input = 3.0
    output = 15.0
    cache_read = 0.3     # optional

A model name matches an entry exactly, else the longest entry that prefixes it.

Thresholds: the agent is warned once at 50% (info), 80% (warning) and 95% (high) of its
largest fraction, told to submit at 100% (high), and the run is stopped once the grace after
100% has passed: `budget_grace_s` (default 10% of the wall budget, at most 10 minutes; 2 minutes
without a wall budget) or `budget_grace_steps` agent steps, whichever comes first.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# USD per million tokens (input, output). Check your provider's page; override with prices.toml.
PRICES: dict[str, dict[str, float]] = {
    "claude-opus-4": {"input": 15.0, "output": 75.0},
    "claude-sonnet-4": {"input": 3.0, "output": 15.0},
    "claude-haiku-4": {"input": 1.0, "output": 5.0},
    "claude-3-5-haiku": {"input": 0.8, "output": 4.0},
    "gpt-4.1": {"input": 2.0, "output": 8.0, "cache_read": 0.5},
    "gpt-4.1-mini": {"input": 0.4, "output": 1.6, "cache_read": 0.1},
    "gpt-4.1-nano": {"input": 0.1, "output": 0.4, "cache_read": 0.025},
    "gpt-4o": {"input": 2.5, "output": 10.0, "cache_read": 1.25},
    "gpt-4o-mini": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
    "o3": {"input": 2.0, "output": 8.0, "cache_read": 0.5},
    "o4-mini": {"input": 1.1, "output": 4.4, "cache_read": 0.275},
    "gpt-5": {"input": 1.25, "output": 10.0, "cache_read": 0.125},
}

LEVELS = ((0.5, "info"), (0.8, "warning"), (0.95, "high"), (1.0, "high"))
KEYS = ("wall_s", "gpu_h", "tokens", "usd")


class BudgetError(ValueError):
    pass


# -- parsing (CLI, config and task files) ----------------------------------------------------------
def parse_duration(value: Any) -> float | None:
    """The one duration parser: '30m', '10h', '1h30m', '90s', plain seconds (a number or a
    string) -> seconds; None, '' or 'none' -> None; anything else (or zero) is a BudgetError."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
            if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
                raise BudgetError(f"bad duration {value!r}: use e.g. 30m, 10h, 1h30m or 90s")
            seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if not seconds > 0:
        raise BudgetError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_count(text: Any) -> int | None:
    """'2M', '500k', '1.5m', '2000000' -> tokens; None / '' / 'none' -> None."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)", str(text).strip().lower().replace("_", "").replace(",", ""))
    if not m:
        raise BudgetError(f"bad token count {text!r}: use e.g. 500k, 2M or 2000000")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]
    if value <= 0:
        raise BudgetError(f"a token limit must be positive, got {text!r}")
    return int(value)


def parse_positive(text: Any, what: str) -> float | None:
    """'1.5', '$20' -> float; None / '' / 'none' -> None."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    try:
        value = float(str(text).strip().lstrip("$"))
    except ValueError:
        raise BudgetError(f"bad {what} {text!r}: use a number, e.g. 1.5") from None
    if not value > 0:
        raise BudgetError(f"{what} must be positive, got {text!r}")
    return value


# -- prices ---------------------------------------------------------------------------------------
def load_prices(home: Path | None = None, override: Any = None) -> dict[str, dict[str, float]]:
    """The built-in table, then the runs home's prices.toml/.json, then the run config's `prices`
    (a path or a table). A broken file raises BudgetError naming it."""
    table = {k: dict(v) for k, v in PRICES.items()}
    sources: list[Any] = []
    if home is not None:
        sources += [p for p in (Path(home) / "prices.toml", Path(home) / "prices.json") if p.exists()]
    if override:
        sources.append(Path(override).expanduser() if isinstance(override, str) else override)
    for src in sources:
        data = src
        if isinstance(src, Path):
            try:
                text = src.read_text(encoding="utf-8")
                if src.suffix == ".toml":
                    import tomllib

                    data = tomllib.loads(text)
                else:
                    data = json.loads(text)
            except (OSError, ValueError) as exc:
                raise BudgetError(f"cannot read the price table {src}: {exc}") from exc
        models = data.get("models", data) if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise BudgetError(f"price table {src}: expected a table of models")
        for name, entry in models.items():
            if not (
                isinstance(entry, dict) and all(isinstance(entry.get(k), (int, float)) for k in ("input", "output"))
            ):
                raise BudgetError(
                    f"price table {src}: {name!r} needs numeric input and output prices (USD per million tokens)"
                )
            table[str(name)] = {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}
    return table


def price_for(model: str | None, table: dict[str, dict[str, float]]) -> dict[str, float] | None:
    if not model:
        return None
    if model in table:
        return table[model]
    hits = [k for k in table if model.startswith(k)]
    return table[max(hits, key=len)] if hits else None


def cost_usd(usage: Any, price: dict[str, float] | None) -> float:
    """Dollars for a providers.Usage (or a dict with the same keys) at `price`."""
    if price is None or usage is None:
        return 0.0
    get = usage.get if isinstance(usage, dict) else (lambda k, d=0: getattr(usage, k, d))
    inp, out = price["input"], price["output"]
    total = (
        get("input_tokens", 0) * inp
        + get("output_tokens", 0) * out
        + get("cache_read_tokens", 0) * price.get("cache_read", inp * 0.1)
        + get("cache_write_tokens", 0) * price.get("cache_write", inp * 1.25)
    )
    return total / 1e6


# -- the budget -------------------------------------------------------------------------------------
@dataclass
class Budget:
    wall_s: float | None = None
    gpu_h: float | None = None
    tokens: int | None = None
    usd: float | None = None
    grace_s: float | None = None
    grace_steps: int | None = None
    clock: Callable[[], float] = time.time
    # what earlier daemons of this run spent (a resumed run); the live part is added to it
    base: dict = field(default_factory=lambda: {k: 0 for k in KEYS})
    gpu_count: int = 0  # 0: no GPU seen, a job counts as one device
    model: str | None = None
    price: dict | None = None
    _t0: float = 0.0
    _usage_tokens: int = 0
    _usage_usd: float = 0.0
    _jobs: dict = field(default_factory=dict)  # job id -> (started, ended or None, gpus)
    _warned: set = field(default_factory=set)
    _over_at: float | None = None
    _over_steps: int = 0

    @classmethod
    def from_config(cls, cfg: dict, home: Path | None = None, clock: Callable[[], float] = time.time) -> "Budget":
        wall = cfg.get("budget_s")
        b = cls(
            wall_s=float(wall) if wall else None,
            gpu_h=parse_positive(cfg.get("budget_gpu_h"), "GPU-hours"),
            tokens=parse_count(cfg.get("budget_tokens")),
            usd=parse_positive(cfg.get("budget_usd"), "dollar limit"),
            grace_s=cfg.get("budget_grace_s"),
            grace_steps=cfg.get("budget_grace_steps"),
            clock=clock,
        )
        if b.grace_s is None:
            b.grace_s = min(0.1 * b.wall_s, 600.0) if b.wall_s else 120.0
        b._t0 = clock()
        return b

    # -- inputs --------------------------------------------------------------------------------
    def set_model(self, model: str | None, prices: dict) -> None:
        self.model = model
        self.price = price_for(model, prices)

    def resume_from(self, spent: dict) -> None:
        """Carry what the earlier daemons spent (the last `budget` event's `spent`)."""
        for k in KEYS:
            v = spent.get(k)
            if isinstance(v, (int, float)):
                self.base[k] = v

    def set_usage(self, usage: Any) -> None:
        """The agent's cumulative usage (providers.Usage) since this daemon started."""
        if usage is None:
            return
        self._usage_tokens = int(getattr(usage, "total", 0) or 0)
        self._usage_usd = cost_usd(usage, self.price)

    def job_started(self, job: str, started: float | None = None, processes: int = 1) -> None:
        """A training job runs: it holds one GPU per process (at most the machine's GPUs), or
        counts as one device on a machine without GPUs."""
        gpus = min(max(1, int(processes or 1)), self.gpu_count) if self.gpu_count else 1
        self._jobs[job] = [started or self.clock(), None, gpus]

    def job_ended(self, job: str, ended: float | None = None) -> None:
        if job in self._jobs and self._jobs[job][1] is None:
            self._jobs[job][1] = ended or self.clock()

    # -- figures -------------------------------------------------------------------------------
    def spent(self) -> dict:
        now = self.clock()
        gpu_s = sum(((end or now) - start) * gpus for start, end, gpus in self._jobs.values())
        return {
            "wall_s": round(self.base["wall_s"] + now - self._t0, 2),
            "gpu_h": round(self.base["gpu_h"] + gpu_s / 3600.0, 6),
            "tokens": int(self.base["tokens"] + self._usage_tokens),
            "usd": round(self.base["usd"] + self._usage_usd, 6),
        }

    def limits(self) -> dict:
        return {"wall_s": self.wall_s, "gpu_h": self.gpu_h, "tokens": self.tokens, "usd": self.usd}

    def fractions(self, spent: dict | None = None) -> dict:
        spent = spent or self.spent()
        return {k: spent[k] / lim for k, lim in self.limits().items() if lim}

    def event(self) -> dict:
        """The `budget` event's fields."""
        spent = self.spent()
        fr = self.fractions(spent)
        return {"spent": spent, "limits": self.limits(), "frac": round(max(fr.values(), default=0.0), 4)}

    # -- thresholds ------------------------------------------------------------------------------
    def check(self, step: bool = False) -> tuple[list[dict], str | None]:
        """New alerts (each level once) and, once the grace after 100% is over, the stop reason.
        step: called at an agent step boundary (counts toward budget_grace_steps)."""
        spent = self.spent()
        fr = self.fractions(spent)
        if not fr:
            return [], None
        key, frac = max(fr.items(), key=lambda kv: kv[1])
        alerts = []
        for level, severity in LEVELS:
            if frac >= level and level not in self._warned:
                self._warned.add(level)
                alerts.append(
                    {
                        "rule": "budget_overrun",
                        "severity": severity,
                        "level": level,
                        "message": self._message(level, key, spent, frac),
                    }
                )
        if frac < 1.0:
            return alerts, None
        if self._over_at is None:
            self._over_at = self.clock()
        elif step:
            self._over_steps += 1
        over_s = self.clock() - self._over_at
        if (self.grace_s is not None and over_s >= self.grace_s) or (
            self.grace_steps is not None and self._over_steps >= self.grace_steps
        ):
            return alerts, f"budget spent: {_describe(key, spent[key], self.limits()[key])} (grace over)"
        return alerts, None

    def _message(self, level: float, key: str, spent: dict, frac: float) -> str:
        what = _describe(key, spent[key], self.limits()[key])
        if level >= 1.0:
            grace = []
            if self.grace_s is not None:
                grace.append(f"{self.grace_s:.0f}s")
            if self.grace_steps is not None:
                grace.append(f"{self.grace_steps} steps")
            return (
                f"budget spent ({what}). Submit your best checkpoint NOW; the run is stopped after a "
                f"grace of {' or '.join(grace)}."
            )
        advice = {
            0.5: "half the budget is gone: plan the remaining experiments",
            0.8: "80% of the budget is gone: start no long new experiment; prepare to submit",
            0.95: "95% of the budget is gone: evaluate and submit your best checkpoint now",
        }[level]
        return f"{frac:.0%} of the budget used ({what}); {advice}."


def _describe(key: str, spent: float, limit: float | None) -> str:
    if key == "wall_s":
        return f"{spent / 60:.1f} of {(limit or 0) / 60:.1f} minutes"
    if key == "gpu_h":
        return f"{spent:.2f} of {limit:g} GPU-hours"
    if key == "tokens":
        return f"{int(spent):,} of {int(limit or 0):,} tokens"
    return f"${spent:.2f} of ${limit:.2f}"


def describe_limits(limits: dict) -> str:
    """One line for a prompt: '2.0 hours of wall clock, 1.5 GPU-hours, 2,000,000 tokens, $20.00'."""
    parts = []
    if limits.get("wall_s"):
        m = limits["wall_s"] / 60
        parts.append(f"{m / 60:.1f} hours of wall clock" if m >= 90 else f"{m:.0f} minutes of wall clock")
    if limits.get("gpu_h"):
        parts.append(f"{limits['gpu_h']:g} GPU-hours")
    if limits.get("tokens"):
        parts.append(f"{int(limits['tokens']):,} model tokens")
    if limits.get("usd"):
        parts.append(f"${limits['usd']:.2f} of model API spend")
    return ", ".join(parts)
