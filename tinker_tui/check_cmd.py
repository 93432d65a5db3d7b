"""`tinker-tui check`: offline checks that need no run and no model.

    tinker-tui check metrics FILE.jsonl [--total-steps N] [--lr-scheduler-type T] [--method M]
                                        [--set KEY=VALUE ...]
        Runs the training watchdogs over a recorded event stream, one JSON event per line
        (`metric` events, optionally `host_sample`, `score`, `job_state`; a run's events.jsonl
        or a run folder works too, and so do the worker's own {"event": "metric", ...} lines).
        Prints each alert as a JSON line on stdout, a summary on stderr.
        Exit 1 if any alert fired, 0 if none, 2 if the input cannot be read.

    tinker-tui check contamination TRAIN.jsonl --against EVAL.jsonl [EVAL2.jsonl ...]
                                   [--n 8] [--threshold 0.5] [--json]
        n-gram overlap between a training set and evaluation sets (verbatim and lightly
        reworded items). Exit 1 when any eval item overlaps, 0 when none, 2 on unreadable input.

The lead CLI registers it with `add_parser(subparsers)` and dispatches to `run(args)`; this module
also runs standalone: `python -m tinker_tui.check_cmd metrics FILE`. It runs in the UI process:
no torch & co.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Iterator

from agent_core.oversight import contamination
from agent_core.oversight.watchdogs import WatchdogConfig, Watchdogs, parse_ts

EXIT_OK, EXIT_FOUND, EXIT_UNREADABLE = 0, 1, 2


class InputError(Exception):
    pass


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `check` (with its `metrics` and `contamination` verbs) on a subparsers object."""
    p = subparsers.add_parser(
        "check",
        help="offline checks: watchdogs over a metrics stream, train/eval contamination",
        description="Offline checks that need no run and no model.",
    )
    sub = p.add_subparsers(dest="check_verb", metavar="{metrics,contamination}")

    m = sub.add_parser(
        "metrics",
        help="run the training watchdogs over a recorded event stream",
        description="Run the training watchdogs over a JSONL event stream; print alerts "
        "as JSON lines. Exit 1 if any alert, 0 if none, 2 if unreadable.",
    )
    m.add_argument(
        "file",
        metavar="FILE.jsonl",
        help="events, one JSON object a line ('-' for stdin); a run folder reads its events.jsonl",
    )
    m.add_argument("--total-steps", type=int, help="planned steps of jobs the stream does not describe")
    m.add_argument("--lr-scheduler-type", help="LR schedule of jobs the stream does not describe")
    m.add_argument("--warmup-steps", type=int, help="warmup steps of jobs the stream does not describe")
    m.add_argument("--method", choices=("sft", "grpo"), help="training method of undescribed jobs")
    m.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a watchdog threshold, e.g. --set stall_timeout_s=600 (repeatable)",
    )

    c = sub.add_parser(
        "contamination",
        help="n-gram overlap between a training set and eval sets",
        description="Find eval items (verbatim or lightly reworded) inside a training "
        "set. Exit 1 when any overlap is found, 0 when none, 2 if unreadable.",
    )
    c.add_argument("train", metavar="TRAIN.jsonl")
    c.add_argument("--against", nargs="+", required=True, metavar="EVAL.jsonl", help="evaluation set(s)")
    c.add_argument(
        "--n",
        type=int,
        default=contamination.DEFAULT_N,
        help=f"n-gram size in words (default {contamination.DEFAULT_N}); shorter items are compared whole",
    )
    c.add_argument(
        "--threshold",
        type=float,
        default=contamination.DEFAULT_THRESHOLD,
        help="fraction of an eval item's n-grams one training row must contain "
        f"(default {contamination.DEFAULT_THRESHOLD})",
    )
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(check_parser=p)
    return p


