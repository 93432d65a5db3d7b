"""The run's hidden folder (`<run>/hidden/`): the test split, a python scorer, the secret seed.

No sandbox ever sees it (agent_core/oversight/fence.py mounts only the workspace). Its content is fixed
when the run starts: `digests()` hashes it, the daemon logs the hashes in a `hidden_installed`
event, and `verify()` checks them before every scoring and on resume (a resumed run never
re-installs from the task's source files, which may have changed).

    secret = new_secret(hidden_dir)        # a generated task's test split is drawn with it
    hashes = digests(hidden_dir)           # {"test_sha256": ..., "scorer_sha256": ...}
    problem = verify(hidden_dir, hashes)   # None, or what changed
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from agent_core.record.events import read_events

FILES = {"test_sha256": "test.jsonl", "scorer_sha256": "scorer.py", "code_tests_sha256": "code_tests.jsonl"}
SEED_FILE = "seed"


def new_secret(hidden_dir: Path) -> str:
    """A fresh secret seed for this run, kept (owner-only) in its hidden folder."""
    hidden_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    fd = os.open(hidden_dir / SEED_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def _sha256(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def digests(hidden_dir: Path) -> dict[str, str]:
    """sha256 of each hidden file that exists (the test split; the scorer when there is one)."""
    out = {}
    for key, name in FILES.items():
        digest = _sha256(Path(hidden_dir) / name)
        if digest:
            out[key] = digest
    return out


def logged_digests(events_path: Path) -> dict[str, str]:
    """The hashes the run logged when it installed its hidden folder ({} for an older run)."""
    for ev in read_events(events_path):
        if ev.get("type") == "hidden_installed":
            return {k: str(ev[k]) for k in FILES if k in ev}
    return {}


def verify(hidden_dir: Path, expected: dict[str, str]) -> str | None:
    """None when every hashed hidden file is unchanged, else a sentence naming what changed."""
    now = digests(hidden_dir)
    changed = [FILES[k] for k, v in expected.items() if now.get(k) != v]
    if changed:
        return (
            f"the hidden {' and '.join(changed)} changed since the run installed "
            f"{'it' if len(changed) == 1 else 'them'} (sha256 mismatch)"
        )
    return None
