"""The run's status line: id, task, model, agent, state, elapsed/budget, waiting approvals,
daemon liveness, and the replay position when replaying."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from agent_core.record.runs import EXTERNAL_AGENT
from screens.widgets.palette import Palette, fmt_duration
from screens.widgets.state_styles import STATE_STYLE

__all__ = ["StatusInfo", "StatusLine", "render_status", "STATE_STYLE"]


@dataclass
class StatusInfo:
    run_id: str = "?"
    task: str = ""
    model: str = ""
    agent: str = ""
    state: str = "unknown"
    elapsed: float | None = None
    budget: float | None = None
    pending: int = 0
    daemon: bool | None = None  # None: not known / replay
    replay: dict | None = None  # ReplayFeed.status() when replaying
    spend: dict | None = None  # the last `budget` event (None: none yet)
    unsandboxed: bool = False  # started with --unsafe-no-sandbox
    external: bool = False  # --agent external: an outside MCP client whose own tools are not gated


def _spent(spend: dict | None, key: str) -> tuple[float | None, float | None]:
    if not isinstance(spend, dict):
        return None, None
    spent, limits = spend.get("spent"), spend.get("limits")
    value = spent.get(key) if isinstance(spent, dict) else None
    limit = limits.get(key) if isinstance(limits, dict) else None
    num = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return num(value), num(limit)


def fmt_tokens(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def render_status(info: StatusInfo, pal: Palette) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    style = STATE_STYLE.get(info.state, "muted")
    out.append(f" ● {info.state.upper().replace('_', ' ')} ", pal.bold(style) + Style(reverse=True))
    out.append(f"  {info.run_id}", pal.bold("agent"))
    if info.unsandboxed:
        out.append("  NO SANDBOX ", pal.bold("risk-high") + Style(reverse=True))
    if info.external:
        out.append(f"  {EXTERNAL_AGENT} ", pal.bold("risk-medium") + Style(reverse=True))
    for label, value in (("task", info.task), ("model", info.model), ("agent", info.agent)):
        if value:
            out.append(f"  {label} ", pal["muted"])
            out.append(str(value))
    out.append("\n")
    out.append(" elapsed ", pal["muted"])
    out.append(fmt_duration(info.elapsed))
    _, wall_limit = _spent(info.spend, "wall_s")
    budget = wall_limit if wall_limit else info.budget
    frac_ev = info.spend.get("frac") if isinstance(info.spend, dict) else None
    if budget or isinstance(frac_ev, (int, float)):
        out.append(" / ", pal["muted"])
        out.append(fmt_duration(budget) if budget else "∞")
        if isinstance(frac_ev, (int, float)) and not isinstance(frac_ev, bool):
            frac = max(0.0, min(1.0, float(frac_ev)))  # the daemon's own figure
        else:
            frac = min(1.0, (info.elapsed or 0) / budget)
        used = round(frac * 10)
        bstyle = "risk-high" if frac >= 0.9 else "risk-medium" if frac >= 0.75 else "ok"
        out.append(" " + "█" * used + "░" * (10 - used), pal[bstyle])
        out.append(f" {frac * 100:3.0f}%", pal["muted"])
    usd, usd_limit = _spent(info.spend, "usd")
    tokens, tok_limit = _spent(info.spend, "tokens")
    out.append("  $", pal["muted"])
    out.append(f"{usd:.2f}" if usd is not None else "—")
    if usd_limit is not None:
        out.append(f"/{usd_limit:.2f}", pal["muted"])
    out.append("  tok ", pal["muted"])
    out.append(fmt_tokens(tokens))
    if tok_limit is not None:
        out.append(f"/{fmt_tokens(tok_limit)}", pal["muted"])
    if info.pending:
        plural = "s" if info.pending > 1 else ""
        out.append(f"   ⚠ {info.pending} approval{plural} waiting", pal.bold("risk-medium"))
    if info.daemon is False and info.replay is None:
        out.append("   daemon not running", pal.bold("risk-high"))
    if info.replay is not None:
        r = info.replay
        icon = "▶" if r.get("playing") else "⏸"
        out.append("   REPLAY ", pal.bold("person"))
        out.append(f"{icon} {r.get('speed', 1):g}x  event {r.get('position', 0)}/{r.get('total', 0)}")
        if r.get("loading"):
            out.append("+ (reading log)", pal["muted"])
    return out


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: 2;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.info = StatusInfo()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.show(self.info))

    def show(self, info: StatusInfo) -> None:
        self.info = info
        self.update(render_status(info, Palette.from_app(self.app)), layout=False)  # fixed size