def run(args) -> int:
    verb = getattr(args, "check_verb", None)
    try:
        if verb == "metrics":
            return run_metrics(args)
        if verb == "contamination":
            return run_contamination(args)
    except InputError as exc:
        print(f"tinker-tui check: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    parser = getattr(args, "check_parser", None)
    if parser is not None:
        parser.print_usage(sys.stderr)
    print("tinker-tui check: choose 'metrics' or 'contamination'", file=sys.stderr)
    return EXIT_UNREADABLE


# ------------------------------------------------------------------------------ metrics
def _config(pairs: list[str]) -> WatchdogConfig:
    types = {f.name: f.type for f in fields(WatchdogConfig)}
    values: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            known = ", ".join(sorted(types))
            raise InputError(f"--set {pair!r}: expected KEY=VALUE with KEY one of: {known}")
        try:
            values[key] = int(raw) if types[key] in (int, "int") else float(raw)
        except ValueError:
            raise InputError(f"--set {pair!r}: {raw!r} is not a number") from None
    return WatchdogConfig(**values)


def _open_events(path_arg: str):
    if path_arg == "-":
        return sys.stdin.buffer, "<stdin>"
    path = Path(path_arg)
    if path.is_dir():
        path = path / "events.jsonl"
    try:
        return open(path, "rb"), str(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def iter_stream(fh) -> Iterator[tuple[int, dict | None]]:
    """(line number, event or None for a corrupt line) for each non-blank line."""
    for lineno, raw in enumerate(fh, start=1):
        if not raw.strip():
            continue
        try:
            ev = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            yield lineno, None
            continue
        if not isinstance(ev, dict):
            yield lineno, None
            continue
        if "type" not in ev:
            if "event" in ev:  # the worker's stdout protocol
                ev = {**ev, "type": ev["event"]}
            elif isinstance(ev.get("values"), dict):
                ev = {**ev, "type": "metric"}
            else:
                yield lineno, None
                continue
        yield lineno, ev


def run_metrics(args) -> int:
    wd = Watchdogs(_config(args.set))
    plan = {
        k: v
        for k, v in (
            ("total_steps", args.total_steps),
            ("lr_scheduler_type", args.lr_scheduler_type),
            ("warmup_steps", args.warmup_steps),
            ("method", args.method),
        )
        if v is not None
    }
    fh, name = _open_events(args.file)
    events = corrupt = 0
    rules: Counter = Counter()
    described: set[str] = set()
    try:
        for lineno, ev in iter_stream(fh):
            if ev is None:
                corrupt += 1
                continue
            events += 1
            alerts: list[dict] = []
            t = parse_ts(ev.get("ts"))
            if t is not None:
                alerts += wd.tick(t)  # the daemon ticks in real time; a recorded stream ticks per event
            kind = ev.get("type")
            if kind == "job_state" and ev.get("job"):
                described.add(str(ev["job"]))
            if kind == "metric" and plan:
                job = str(ev.get("job") or "job")
                if job not in described:
                    described.add(job)
                    alerts += wd.job_started(job, now=t, **plan)
            alerts += wd.feed(ev)
            for a in alerts:
                rules[a["rule"]] += 1
                print(
                    json.dumps({**a, "line": lineno, "ts": ev.get("ts")}, ensure_ascii=False, default=str), flush=True
                )
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    if events == 0 and corrupt:
        raise InputError(
            f"{name}: no readable events ({corrupt} corrupt lines): expected one JSON event object per line"
        )
    total = sum(rules.values())
    summary = ", ".join(f"{r} x{n}" for r, n in sorted(rules.items()))
    note = f"; skipped {corrupt} corrupt line{'s' if corrupt != 1 else ''}" if corrupt else ""
    print(
        f"{name}: {events} events, {total} alert{'s' if total != 1 else ''}{': ' + summary if summary else ''}{note}",
        file=sys.stderr,
    )
    return EXIT_FOUND if total else EXIT_OK


# ------------------------------------------------------------------------------ contamination
def _read_rows(path_arg: str) -> list:
    path = Path(path_arg)
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):  # {"rows": [...]} / {"data": [...]}
                data = next((v for v in data.values() if isinstance(v, list)), [data])
            return data if isinstance(data, list) else [data]
        return list(contamination.read_jsonl(str(path)))
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: it is a folder") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"cannot read {path}: not JSON ({exc})") from None


def run_contamination(args) -> int:
    if args.n < 1:
        raise InputError("--n must be at least 1")
    if not 0 < args.threshold <= 1:
        raise InputError("--threshold must be in (0, 1]")
    evals = {p: _read_rows(p) for p in args.against}
    train = _read_rows(args.train)
    reports = [
        contamination.check(train, rows, n=args.n, threshold=args.threshold, name=p) for p, rows in evals.items()
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "train": args.train,
                    "n": args.n,
                    "threshold": args.threshold,
                    "found": any(r.found for r in reports),
                    "reports": [r.to_dict() for r in reports],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(f"train: {args.train} ({len(train)} rows)")
        for r in reports:
            print(r.format())
    return EXIT_FOUND if any(r.found for r in reports) else EXIT_OK


# ------------------------------------------------------------------------------ standalone
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tinker-tui")
    sub = parser.add_subparsers(dest="verb")
    add_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] != ["check"]:
        argv = ["check", *argv]
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
