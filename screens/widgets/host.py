"""The host/GPU pane: the latest `host_sample` event (gpus, cpu, memory).

gpus: list of {name, util, mem_used, mem_total, power, temp}; an empty list shows "no GPU".
cpu: percent. memory: percent, or a dict with used/total (and/or percent).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from screens.widgets.palette import Palette, fmt_bytes_gib

__all__ = ["HostPane", "render_host"]


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _bar(frac: float | None, width: int) -> str:
    if frac is None:
        return "·" * width
    frac = max(0.0, min(1.0, frac))
    full = round(frac * width)
    return "█" * full + "░" * (width - full)


def _level(pal: Palette, frac: float | None):
    if frac is None:
        return pal["muted"]
    return pal["risk-high"] if frac >= 0.9 else pal["risk-medium"] if frac >= 0.7 else pal["ok"]


def _memory(mem: object) -> tuple[str, float | None]:
    if isinstance(mem, dict):
        used, total = _num(mem.get("used")), _num(mem.get("total"))
        pct = _num(mem.get("percent"))
        if used is not None and total:
            return f"{fmt_bytes_gib(used)}/{fmt_bytes_gib(total)} GiB", used / total
        if pct is not None:
            return f"{pct:.0f}%", pct / 100
        return "?", None
    pct = _num(mem)
    if pct is None:
        return "?", None
    return f"{pct:.0f}%", pct / 100


def render_host(ev: dict | None, pal: Palette, width: int = 40) -> Text:
    out = Text()
    if ev is None:
        out.append("no host sample yet", pal["muted"])
        return out
    bar_w = max(4, min(16, (width - 24) // 2))
    gpus = ev.get("gpus") or []
    if not gpus:
        out.append("no GPU", pal.bold("muted"))
        note = ev.get("gpu_note")
        out.append("\n")
        if note:
            note = str(note)
            if len(note) > width:
                note = note[: max(width - 1, 1)] + "…"
            out.append(note + "\n", pal["muted"])
    for i, gpu in enumerate(gpus if isinstance(gpus, list) else []):
        if not isinstance(gpu, dict):
            continue
        out.append(f"GPU{gpu.get('index', i)} ", pal.bold("tool"))
        out.append(str(gpu.get("name", "?"))[: max(8, width - 6)] + "\n")
        util = _num(gpu.get("util"))
        ufrac = None if util is None else util / 100
        out.append(" util ", pal["muted"])
        out.append(_bar(ufrac, bar_w), _level(pal, ufrac))
        out.append(f" {util:3.0f}%\n" if util is not None else "   ?\n")
        used, total = _num(gpu.get("mem_used")), _num(gpu.get("mem_total"))
        mfrac = used / total if (used is not None and total) else None
        out.append(" mem  ", pal["muted"])
        out.append(_bar(mfrac, bar_w), _level(pal, mfrac))
        out.append(f" {fmt_bytes_gib(used)}/{fmt_bytes_gib(total)} GiB\n")
        power, temp = _num(gpu.get("power")), _num(gpu.get("temp"))
        extras = []
        if power is not None:
            extras.append(f"{power:.0f} W")
        if temp is not None:
            extras.append(f"{temp:.0f}°C")
        if extras:
            out.append("      " + "  ".join(extras) + "\n", pal["muted"])
    cpu = _num(ev.get("cpu"))
    cfrac = None if cpu is None else cpu / 100
    out.append("CPU  ", pal["muted"])
    out.append(_bar(cfrac, bar_w), _level(pal, cfrac))
    out.append(f" {cpu:3.0f}%\n" if cpu is not None else "   ?\n")
    mem_text, mem_frac = _memory(ev.get("memory"))
    out.append("RAM  ", pal["muted"])
    out.append(_bar(mem_frac, bar_w), _level(pal, mem_frac))
    out.append(f" {mem_text}")
    return out


class HostPane(Static):
    DEFAULT_CSS = """
    HostPane {
        height: 1fr;
        border: round $primary 40%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.sample: dict | None = None
        self.border_title = "host"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def show_sample(self, ev: dict | None) -> None:
        self.sample = ev
        self.redraw()

    def redraw(self) -> None:
        width = self.content_size.width or 40
        # the pane's size does not depend on its text: no layout pass (a full repaint)
        self.update(render_host(self.sample, Palette.from_app(self.app), width), layout=False)
