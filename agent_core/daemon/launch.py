"""Create a run and start its daemon detached from the terminal (a new session)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from agent_core.agents import AGENT_KINDS, AGENT_USAGE
from agent_core.record.runs import RunDir, new_run


class LaunchError(RuntimeError):
    pass


def parse_budget(text: str | None) -> float | None:
    """'30m', '10h', '1h30m', '90s' or plain seconds -> seconds; '' or 'none' -> None."""
    from agent_core.oversight.budget import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(str(exc).replace("bad duration", "bad budget", 1)) from None


def build_config(
    task: str = "arithmetic",
    model: str = "tiny",
    agent: str = "playbook",
    budget: str | None = "30m",
    approval_auto: str | None = None,
    approval: str | None = None,
    policy_file: str | None = None,
    home: Path | None = None,
    demo: bool = False,
    base_url: str | None = None,
    gpu_hours: str | float | None = None,
    max_tokens: str | int | None = None,
    max_usd: str | float | None = None,
    budget_grace: str | None = None,
    unsafe_no_sandbox: bool = False,
) -> dict:
    """Validate what a person asked for and return run.json's content; ValueError if bad.
    Budgets (agent_core/oversight/budget.py): budget = wall clock ('30m'), gpu_hours ('1.5'), max_tokens
    ('2M'), max_usd ('20'), budget_grace (the time after 100% before the hard stop, '5m')."""
    kind, _, arg = agent.partition(":")
    if kind not in AGENT_KINDS:
        raise ValueError(f"unknown agent {agent!r}: use {AGENT_USAGE}")
    if kind == "external" and arg:
        raise ValueError("--agent external takes no argument (connect any MCP client with `tinker-tui mcp RUN`)")
    if kind == "script":
        from agent_core.agents.script import load_script

        load_script(arg)  # ScriptError (a ValueError) names the bad step
        agent = "script:" + str(Path(arg).expanduser().resolve())
    if kind in ("anthropic", "openai"):
        from agent_core.agents.llm import preflight

        preflight(agent, base_url)  # a known kind and a key in the environment (never stored)
    elif kind == "claude-code":
        from agent_core.agents.claude_code_setup import preflight as cc_preflight

        cc_preflight(agent, base_url)  # the SDK installed, a key or login token in the environment
    elif base_url:
        raise ValueError("--base-url is only for --agent openai[:MODEL] or claude-code[:MODEL]")
    from agent_core.training.base_models import resolve

    resolve(model, Path("."))  # ValueError now, not in the daemon: unknown model, missing wheel
    if model != "tiny" and Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    if task.endswith(".toml") and Path(task).expanduser().exists():
        task = str(Path(task).expanduser().resolve())
    from agent_core.training import tasks

    if tasks.is_pack_task(task):  # its data must be fetched: ValueError says what to run
        from agent_core.record.runs import runs_home

        tasks.get_task(task, home=runs_home(home))
    cfg = {"task": task, "model": model, "agent": agent, "budget_s": parse_budget(budget)}
    from agent_core.oversight.budget import parse_count, parse_positive

    for key, value in (
        ("budget_gpu_h", parse_positive(gpu_hours, "--gpu-hours")),
        ("budget_tokens", parse_count(max_tokens)),
        ("budget_usd", parse_positive(max_usd, "--max-usd")),
        ("budget_grace_s", parse_budget(budget_grace)),
    ):
        if value is not None:
            cfg[key] = value
    if base_url:
        cfg["base_url"] = base_url
    if approval_auto:
        cfg["approval_auto"] = approval_auto
    # The effective policy: <home>/policy.toml, then --policy FILE, then --approval (PolicyError
    # is a ValueError naming the file and line).
    from agent_core.oversight.policy_file import build as build_policy
    from agent_core.record.runs import runs_home

    cfg["policy"] = build_policy(runs_home(home), policy_file, approval).to_json()
    if policy_file:
        cfg["policy_file"] = str(Path(policy_file).expanduser().resolve())
    if demo:
        cfg["demo"] = True
    if unsafe_no_sandbox:  # shown in the run header, the log and the report
        cfg["unsafe_no_sandbox"] = True
    else:
        from agent_core.oversight import fence

        ok, why = fence.available()
        if not ok:
            raise ValueError(f"cannot start a run: {why}")
    return cfg


def start_daemon(run: RunDir, wait_s: float = 30.0, resume: bool = False) -> int:
    """Start `python -m agent_core.daemon RUN [--resume]` in its own session; wait for its socket
    (from then on `run.is_live()` is true until the daemon ends)."""
    log = open(run.daemon_log, "ab")
    env = dict(os.environ)
    # The daemon must find agent_core even when tinker-tui runs from a source checkout.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_core.daemon", str(run.path)] + (["--resume"] if resume else []),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        close_fds=True,
        env=env,
        cwd=str(run.path),
    )
    log.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if run.socket_path.exists():  # the daemon wrote its pid file first: the run reads as live
            return proc.pid
        if proc.poll() == 0:  # it already did all there was to do (a resumed run that was stopping)
            return proc.pid
        if proc.poll() is not None:
            tail = run.daemon_log.read_text(errors="replace")[-800:]
            raise LaunchError(f"the daemon exited at start (code {proc.returncode}):\n{tail}")
        time.sleep(0.05)
    raise LaunchError(f"the daemon did not open its control socket within {wait_s:.0f}s; see {run.daemon_log}")


def launch(home: Path, config: dict) -> RunDir:
    run = new_run(home, config)
    if config.get("policy_file"):  # the run keeps its own copy of the file it was started with
        import shutil

        shutil.copyfile(config["policy_file"], run.path / "policy.toml")
    start_daemon(run)
    return run


def resume_run(run_dir: str | os.PathLike[str] | RunDir) -> RunDir:
    """Start a new daemon on a run whose daemon is gone (agent_core/daemon/resume.py). Raises
    LaunchError with the reason when the run is alive, has ended, or the daemon fails to start."""
    from agent_core.daemon.resume import ResumeError, check_resumable

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir).absolute())
    try:
        check_resumable(run)
    except ResumeError as exc:
        raise LaunchError(str(exc)) from exc
    cfg = run.config()
    if not cfg.get("unsafe_no_sandbox"):
        from agent_core.oversight import fence

        ok, why = fence.available()
        if not ok:
            raise LaunchError(f"cannot resume: {why}")
    agent = str(cfg.get("agent") or "playbook")
    if agent.partition(":")[0] in ("anthropic", "openai", "claude-code"):
        from agent_core.agents.claude_code_setup import preflight as cc_preflight
        from agent_core.agents.llm import preflight

        check = cc_preflight if agent.startswith("claude-code") else preflight
        try:
            check(agent, cfg.get("base_url"))  # the key must be in this environment again
        except ValueError as exc:
            raise LaunchError(str(exc)) from exc
    for stale in (run.socket_path, run.pid_path):  # left by the dead daemon
        try:
            stale.unlink()
        except OSError:
            pass
    start_daemon(run, resume=True)
    return run
