"""Key-like strings are redacted; ordinary training output is left alone."""

from __future__ import annotations

import base64

from agent_core.record.secrets import find, redact, redact_obj

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
    text = (
        "job1 running, step 40/100, loss 0.8123, lr 0.001, tokens_per_s: 1234.5\n"
        "spec_hash: 3f9a0c1d2e3b4a5968778695a4b3c2d1, path=/runs/r1/checkpoints/job1\n"
        '{"prompt": "12+57=", "completion": "69"} max_new_tokens=16 hidden_size=64'
    )
    assert redact(text, env={}) == text
    assert find(text, env={}) == []


# -- the daemon's own secret values, also when encoded ------------------------------------------
SECRET = "Zk7~~~>?Qp2x-Lm9R4tW8vB1nC6y"  # encodes with '+' and '/' in base64 (so url-safe differs)
ENV = {"MY_API_KEY": SECRET, "HOME": "/home/u", "PATH": "/usr/bin:/bin"}
MARK_B64 = "[REDACTED:MY_API_KEY:base64]"


def test_env_secret_in_base64_at_every_alignment_is_redacted_whole():
    for prefix in ("", "K", "KE", "KEY=", "MY_KEY=", "export MY_API_KEY="):  # offsets 0..2 (mod 3)
        raw = (prefix + SECRET + "\n").encode()
        std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
        assert std != url, "the test secret must exercise the url-safe alphabet"
        for blob in (std, url):
            assert redact(f"blob: {blob} end", env=ENV) == f"blob: {MARK_B64} end", (prefix, blob)
    # wrapped at 76 columns, as `base64` and base64.encodebytes print it
    wrapped = base64.encodebytes(("x" * 50 + "TOKEN=" + SECRET + "y" * 40).encode()).decode()
    assert "\n" in wrapped.strip()
    out = redact(wrapped, env=ENV)
    assert "[REDACTED:MY_API_KEY:base64]" in out and len(out.replace("\n", "")) < 100


def test_env_secret_in_hex_reversed_and_split_forms_is_redacted():
    forms = {
        "hex": SECRET.encode().hex(),
        "HEX": SECRET.encode().hex().upper(),
        "reversed": SECRET[::-1],
        "pieces": "\n".join(SECRET[i : i + 10] for i in range(0, len(SECRET), 10)),
        "spaced": " ".join(SECRET),
        "tabbed hex": "\t".join(SECRET.encode().hex()[i : i + 8] for i in range(0, 2 * len(SECRET), 8)),
    }
    for label, form in forms.items():
        out = redact(f"printed:\n{form}\n-- done", env=ENV)
        assert out.startswith("printed:\n[REDACTED:MY_API_KEY") and out.endswith("]\n-- done"), (label, out)
        assert find(f"x {form} y", env=ENV), label
    assert redact(f"a {SECRET} b", env=ENV) == "a [REDACTED:MY_API_KEY] b"


def test_ordinary_text_around_an_encoded_secret_is_left_alone():
    ordinary = (
        "step 40/100 loss 0.8123 lr 0.001 path=/runs/r1/checkpoints/job1\n"
        "The quick brown fox jumps over the lazy dog; 12+57=69, 3.14159 26535 89793.\n"
        '{"job": "job1", "step": 3, "values": {"loss": 1.23, "learning_rate": 0.001}}\n'
        "sha256 3f9a0c1d2e3b4a5968778695a4b3c2d1 blob aGVsbG8gd29ybGQ= /home/u /usr/bin:/bin\n"
        f"half of the key: {SECRET[:12]} and {SECRET[-12:]} and {SECRET.encode().hex()[:20]}\n"
    )
    leak = base64.b64encode(("KEY=" + SECRET).encode()).decode()
    out = redact(ordinary + f"leak {leak}\n", env=ENV)
    assert out == ordinary + f"leak {MARK_B64}\n"  # a prefix or half of the secret is not the secret
    assert find(ordinary, env=ENV) == []


def test_providers_use_the_one_redactor(monkeypatch):
    """The providers' redaction is this module's: their key (also encoded) and every pattern here."""
    from agent_core.agents import providers
    from agent_core.record import secrets as secrets_mod

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    key = "prov1der-Key-" + "Qz8" * 8  # not shaped like any known key: only the exact value finds it
    p = providers.Provider("m")
    p._secrets = [key]
    for leaked in (key, base64.b64encode(key.encode()).decode(), key[::-1]):
        assert leaked not in p.redact(f"401: bad key {leaked}"), leaked
        assert leaked not in providers.redact(f"401: bad key {leaked}", [key]), leaked
    for kind in ("aws", "github", "hf"):  # patterns the providers' own regex never knew
        assert FAKE[kind] not in providers.redact(f"echo {FAKE[kind]}") and FAKE[kind] not in p.redact(FAKE[kind])
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"
    assert "b3BlbnNzaC1rZXk" not in providers.redact(pem)
    # what only the providers knew (a short or masked sk- key in an API error) is now the one redactor's
    masked = "Incorrect API key provided: sk-proj-AbC1****xyz9"
    assert "AbC1" not in secrets_mod.redact(masked, env={}) and "AbC1" not in providers.redact(masked)
