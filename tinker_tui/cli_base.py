"""What the CLI's verb modules share: `CliError` (a message for the person; exit status 2)
and resolving a RUN argument (a run id, a unique prefix of one, its 4-character suffix, or
none: the latest)."""

from __future__ import annotations

from agent_core.record.runs import RunDir, RunNotFound, resolve_run, runs_home

__all__ = ["CliError", "resolve", "looks_like_run"]


class CliError(Exception):
    pass


def resolve(args) -> RunDir:
    """The run `args.run` names (the latest when None)."""
    try:
        return resolve_run(runs_home(args.home), getattr(args, "run", None))
    except RunNotFound as exc:
        raise CliError(str(exc)) from exc


def looks_like_run(args, ref: str) -> bool:
    try:
        resolve_run(runs_home(args.home), ref)
        return True
    except RunNotFound:
        return False
