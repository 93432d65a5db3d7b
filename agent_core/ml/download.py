"""`python -m agent_core.ml.download SPEC.json`: fetch an outside dataset into the workspace.

Runs only after a person approved the `outside_download`. Speaks the worker's JSON-lines
protocol: one `result` line ({"rows", "fields", "path"}) or one `error` line and exit 1.
SPEC: {"source": "owner/name[:split]", "out": path.jsonl, "max_rows": 100000}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    source, _, split = str(spec["source"]).partition(":")
    out, max_rows = Path(spec["out"]), int(spec.get("max_rows", 100_000))
    try:
        import datasets

        ds = datasets.load_dataset(source, split=split or "train", streaming=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        rows, fields = 0, set()
        with open(out, "w", encoding="utf-8") as fh:
            for row in ds:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                fields.update(row)
                rows += 1
                if rows >= max_rows:
                    break
    except Exception as exc:  # offline, unknown dataset, auth, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        emit({"event": "error", "kind": "download", "message": first[:300], "step": None})
        return 1
    emit({"event": "result", "rows": rows, "fields": sorted(fields), "path": str(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
