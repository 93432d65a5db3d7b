"""Marker strings that one module writes and another recognises (in the LLM agent's conversation and the run's log).

Each marker has this one home; the writer and the reader both import it.

- SUPERVISOR_PREFIX: starts a message from the person (written by agents/llm.py; the context
  budget, agents/context.py, recognises it in the turns it summarizes).
- AUTO_MARK: starts an automatic message of tinker-tui (llm.py's prompt to call a tool;
  context.py reads it as "no tool called").
- CLOCK_MARK: starts llm.py's clock lines (the system prompt names it to the model).
- DIGEST_MARK: starts the summary message that replaces older turns (context.py).
- NOTE_PREFIX: starts tinker-tui's own lines among the agent's messages (llm.py's notes, the
  daemon's "run paused by policy"); daemon/resume.py leaves them out of the agent's transcript.
- POLICY_DENIED, PERSON_VETOED (DENIED_PREFIXES): start the summary of a call the policy denied or
  the person vetoed (written by agent_core/daemon/supervisor.py; read back from the log by
  llm.py's and daemon/resume.py's restore, to mark the outcome denied).
- ALERT_MARK, ALERT_SEP, ALERT_PIECE: how the daemon appends watchdog alerts to a tool's
  summary (agent_core/daemon/supervisor.py: `summary + ALERT_MARK + ALERT_SEP.join(pieces)`,
  each piece `"{rule} ({severity}): {message}"`), and how the findings log takes them apart
  (agents/findings.py).
"""

from __future__ import annotations

import re

SUPERVISOR_PREFIX = "[Message from the human supervisor]"
AUTO_MARK = "[Automatic message from tinker-tui]"
CLOCK_MARK = "[tinker-tui clock]"
DIGEST_MARK = "[tinker-tui context]"
NOTE_PREFIX = "(tinker-tui)"
POLICY_DENIED = "denied by policy"
PERSON_VETOED = "vetoed by the person"
DENIED_PREFIXES = (POLICY_DENIED, PERSON_VETOED)
ALERT_MARK = " | WATCHDOG ALERTS: "
ALERT_SEP = " ; "
ALERT_PIECE = re.compile(r"([\w.-]+) \((\w+)\): (.*)", re.S)  # rule, severity, message
