"""The task pack: real benchmarks (GSM8K, HumanEval, MMLU), each defined by a TOML file in
`pack/` (docs/TASKS.md, "The task pack"): its hub dataset, how hub splits become our dev, train and
hidden test splits, how a hub row becomes a prompt/completion row (rows.py), the scorer, the
generation settings and a suggested base model. Pure Python.

A pack task's data is fetched once, explicitly, by `tinker-tui tasks fetch NAME` (which runs
`python -m agent_core.ml.fetch_task`, the only place `datasets` is imported): the prepared splits
land in `<home>/tasks/NAME/` with a FETCHED.json (source, revision, row counts, sha256 of each
file, time). From then on the task works offline; before, `pack_task` says what to run.

    PACK                                  # ("gsm8k", "humaneval", "mmlu")
    definition("gsm8k") -> dict           # the pack file, validated
    fetched(home, "gsm8k") -> dict | None # FETCHED.json when the data is there and intact
    pack_task("gsm8k", home) -> Task      # ValueError: "run `tinker-tui tasks fetch gsm8k`"
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from agent_core.training.tasks.scorers import scorer_fields
from agent_core.training.tasks.task import Task

PACK_DIR = Path(__file__).resolve().parent / "pack"
PACK = tuple(sorted(p.stem for p in PACK_DIR.glob("*.toml")))
FETCHED = "FETCHED.json"
TESTS_FILE = "tests.jsonl"  # a code task's tests, next to its splits
SHAPES = ("qa", "choice", "code")
OUR_SPLITS = ("train", "dev", "test")
_KEYS = {"name", "description", "base_model", "budget", "shape", "template", "source", "splits", "fields", "scorer"}
_KEYS |= {"generation"}
_SPLIT = re.compile(r"^(?P<split>[A-Za-z0-9_.-]+)(?:\[(?P<start>-?\d+)?:(?P<stop>-?\d+)?\])?$")
_GENERATION = {"max_new_tokens": int, "stop": list, "temperature": float, "top_p": float}


def tasks_home(home: str | Path) -> Path:
    """Where fetched pack tasks live: <home>/tasks."""
    return Path(home) / "tasks"


def fetch_hint(name: str) -> str:
    return f"run `tinker-tui tasks fetch {name}`"


def definition(name: str) -> dict[str, Any]:
    """The pack file of `name`, parsed and checked (ValueError names the file and the problem)."""
    path = PACK_DIR / f"{name}.toml"
    if name not in PACK or not path.is_file():
        raise ValueError(f"no pack task {name!r} (the pack has: {', '.join(PACK)})")
    where = f"pack file {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where} is not valid TOML: {exc}") from None
    extra = set(data) - _KEYS
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)} (known: {sorted(_KEYS)})")
    for key in ("name", "description", "base_model", "shape"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{where}: missing {key!r} (a non-empty string)")
    if data["name"] != name:
        raise ValueError(f"{where}: name {data['name']!r} is not the file's name {name!r}")
    if data["shape"] not in SHAPES:
        raise ValueError(f"{where}: shape must be one of {', '.join(SHAPES)}, not {data['shape']!r}")
    source = data.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("dataset"), str):
        raise ValueError(f'{where}: [source] needs dataset = "owner/name" (and config, revision if any)')
    splits = data.get("splits")
    if not isinstance(splits, dict) or not {"dev", "test"} <= set(splits) or set(splits) - set(OUR_SPLITS):
        raise ValueError(f'{where}: [splits] needs dev and test (train optional), each "hub_split[start:stop]"')
    for split, text in splits.items():
        hub_split(where, split, text)
    if not isinstance(data.get("fields"), dict):
        raise ValueError(f"{where}: missing [fields] (how a hub row becomes a prompt and a completion)")
    gen = data.get("generation", {})
    for key, value in gen.items():
        want = _GENERATION.get(key)
        if (
            want is None
            or not isinstance(value, want if want is not float else (int, float))
            or isinstance(value, bool)
        ):
            raise ValueError(f"{where}: generation.{key} = {value!r} (known: {', '.join(_GENERATION)})")
    if data.get("template") is not None and not isinstance(data["template"], str):
        raise ValueError(f"{where}: template must be a string (omit it for the model's chat template)")
    data["_path"] = str(path)
    return data


def hub_split(where: str, split: str, text: Any) -> tuple[str, int | None, int | None]:
    """'train[-200:]' -> ("train", -200, None): a hub split and a Python slice of its rows."""
    m = _SPLIT.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f'{where}: splits.{split} = {text!r}; expected "hub_split" or "hub_split[start:stop]"')
    start, stop = m.group("start"), m.group("stop")
    return m.group("split"), int(start) if start else None, int(stop) if stop else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetched(home: str | Path, name: str) -> dict[str, Any] | None:
    """FETCHED.json of `name` under the runs home when its data is there; None when never fetched.
    ValueError when it is there but a file is missing or changed since (fetch it again)."""
    folder = tasks_home(home) / name
    record = folder / FETCHED
    if not record.is_file():
        return None
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        files = info["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{record} is unreadable: {fetch_hint(name)} --force") from None
    for fname, meta in files.items():
        path = folder / fname
        if not path.is_file() or _sha256(path) != meta.get("sha256"):
            raise ValueError(f"{path} is missing or changed since it was fetched: {fetch_hint(name)} --force")
    return info


def pack_task(name: str, home: str | Path) -> Task:
    """The Task of pack benchmark `name`, its splits the fetched files under <home>/tasks/NAME."""
    from agent_core.oversight.budget import parse_duration

    data = definition(name)
    folder = tasks_home(home) / name
    info = fetched(home, name)
    if info is None:
        raise ValueError(
            f"task {name!r} is not fetched yet: {fetch_hint(name)} (it downloads "
            f"{data['source']['dataset']} through `datasets` and prepares its splits in {folder})"
        )
    counts = {split: int(meta.get("rows", 0)) for split, meta in info.get("splits", {}).items()}
    splits = {split: str(folder / f"{split}.jsonl") for split in OUR_SPLITS if split in counts}
    scorer = dict(data.get("scorer") or {"kind": "exact"})
    if scorer.get("kind") == "code":
        scorer["tests"] = TESTS_FILE
    fields = scorer_fields(f"pack task {name}", folder, scorer)
    return Task(
        name=name,
        description=data["description"].strip(),
        base_model=data["base_model"],
        level=0,
        n_train=counts.get("train", 0),
        n_dev=counts.get("dev", 0),
        n_test=counts.get("test", 0),
        seed=0,
        budget_s=parse_duration(data["budget"]) if data.get("budget") else None,
        data=splits,
        source=data["_path"],
        template=data.get("template"),
        generation=dict(data.get("generation", {})),
        **fields,
    )
