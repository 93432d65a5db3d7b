"""The `tinker-tui` command line.

    tinker-tui                         home screen: runs, start one
    tinker-tui run [--task T --model M --agent A --budget 30m] [--headless | --detach]
                   [--approval strict|flagged|auto] [--policy FILE]
    tinker-tui demo [--headless]       the offline demo: arithmetic, tiny model, playbook agent
    tinker-tui attach [RUN]            the live run screen
    tinker-tui replay RUN              the run screen fed from a finished log
    tinker-tui ls | show RUN [--json]
    tinker-tui pause|resume|stop [RUN]   resume: a paused run, or one whose daemon died (crash, reboot)
    tinker-tui report [RUN]            write REPORT.md in the run directory
    tinker-tui nudge [RUN] TEXT
    tinker-tui approve [RUN] [ID] [--session] [--edit JSON_OR_FILE]
    tinker-tui veto [RUN] [ID] [--reason TEXT]
    tinker-tui tasks list | tasks fetch NAME [--from DIR]   the task pack (GSM8K, HumanEval, ...)
    tinker-tui mcp [RUN]               a stdio MCP server: any MCP client is the agent of a run
                                       started with --agent external (default: the latest live run)

RUN is a run id, a unique prefix of one, or its 4-character suffix; no RUN means the latest.
The verbs live in their own modules: run_cmd (run, demo, opening the UI), show_cmd (ls, show,
report), control_cmd (pause, stop, resume, nudge, approve, veto), check_cmd (check), mcp_server
(mcp); cli_base holds what they share. This module runs in the UI process: it never imports torch & co.
"""

from __future__ import annotations

import argparse
import os
import sys

from agent_core.record.runs import runs_home
from tinker_tui import check_cmd, control_cmd, mcp_server, run_cmd, show_cmd, tasks_cmd
from tinker_tui.cli_base import CliError, resolve
from tinker_tui.run_cmd import DEFAULT_BUDGET, parse_budget

__all__ = ["main", "build_parser", "CliError", "DEFAULT_BUDGET", "parse_budget"]


# -- parser -----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinker-tui", description="Supervise an agent that post-trains a model.")
    p.add_argument("--home", help="runs home (default $TINKER_TUI_HOME or $XDG_DATA_HOME/tinker-tui)")
    p.add_argument("--theme", help="tinker-dark, tinker-light or tinker-high-contrast")
    sub = p.add_subparsers(dest="verb")

    run_cmd.add_run_options(sub.add_parser("run", help="start a supervised run"))
    run_cmd.add_run_options(sub.add_parser("demo", help="the offline demo run"))
    verbs = {
        "attach": "the live run screen (a finished run opens as a replay)",
        "replay": "replay a run in the UI",
        "show": "transcript and summary as text",
        "pause": "pause the agent at its next step boundary",
        "stop": "stop the run",
        "resume": "resume a paused run, or restart one whose daemon died (crash, reboot)",
        "report": "(re)write the run's REPORT.md",
    }
    for verb, text in verbs.items():
        sp = sub.add_parser(verb, help=text)
        sp.add_argument("run", nargs="?", help="run id or prefix (default: the latest)")
        if verb == "show":
            sp.add_argument("--json", action="store_true")
        if verb == "report":
            sp.add_argument("--print", action="store_true", help="also print REPORT.md")
    sub.add_parser("ls", help="list runs")
    check_cmd.add_parser(sub)
    tasks_cmd.add_parser(sub)
    control_cmd.add_parsers(sub)
    mcp_server.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.theme:
        os.environ["TINKER_TUI_THEME"] = args.theme
    try:
        verb = args.verb
        if verb is None:
            return run_cmd.open_ui(args, runs_home(args.home), None, "home")
        if verb in ("run", "demo"):
            if verb == "demo" and args.headless and not (args.approve_flagged or args.veto_flagged):
                # The headless demo is a show piece: settle its one flagged action by vetoing it.
                args.veto_flagged = True
            return run_cmd.cmd_run(args, demo=verb == "demo")
        if verb == "ls":
            return show_cmd.cmd_ls(args)
        if verb == "check":
            return check_cmd.run(args)
        if verb == "tasks":
            return tasks_cmd.run(args)
        if verb == "mcp":
            return mcp_server.cmd_mcp(args)
        if verb == "show":
            return show_cmd.cmd_show(args)
        if verb == "attach":
            run = resolve(args)
            if not run.is_live():
                print(f"run {run.id} is not running; showing its replay", file=sys.stderr)
                return run_cmd.open_ui(args, runs_home(args.home), run, "replay")
            return run_cmd.open_ui(args, runs_home(args.home), run, "attach")
        if verb == "replay":
            return run_cmd.open_ui(args, runs_home(args.home), resolve(args), "replay")
        if verb == "resume":
            return control_cmd.cmd_resume(args)
        if verb == "report":
            return show_cmd.cmd_report(args)
        if verb in ("pause", "resume", "stop"):
            return control_cmd.cmd_control(args, lambda c: getattr(c, verb)())
        if verb == "nudge":
            return control_cmd.cmd_nudge(args)
        if verb in ("approve", "veto"):
            return control_cmd.cmd_decide(args)
    except CliError as exc:
        print(f"tinker-tui: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
