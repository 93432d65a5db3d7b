"""Training from the daemon's side (no torch here): `jobs` (worker subprocesses and their
events), `tasks` (built-in and file tasks, scorers), `base_models`, the agent's `workspace`
(frozen datasets and reward bundles) and `failures` (messages a person can act on)."""
