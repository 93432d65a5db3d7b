"""The Claude Code CLI's fence, without the CLI: the environment it gets is built from scratch (the
launcher passes on only the names it is given), its home lives in the run, and `run --agent
claude-code` is refused with a clear line when the SDK or a credential is missing."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from conftest import cli

from agent_core.agents import claude_code_setup as setup

KEY = "sk-ant-test-DO-NOT-LEAK-0c1d"


def test_the_launcher_passes_on_only_the_names_it_was_given(tmp_path):
    """The SDK merges options.env over the daemon's whole environment; the launcher (`env -i`)
    drops everything else, so a daemon secret never reaches the CLI."""
    dirs = setup.agent_dirs(tmp_path / "run")
    env = setup.build_env(dirs, "http://127.0.0.1:9", environ={"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": KEY})
    launcher = setup.write_launcher(dirs, list(env), "/usr/bin/env")  # "the CLI" prints its environment
    merged = {**os.environ, "OPENAI_API_KEY": "sk-daemon-only-1234", "HF_TOKEN": "hf_daemon_only", **env}
    merged["CLAUDE_AGENT_SDK_VERSION"] = "9.9"  # one the SDK itself sets
    run = subprocess.run([str(launcher)], env=merged, cwd=dirs["cwd"], capture_output=True, text=True, check=True)
    seen = dict(line.split("=", 1) for line in run.stdout.splitlines())
    assert seen == {**env, "CLAUDE_AGENT_SDK_VERSION": "9.9", "PWD": str(dirs["cwd"])}
    assert (
        seen["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9" and seen["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    )
    assert KEY not in launcher.read_text(), "the launcher holds names, never values"


def test_the_agent_home_is_private_and_absolute(tmp_path):
    dirs = setup.agent_dirs(tmp_path / "run")
    assert all(p.is_absolute() and p.is_dir() for p in dirs.values())
    assert stat.S_IMODE(dirs["home"].stat().st_mode) == 0o700
    env = setup.build_env(dirs, environ={"CLAUDE_CODE_OAUTH_TOKEN": " tok-123456 ", "HOME": "/root"})
    assert env["HOME"] == str(dirs["home"]) and env["CLAUDE_CONFIG_DIR"].startswith(str(dirs["home"]))
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == "tok-123456" and "ANTHROPIC_API_KEY" not in env


def test_preflight_names_the_missing_piece():
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        setup.preflight("claude-code", environ={"PATH": "/usr/bin"})
    setup.preflight("claude-code:claude-opus-4", environ={"ANTHROPIC_AUTH_TOKEN": "x"})


def test_run_without_the_sdk_or_a_key_is_refused_with_a_clear_line(home, monkeypatch):
    for name in setup.CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    proc = cli(home, "run", "--agent", "claude-code", "--detach", check=False)
    assert proc.returncode != 0 and "ANTHROPIC_API_KEY" in proc.stderr and not (home / "runs").exists()
    # Without the SDK: the install line (and the key check comes after it).
    monkeypatch.setattr(setup, "sdk_installed", lambda: False)
    with pytest.raises(ValueError, match=r"pip install 'tinker-tui\[claude-code\]' \(or `make claude-code`\)"):
        setup.preflight("claude-code", environ={"ANTHROPIC_API_KEY": "k"})
