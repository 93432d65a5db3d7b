"""The verbs that talk to a live run's daemon over its control socket: `pause`, `stop`,
`resume` (or, for a run whose daemon died, a new daemon that continues it), `nudge`,
`approve`, `veto`; and their parsers (`add_parsers`)."""

from __future__ import annotations

import json
from pathlib import Path

from agent_core.record.control import ControlError
from agent_core.record.events import read_events
from agent_core.record.summary import summarize
from tinker_tui.cli_base import CliError, looks_like_run, resolve
from tinker_tui.client import RunClient

__all__ = ["add_parsers", "cmd_control", "cmd_nudge", "cmd_decide", "cmd_resume", "parse_edit"]


def add_parsers(sub) -> None:
    """`nudge`, `approve` and `veto` (pause, stop and resume take just a RUN: the lead CLI adds them)."""
    sp = sub.add_parser("nudge", help="send the agent a message")
    sp.add_argument("items", nargs="+", metavar="[RUN] TEXT")
    sp = sub.add_parser("approve", help="approve a pending flagged action")
    sp.add_argument("items", nargs="*", metavar="[RUN] [ID]")
    sp.add_argument(
        "--session",
        action="store_true",
        help="approve this rule and pattern (the same dataset, path, source) for the rest of the run",
    )
    sp.add_argument(
        "--edit",
        metavar="JSON_OR_FILE",
        help="edit then approve: the call's changed arguments as a JSON object, or a file "
        "holding one; a file that is not JSON replaces the call's content/code argument",
    )
    sp = sub.add_parser("veto", help="veto a pending flagged action")
    sp.add_argument("items", nargs="*", metavar="[RUN] [ID]")
    sp.add_argument("--reason", help="an instruction that goes back to the agent")


def _client(args) -> RunClient:
    run = resolve(args)
    if not run.is_live():
        s = summarize(read_events(run.events_path))
        raise CliError(f"run {run.id} is not running ({s.effective_state(False)}); nothing to control")
    return RunClient(run)


def cmd_control(args, fn) -> int:
    """Send one command (`fn(client)`) to the run's daemon and print its reply."""
    client = _client(args)
    try:
        reply = fn(client)
    except ControlError as exc:
        raise CliError(str(exc)) from exc
    note = reply.get("note") or ""
    extra = {k: v for k, v in reply.items() if k not in ("ok", "note")}
    print(f"{args.verb}: ok" + (f" - {note}" if note else "") + (f" {json.dumps(extra)}" if extra else ""))
    return 0


def _split_run_and_id(args) -> list[str]:
    """`approve [RUN] [ID]`: two items are RUN ID; one item is a RUN if it names one, else an ID."""
    items = list(args.items)
    args.run = None
    if len(items) > 1 or (len(items) == 1 and looks_like_run(args, items[0])):
        args.run = items.pop(0)
    return items


def cmd_nudge(args) -> int:
    items = list(args.items)
    if not items:
        raise CliError("usage: tinker-tui nudge [RUN] TEXT")
    args.run = items.pop(0) if len(items) > 1 else None
    text = " ".join(items)
    return cmd_control(args, lambda c: c.nudge(text))


def cmd_decide(args) -> int:
    items = _split_run_and_id(args)
    if len(items) > 1:
        raise CliError(f"usage: tinker-tui {args.verb} [RUN] [ID]")
    aid = items[0] if items else None
    if args.verb == "approve":
        scope = "session" if args.session else "once"
        if getattr(args, "edit", None) is not None:
            edit = parse_edit(args.edit)
            return cmd_control(args, lambda c: c.request("approve", id=aid, scope=scope, edit=edit))
        return cmd_control(args, lambda c: c.approve(aid, scope))
    return cmd_control(args, lambda c: c.veto(aid, args.reason or ""))


def parse_edit(text: str) -> dict:
    """`--edit`: a JSON object, a file holding one, or a file whose text is the new content/code
    (marked by {"@file": text}, resolved against the pending call by the daemon's argument names)."""
    path = Path(text).expanduser()
    raw = text
    if not text.lstrip().startswith("{") and path.is_file():
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            value = json.loads(raw)
        except ValueError:
            return {"@text": raw}
        if not isinstance(value, dict):
            raise CliError(f"{path} holds JSON but not an object of arguments")
        return value
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"--edit is neither a JSON object nor an existing file: {exc}") from exc
    if not isinstance(value, dict):
        raise CliError('--edit must be a JSON object of the call\'s arguments, e.g. \'{"content": "..."}\'')
    return value


def cmd_resume(args) -> int:
    """`resume RUN`: a paused run goes on; a run whose daemon died (crash, kill, reboot) gets a new
    daemon that continues its log, its agent and its training from the last checkpoint."""
    run = resolve(args)
    if run.is_live():
        try:
            state = RunClient(run).status().get("state")
        except ControlError:
            state = None
        if state not in (None, "paused"):
            raise CliError(
                f"run {run.id} is live ({state}) and not paused: its daemon is running, so there is nothing to resume"
            )
        return cmd_control(args, lambda c: c.resume())
    from agent_core.daemon.launch import LaunchError, resume_run

    try:
        resume_run(run)
    except LaunchError as exc:
        raise CliError(str(exc)) from exc
    print(f"resumed {run.id}: a new daemon continues it. Watch it: tinker-tui attach {run.id}")
    return 0
