"""The headless half of tinker-tui: daemon, event log, agents, tools, policy, jobs.

Import rule: nothing under agent_core imports Textual, and nothing that the UI process
imports (events, runs, control, tasks) imports torch, trl, transformers, peft or datasets.
Model work happens in `python -m agent_core.ml.worker` subprocesses only.
"""
