"""The LLM agent's key findings: what a long run must never forget, however much of the
conversation the context budget (agents/context.py) summarizes away.

`Findings` is a running log, filled as tool outcomes and messages arrive: the person's messages,
notes, experiments (job: setup -> outcome -> scores), other scores, watchdog alerts (counted per
rule) and decisions (including denied calls). `text(level)` renders it, most important first;
higher levels shorten older entries so it fits a smaller share of the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_core.agents.compaction import cut_line, dumps, format_value, is_number
from agent_core.agents.markers import ALERT_MARK, ALERT_PIECE, ALERT_SEP
from agent_core.record.events import ENDED_JOB_STATES


def args_short(args: Any, cap: int = 80) -> str:
    """A tool call's arguments on one short line (long values cut)."""
    if not isinstance(args, dict):
        return "(bad arguments)"
    parts = []
    for k, v in args.items():
        s = v if isinstance(v, str) else dumps(v)
        parts.append(f"{k}={s if len(s) <= 40 else s[:37] + '...'}")
    out = ", ".join(parts)
    return out if len(out) <= cap else out[: cap - 3] + "..."


@dataclass
class _Job:
    turn: int
    setup: str
    short: str
    end: str = ""
    scores: dict[str, str] = field(default_factory=dict)


@dataclass
class _Alert:
    severity: str
    message: str
    count: int
    first: int
    last: int


