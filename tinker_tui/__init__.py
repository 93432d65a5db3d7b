"""tinker-tui: the supervisor's seat for an agent that post-trains a language model."""

__version__ = "0.1.0"
