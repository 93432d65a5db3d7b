"""Key-like strings are redacted; ordinary training output is left alone."""
from __future__ import annotations

from agent_core.secrets import find, redact, redact_obj

FAKE = {
    "anthropic": "sk-ant-api03-" + "Q7x" * 15,
    "openai": "sk-proj-" + "aB3dE5" * 6,
    "aws": "AKIA" + "ABCDEFGHIJ234567",
    "github": "ghp_" + "aZ9" * 12,
    "hf": "hf_" + "QwErTy12" * 4,
}


def test_provider_keys_and_assignments_are_redacted():
    for kind, key in FAKE.items():
        out = redact(f"found {key} in the file", env={})
        assert key not in out and "[REDACTED:" in out, kind
    out = redact('config: api_key = "9fK2mQ7xL0pZ4rT8vW1n"\ntoken=Zm9vYmFyYmF6cXV4MTIzNDU2', env={})
    assert "9fK2mQ7xL0pZ4rT8vW1n" not in out and "Zm9vYmFyYmF6cXV4MTIzNDU2" not in out
    assert "api_key" in out and "token=" in out  # the name stays, the value goes
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert "MIIEow" not in redact(pem, env={})


def test_environment_secret_values_are_redacted_wherever_they_appear():
    env = {"MY_SERVICE_TOKEN": "plainwordsecretvalue", "HOME": "/home/u"}
    out = redact("the value plainwordsecretvalue leaked; home /home/u", env=env)
    assert "plainwordsecretvalue" not in out and "[REDACTED:MY_SERVICE_TOKEN]" in out
    assert "/home/u" in out  # not a secret name
    data = {"rows": [{"text": "x plainwordsecretvalue"}], "n": 3}
    assert redact_obj(data, env=env) == {"rows": [{"text": "x [REDACTED:MY_SERVICE_TOKEN]"}], "n": 3}


def test_training_output_is_not_redacted():
    text = ("job1 running, step 40/100, loss 0.8123, lr 0.001, tokens_per_s: 1234.5\n"
            "spec_hash: 3f9a0c1d2e3b4a5968778695a4b3c2d1, path=/runs/r1/checkpoints/job1\n"
            '{"prompt": "12+57=", "completion": "69"} max_new_tokens=16 hidden_size=64')
    assert redact(text, env={}) == text
    assert find(text, env={}) == []
