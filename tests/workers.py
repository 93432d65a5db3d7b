"""Running the model worker (`python -m agent_core.ml.worker SPEC.json`) from tests, and the tiny
model size the worker tests share (smaller than the demo's)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SMALL = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
}


def spec_file(tmp: Path, spec: dict) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"spec-{spec['mode']}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    return path


def parse_lines(stdout: str) -> list[dict]:
    events = []
    for line in stdout.splitlines():
        obj = json.loads(line)  # stdout must hold JSON lines only
        assert isinstance(obj, dict) and "event" in obj, line
        events.append(obj)
    return events


def run_worker(tmp: Path, spec: dict, timeout: float = 120) -> tuple[int, list[dict], str]:
    proc = subprocess.run(
        [PY, "-m", "agent_core.ml.worker", str(spec_file(tmp, spec))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, parse_lines(proc.stdout), proc.stderr


def result_of(events: list[dict]) -> dict:
    results = [e for e in events if e["event"] == "result"]
    assert len(results) == 1, events[-3:]
    return results[0]


def error_of(events: list[dict]) -> dict:
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1, events[-3:]
    assert not [e for e in events if e["event"] == "result"]
    return errors[0]