class Findings:
    """The running log of key findings (see the module docstring)."""

    def __init__(self, *, note_chars: int = 400, nudge_chars: int = 800):
        self.note_chars = note_chars
        self.nudge_chars = nudge_chars
        self.nudges: list[tuple[int, str]] = []
        self.notes: list[tuple[int, str]] = []
        self.decisions: list[tuple[int, str]] = []
        self.other: list[tuple[int, str]] = []  # add() of any other kind
        self.jobs: dict[str, _Job] = {}
        self.scores: dict[str, dict[str, str]] = {}  # checkpoints that are not this run's jobs (base)
        self.alerts: dict[str, _Alert] = {}

    def record_nudge(self, text: str, turn: int = 0) -> None:
        self.nudges.append((turn, str(text)))

    def add(self, kind: str, text: str, turn: int = 0) -> None:
        """Any other finding to keep for the whole run (kind: note, decision, or a free label)."""
        {"note": self.notes, "decision": self.decisions, "nudge": self.nudges}.get(kind, self.other).append(
            (turn, str(text) if kind in ("note", "decision", "nudge") else f"{kind}: {text}")
        )

    def record_result(
        self,
        tool: str,
        args: Any,
        ok: bool,
        summary: str,
        data: dict | None = None,
        *,
        denied: bool = False,
        turn: int = 0,
    ) -> None:
        """Pull the key findings out of one tool outcome (before it is compacted)."""
        summary = summary or ""
        data = data if isinstance(data, dict) else {}
        args = args if isinstance(args, dict) else {}
        main, _, alerts = summary.partition(ALERT_MARK)
        for piece in alerts.split(ALERT_SEP) if alerts else []:
            self._alert(piece.strip(), turn)
        if denied:
            self.decisions.append((turn, f"DENIED {tool}({args_short(args)}): {main.strip()}"))
            return
        if not ok:
            return
        if tool == "note" and args.get("text"):
            self.notes.append((turn, str(args["text"]).strip()))
        elif tool == "evaluate" and is_number(data.get("score")):
            ckpt = str(args.get("checkpoint", "?"))
            split = str(args.get("split") or "dev")
            n = data.get("n")
            correct = main.split("(")[1].split(")")[0] if "(" in main and "/" in main else (f"n={n}" if n else "")
            text = f"{data['score']:.1%}" + (f" ({correct})" if correct else "")
            if ckpt in self.jobs:
                self.jobs[ckpt].scores[split] = text
            else:
                self.scores.setdefault(ckpt, {})[split] = text
        elif tool == "start_training" and data.get("job"):
            job = str(data["job"])
            setup = main.split(":", 1)[1] if main.startswith(job) and ":" in main else main
            setup = setup.split("; call wait")[0].strip()
            short = ", ".join(
                f"{k}={args[k]}"
                for k in ("dataset", "base", "learning_rate", "epochs", "lr_scheduler_type", "lora")
                if k in args
            )
            self.jobs[job] = _Job(turn, setup, short or setup[:60])
        elif tool in ("wait", "job_status", "stop_training") and data.get("job") in self.jobs:
            if data.get("state") in ENDED_JOB_STATES:
                self.jobs[str(data["job"])].end = _job_end(data)
            if tool == "stop_training":
                self.decisions.append((turn, f"stopped {data['job']}"))
        elif tool == "submit":
            self.decisions.append((turn, f"submitted {args.get('checkpoint')}: {main.strip()[:120]}"))

    def _alert(self, piece: str, turn: int) -> None:
        if not piece:
            return
        m = ALERT_PIECE.match(piece)
        rule, sev, msg = (m.group(1), m.group(2), m.group(3)) if m else (piece[:40], "?", piece)
        a = self.alerts.get(rule)
        if a is None:
            self.alerts[rule] = _Alert(sev, msg.strip(), 1, turn, turn)
        else:
            a.count, a.last, a.message, a.severity = a.count + 1, turn, msg.strip(), sev

    def has_any(self) -> bool:
        return bool(
            self.nudges or self.notes or self.decisions or self.other or self.jobs or self.scores or self.alerts
        )

    def text(self, level: int = 0) -> str:
        """The key findings, most important first. Level 0 is complete; higher levels shorten
        older entries (the person's messages last) to fit a smaller share."""
        note_cap = (self.note_chars, 160, 70, 70)[level]
        nudge_old = (self.nudge_chars, self.nudge_chars, 200, 120)[level]
        keep_recent = 8
        out: list[str] = []
        if self.nudges:
            out.append("Messages from the human supervisor (they still apply unless the person said otherwise):")
            n = len(self.nudges)
            for i, (t, text) in enumerate(self.nudges):
                cap = self.nudge_chars if i >= n - 5 else nudge_old
                out.append(f"- t{t}: {cut_line(' '.join(text.split()), cap)}")
        if self.jobs:
            out.append("Experiments (job: setup -> outcome -> scores):")
            n = len(self.jobs)
            for i, (job, j) in enumerate(self.jobs.items()):
                recent = i >= n - keep_recent
                setup = j.setup if (level == 0 or recent) else j.short
                end = j.end or "not finished when last seen"
                if level >= 2 and not recent:
                    end = end.split(",")[0]
                scores = ", ".join(f"{s} {v}" for s, v in j.scores.items()) or "not evaluated"
                out.append(f"- {job} (t{j.turn}): {setup} -> {end} -> {scores}")
        if self.scores:
            out.append(
                "Other scores: "
                + "; ".join(f"{ck}: " + ", ".join(f"{s} {v}" for s, v in sc.items()) for ck, sc in self.scores.items())
            )
        if self.alerts:
            out.append("Watchdog alerts (rule, severity, how many times, turns, latest message):")
            mcap = (200, 120, 80, 60)[level]
            for rule, a in self.alerts.items():
                span = f"t{a.first}" if a.first == a.last else f"t{a.first}-t{a.last}"
                out.append(f"- {rule} ({a.severity}) x{a.count}, {span}: {cut_line(a.message, mcap)}")
        if self.decisions:
            out.append("Decisions (yours and the person's):")
            n = len(self.decisions)
            dcap = (300, 160, 90, 70)[level]
            for i, (t, text) in enumerate(self.decisions):
                out.append(f"- t{t}: {cut_line(text, 300 if i >= n - 10 else dcap)}")
        if self.other:
            out.append("Other findings:")
            out += [f"- t{t}: {cut_line(text, (300, 160, 90, 70)[level])}" for t, text in self.other]
        if self.notes:
            out.append("Your notes (all are also in NOTES.md):")
            n = len(self.notes)
            for i, (t, text) in enumerate(self.notes):
                cap = self.note_chars if i >= n - keep_recent else note_cap
                out.append(f"- t{t}: {cut_line(' '.join(text.split()), cap)}")
        return "\n".join(out)

    def counts(self) -> dict[str, int]:
        return {
            "nudges": len(self.nudges),
            "notes": len(self.notes),
            "jobs": len(self.jobs),
            "alerts": sum(a.count for a in self.alerts.values()),
            "decisions": len(self.decisions),
        }


def _job_end(d: dict) -> str:
    parts = [str(d.get("state"))]
    if d.get("step") is not None:
        parts.append(f"step {d['step']}" + (f"/{d['total']}" if d.get("total") else ""))
    if is_number(d.get("loss")):
        parts.append(f"loss {format_value(d['loss'])}")
    if d.get("checkpoint"):
        parts.append(f"checkpoint {d['checkpoint']}")
    err = d.get("error")
    if isinstance(err, dict):
        parts.append(f"error {err.get('kind')}: {cut_line(str(err.get('message')), 100)}")
    return ", ".join(parts)
