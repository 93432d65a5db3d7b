"""The marker strings of the LLM agent's conversation: written by one module, recognised by another.

Each marker has this one home; the writer and the reader both import it.

- SUPERVISOR_PREFIX: starts a message from the person (written by agents/llm.py; the context
  budget, agents/context.py, recognises it in the turns it summarizes).
- AUTO_MARK: starts an automatic message of tinker-tui (llm.py's prompt to call a tool;
  context.py reads it as "no tool called").
- CLOCK_MARK: starts llm.py's clock lines (the system prompt names it to the model).
- DIGEST_MARK: starts the summary message that replaces older turns (context.py).
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
ALERT_MARK = " | WATCHDOG ALERTS: "
ALERT_SEP = " ; "
ALERT_PIECE = re.compile(r"([\w.-]+) \((\w+)\): (.*)", re.S)  # rule, severity, message
