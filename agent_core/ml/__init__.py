"""Model-side code (imports torch/transformers/trl/peft): run only inside worker subprocesses.

    python -m agent_core.ml.worker SPEC.json      (see agent_core.ml.worker for the protocol)

`agent_core.ml.tiny.build_tiny_model` builds the offline tiny character-level Llama.
"""
