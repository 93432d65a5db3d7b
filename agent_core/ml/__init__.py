"""Model-side code (imports torch/transformers/trl/peft): run only inside worker subprocesses.

    python -m agent_core.ml.worker SPEC.json      (the spec: agent_core.training.spec; the
                                                   stdout protocol: agent_core.ml.protocol)

`agent_core.ml.tiny.build_tiny_model` builds the offline tiny character-level Llama.
"""
