"""How the Claude Code CLI is fenced when it is the supervised agent (agents/claude_code.py).

- No built-in tool: `tools=[]` (the CLI's `--tools ""`); the model is offered only our post-training
  tools, served in-process as an SDK MCP server, and a Bash / Read / Write call it invents is
  answered "No such tool available" by the CLI itself.
- No settings, no other MCP server: `setting_sources=[]`, `strict_mcp_config=True`.
- A throwaway home inside the run (RUN/agent_home, mode 0700): HOME, the CLI's config dir (its
  session transcripts, for resume), TMPDIR and its working directory, all absolute paths.
- An environment built from scratch: the SDK merges `options.env` over the daemon's whole
  environment, so the CLI is started through a launcher script (`env -i`) that passes on only the
  names listed here (PATH, the home, the credential, the base URL, the no-traffic flags) and the
  few the SDK sets itself (entry point, version, session-state frames, PWD).
- Prompts go verbatim (`verbatim_prompts`): no `@file` expansion, no slash commands; thinking off.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
from pathlib import Path

from agent_core.agents.providers import DEFAULT_MODELS

SERVER = "tinker"  # the MCP server's key: the model sees our tools as mcp__tinker__<tool>
DEFAULT_MODEL = DEFAULT_MODELS["anthropic"]
CREDENTIAL_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
# Without these the CLI reaches the vendor's hosts (telemetry, updates, error reports) even with a
# base URL set; with them it talks only to the model endpoint.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_EMIT_SESSION_STATE_EVENTS": "1",  # "idle": the conversation has no turn left
}
# Set by the SDK's transport on top of options.env; the launcher lets them through.
SDK_ENV = ("CLAUDE_CODE_ENTRYPOINT", "CLAUDE_AGENT_SDK_VERSION", "CLAUDE_CODE_SDK_READS_SESSION_STATE", "PWD")
INSTALL_HINT = "pip install 'tinker-tui[claude-code]' (or `make claude-code`)"


def sdk_installed() -> bool:
    return importlib.util.find_spec("claude_agent_sdk") is not None


def preflight(spec: str, base_url: str | None = None, environ: dict | None = None) -> None:
    """Cheap check before a daemon starts (no SDK import, no network): the SDK is installed and a
    key or login token is in the environment (never stored in the run). ValueError otherwise."""
    env = os.environ if environ is None else environ
    if not sdk_installed():
        raise ValueError(f"--agent claude-code needs the Claude Agent SDK: {INSTALL_HINT}")
    if not any((env.get(name) or "").strip() for name in CREDENTIAL_ENV):
        raise ValueError(
            "--agent claude-code needs a key or a login token in the environment: set ANTHROPIC_API_KEY "
            "(or ANTHROPIC_AUTH_TOKEN, or CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`)"
        )


def agent_dirs(run_path: Path) -> dict[str, Path]:
    """RUN/agent_home (0700): the CLI's HOME, config dir, TMPDIR and working directory."""
    home = (Path(run_path) / "agent_home").absolute()
    dirs = {"home": home, "config": home / ".claude", "tmp": home / "tmp", "cwd": home / "work"}
    for path in dirs.values():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    return dirs


def build_env(dirs: dict[str, Path], base_url: str | None = None, environ: dict | None = None) -> dict[str, str]:
    """The CLI's whole environment, from scratch (not merged over the daemon's)."""
    src = os.environ if environ is None else environ
    env = {
        "PATH": src.get("PATH") or "/usr/bin:/bin",
        "HOME": str(dirs["home"]),
        "CLAUDE_CONFIG_DIR": str(dirs["config"]),
        "TMPDIR": str(dirs["tmp"]),
        **QUIET_ENV,
    }
    for name in CREDENTIAL_ENV:
        if (src.get(name) or "").strip():
            env[name] = src[name].strip()
    url = base_url or src.get(BASE_URL_ENV)
    if url:
        env[BASE_URL_ENV] = url
    return env


def find_cli() -> str:
    """The CLI the SDK bundles, else `claude` on PATH."""
    import claude_agent_sdk

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("claude")
    if not found:
        raise ValueError(
            f"the Claude Code CLI was not found (neither bundled with the SDK nor on PATH): {INSTALL_HINT}"
        )
    return found


def write_launcher(dirs: dict[str, Path], names: list[str], cli: str) -> Path:
    """A shell script that runs the CLI with only `names` from its environment (`env -i`); it holds
    names, never values."""
    keep = " ".join(f'${{{n}+"{n}=${n}"}}' for n in sorted(set(names) | set(SDK_ENV)) if n.isidentifier())
    env_bin = shutil.which("env") or "/usr/bin/env"
    path = dirs["home"] / "claude-launcher.sh"
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(env_bin)} -i {keep} {shlex.quote(cli)} "$@"\n')
    path.chmod(0o700)
    return path


def build_options(
    *,
    dirs: dict[str, Path],
    env: dict[str, str],
    server,
    tool_names: list[str],
    system_prompt: str,
    model: str,
    resume: str | None = None,
    cli: str | None = None,
    stderr=None,
):
    from claude_agent_sdk import ClaudeAgentOptions

    launcher = write_launcher(dirs, list(env), cli or find_cli())
    return ClaudeAgentOptions(
        tools=[],
        allowed_tools=[f"mcp__{SERVER}__{name}" for name in tool_names],
        mcp_servers={SERVER: server},
        strict_mcp_config=True,
        setting_sources=[],
        system_prompt=system_prompt,
        model=model,
        cwd=str(dirs["cwd"]),
        env=env,
        cli_path=str(launcher),
        verbatim_prompts=True,
        thinking={"type": "disabled"},
        include_partial_messages=True,  # the stream's usage, for the budget during a long turn
        resume=resume,
        stderr=stderr,
    )
