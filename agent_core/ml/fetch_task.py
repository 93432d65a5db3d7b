"""Fetch a pack benchmark's data (agent_core/training/tasks/pack.py) through `datasets` and write
its prepared splits: `python -m agent_core.ml.fetch_task NAME OUT_DIR [--from DIR]`.

The hub dataset goes into the Hugging Face cache (`datasets.load_dataset(id, config, revision)`);
`--from DIR` reads local files in the benchmark's exact hub schema instead, one per hub split
(DIR/<split>.jsonl, .json or .parquet), through the same `datasets` code path. OUT_DIR gets
train.jsonl / dev.jsonl / test.jsonl (prompt/completion rows), tests.jsonl for a code task, and
FETCHED.json: the source (dataset, config, revision, or the local folder), each split's hub
split and row count, each file's sha256, the time. Progress goes to stdout, one line a step;
the last line is the JSON summary. Exit 1 with a one-line reason when it fails.

`tinker-tui tasks fetch` (tinker_tui/tasks_cmd.py) runs this in a subprocess, so the UI process
never imports `datasets`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from agent_core.training.tasks import pack
from agent_core.training.tasks.pack_rows import convert

_LOCAL_KINDS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def say(text: str) -> None:
    print(text, flush=True)


def _local_files(folder: Path, hub_splits: set[str]) -> tuple[str, dict[str, str]]:
    kind, files = None, {}
    for split in sorted(hub_splits):
        found = [folder / f"{split}{ext}" for ext in _LOCAL_KINDS if (folder / f"{split}{ext}").is_file()]
        if not found:
            raise SystemExit(f"--from {folder}: no {split}.jsonl (or .json, .parquet) for the hub split {split!r}")
        ext_kind = _LOCAL_KINDS[found[0].suffix]
        if kind not in (None, ext_kind):
            raise SystemExit(f"--from {folder}: mixed file kinds; use one of jsonl/json or parquet")
        kind, files[split] = ext_kind, str(found[0])
    return str(kind), files


def _revision(dataset_id: str, revision: str | None) -> str | None:
    """The hub commit that was fetched, when the hub says (None offline)."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(dataset_id, revision=revision).sha
    except Exception:  # noqa: BLE001 - offline, gated, an old client: the record says null
        return revision


def load(defn: dict[str, Any], local: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """({hub split: datasets.Dataset}, the source record)."""
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    where = f"pack file {defn['_path']}"
    hub_splits = {pack.hub_split(where, s, t)[0] for s, t in defn["splits"].items()}
    src = defn["source"]
    if local is not None:
        kind, files = _local_files(local, hub_splits)
        say(f"loading {', '.join(sorted(files))} from {local} ({kind}, {src['dataset']}'s schema) through datasets")
        loaded = datasets.load_dataset(kind, data_files=files)
        record = {"dataset": src["dataset"], "config": src.get("config"), "from": str(local), "revision": None}
    else:
        say(f"downloading {src['dataset']} ({src.get('config') or 'default'}) through datasets into the HF cache")
        loaded = datasets.load_dataset(src["dataset"], src.get("config"), revision=src.get("revision"))
        record = {
            "dataset": src["dataset"],
            "config": src.get("config"),
            "revision": _revision(src["dataset"], src.get("revision")),
        }
    missing = hub_splits - set(loaded)
    if missing:
        raise SystemExit(f"{src['dataset']} has no split {', '.join(sorted(missing))} (it has: {', '.join(loaded)})")
    return dict(loaded), record


def _write(path: Path, rows: list[dict]) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for row in rows:
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
            fh.write(line)
            h.update(line)
    return h.hexdigest()


def prepare(name: str, out: Path, local: Path | None = None) -> dict[str, Any]:
    defn = pack.definition(name)
    loaded, source = load(defn, local)
    where = f"pack file {defn['_path']}"
    out.mkdir(parents=True, exist_ok=True)
    splits, files, tests = {}, {}, []
    seen: dict[str, str] = {}
    overlap = 0
    for split in pack.OUR_SPLITS:
        if split not in defn["splits"]:
            continue
        hub, start, stop = pack.hub_split(where, split, defn["splits"][split])
        data = loaded[hub]
        picked = range(len(data))[slice(start, stop)]
        rows = []
        for i in picked:
            try:
                row, test = convert(defn, data[i])
            except ValueError as exc:
                raise SystemExit(f"{hub} row {i}: {exc}") from None
            if row["prompt"] in seen and seen[row["prompt"]] != split:
                overlap += 1
                if overlap <= 5:
                    say(f"note: {split} row {i} has the same prompt as a {seen[row['prompt']]} row")
            seen.setdefault(row["prompt"], split)
            rows.append(row)
            if test is not None:
                tests.append(test)
        if not rows:
            raise SystemExit(f"splits.{split} = {defn['splits'][split]!r} selects no rows")
        fname = f"{split}.jsonl"
        files[fname] = {"sha256": _write(out / fname, rows), "rows": len(rows)}
        splits[split] = {"hub_split": defn["splits"][split], "rows": len(rows), "file": fname}
        say(f"{split}: {len(rows)} rows from {defn['splits'][split]} -> {fname}")
    if overlap:
        say(f"note: {overlap} rows share their prompt with a row of an earlier split (the hub's data as it is)")
    if tests:
        files[pack.TESTS_FILE] = {"sha256": _write(out / pack.TESTS_FILE, tests), "rows": len(tests)}
        say(f"tests: {len(tests)} problems -> {pack.TESTS_FILE}")
    info = {
        "task": name,
        "source": source,
        "splits": splits,
        "files": files,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "datasets_version": __import__("datasets").__version__,
    }
    (out / pack.FETCHED).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent_core.ml.fetch_task")
    ap.add_argument("name")
    ap.add_argument("out_dir")
    ap.add_argument("--from", dest="local", help="a folder of local files in the hub schema, one per hub split")
    args = ap.parse_args(argv)
    try:
        info = prepare(args.name, Path(args.out_dir), Path(args.local).expanduser().resolve() if args.local else None)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(f"fetch failed: {exc.code}", flush=True)
            return 1
        raise
    except Exception as exc:  # noqa: BLE001 - the hub, the network, a bad file: one line, exit 1
        print(f"fetch failed: {type(exc).__name__}: {str(exc)[:500]}", flush=True)
        return 1
    print(json.dumps({"ok": True, "task": args.name, "splits": {k: v["rows"] for k, v in info["splits"].items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
