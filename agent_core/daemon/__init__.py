"""The supervisor daemon and what starts, resumes and closes a run: `supervisor` (one per run:
the agent loop, the gate, the control socket's server, the harness), `launch` (a new run, a
detached daemon), `resume` (a run whose daemon died), `host` (CPU/GPU sampling), `report`
(REPORT.md) and `memory` (the ledger across runs). `python -m agent_core.daemon RUN_DIR`."""
