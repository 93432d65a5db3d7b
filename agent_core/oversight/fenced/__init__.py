"""Files that run INSIDE the fence (agent_core/oversight/fence.py), bound read-only at /opt/tinker-tui.

Standard library only: the project itself is not importable in the sandbox.
    site/sitecustomize.py  reports (and refuses) network use and package installs, so the daemon can
                       raise a `network` alert; the fence, not this hook, is what blocks them
    reward_runner.py   the GRPO reward loop: JSON lines in and out, the reward imported inside
"""
