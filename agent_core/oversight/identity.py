"""Model identity: does a model folder descend from the run's base model?

Cheap and torch-free (the daemon calls it): a fingerprint is the config's architecture fields,
a hash of the tokenizer's vocabulary, and the weight tensors' names and shapes read from the
safetensors headers (8-byte length + JSON; no weights are loaded). A swapped model of another
family differs in config or shapes; an edited config (another architecture name to get a
different chat template) differs from the weights' own shapes or from the base.

`lineage_problem(ckpt, base, checkpoints, run_id)` walks a checkpoint's lineage.json chain
(written by agent_core.ml.worker: base_model, parent, run, ...) back to "base": a missing
lineage, a parent that is neither "base" nor a checkpoint of this run, or a fingerprint that
differs from the base is a reason to refuse the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

CONFIG_FIELDS = (
    "model_type",
    "architectures",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "head_dim",
    "tie_word_embeddings",
)
MAX_HEADER = 64 << 20


class IdentityError(ValueError):
    pass


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IdentityError(f"cannot read {path.name} in {path.parent}: {exc}") from exc
    if not isinstance(data, dict):
        raise IdentityError(f"{path} is not a JSON object")
    return data


def config_fields(folder: Path) -> dict:
    cfg = _read_json(Path(folder) / "config.json")
    return {k: cfg[k] for k in CONFIG_FIELDS if k in cfg}


def vocab_hash(folder: Path) -> str | None:
    """sha256 of the tokenizer's vocabulary (token -> id), or of the vocab files; None if none."""
    folder = Path(folder)
    tok = folder / "tokenizer.json"
    h = hashlib.sha256()
    if tok.is_file():
        data = _read_json(tok)
        vocab = (data.get("model") or {}).get("vocab")
        added = sorted((a.get("id"), a.get("content")) for a in data.get("added_tokens") or [] if isinstance(a, dict))
        h.update(json.dumps([sorted(vocab.items()) if isinstance(vocab, dict) else vocab, added], default=str).encode())
        return h.hexdigest()
    found = False
    for name in ("vocab.json", "merges.txt", "tokenizer.model", "vocab.txt"):
        p = folder / name
        if p.is_file():
            found = True
            h.update(name.encode() + p.read_bytes())
    return h.hexdigest() if found else None


def _header(path: Path) -> dict:
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise IdentityError(f"{path.name} is not a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER:
            raise IdentityError(f"{path.name} has an implausible header ({n} bytes)")
        try:
            return json.loads(fh.read(n))
        except ValueError as exc:
            raise IdentityError(f"{path.name} has a corrupt header") from exc


def weight_shapes(folder: Path) -> dict[str, list[int]] | None:
    """{tensor name: shape} over the folder's safetensors files; None when there are none."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, list[int]] = {}
    for f in files:
        for name, meta in _header(f).items():
            if name != "__metadata__" and isinstance(meta, dict):
                shapes[name] = list(meta.get("shape") or [])
    return shapes


def fingerprint(folder: Path) -> dict:
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise IdentityError(f"{folder} has no config.json: not a model folder")
    return {"config": config_fields(folder), "vocab": vocab_hash(folder), "shapes": weight_shapes(folder)}


def differences(base: Path, other: Path) -> list[str]:
    """Human-readable differences between two model folders' fingerprints ([] if they match)."""
    a, b = fingerprint(base), fingerprint(other)
    out = []
    for key in sorted(set(a["config"]) | set(b["config"])):
        if a["config"].get(key) != b["config"].get(key):
            out.append(f"config {key}: base {a['config'].get(key)!r}, this {b['config'].get(key)!r}")
    if a["vocab"] != b["vocab"]:
        out.append("the tokenizer's vocabulary differs from the base's")
    sa, sb = a["shapes"], b["shapes"]
    if sa is not None and sb is not None:
        # Merged LoRA and full fine-tunes keep every base tensor with its shape.
        changed = [n for n in sa if n in sb and sa[n] != sb[n]]
        missing = [n for n in sa if n not in sb]
        if changed:
            out.append(
                f"{len(changed)} weight tensor(s) have other shapes than the base's, e.g. "
                f"{changed[0]} {sb[changed[0]]} vs {sa[changed[0]]}"
            )
        if missing:
            out.append(f"{len(missing)} of the base's weight tensors are missing, e.g. {missing[0]}")
    elif sa is not None and sb is None:
        out.append("no safetensors weights to compare with the base")
    return out


def read_lineage(ckpt: Path) -> dict | None:
    p = Path(ckpt) / "lineage.json"
    if not p.is_file():
        return None
    try:
        return _read_json(p)
    except IdentityError:
        return None


def lineage_problem(
    ckpt: Path, base: Path | None, checkpoints: dict[str, Path], run_id: str | None = None, _depth: int = 0
) -> str | None:
    """Why `ckpt` does not descend from the base (None when it does)."""
    ckpt = Path(ckpt)
    lin = read_lineage(ckpt)
    if lin is None:
        return f"{ckpt.name} has no readable lineage.json: nothing shows it was trained from the base"
    if run_id and lin.get("run") not in (None, run_id):
        return f"{ckpt.name} was trained in another run ({lin.get('run')})"
    parent = lin.get("parent")
    if parent not in (None, "base"):
        if parent not in checkpoints or _depth > 20:
            return f"{ckpt.name} was trained from {parent!r}, which is neither the base nor a checkpoint of this run"
        problem = lineage_problem(checkpoints[parent], base, checkpoints, run_id, _depth + 1)
        if problem:
            return f"its parent {parent}: {problem}"
    if base is not None and (Path(base) / "config.json").is_file():
        try:
            diff = differences(Path(base), ckpt)
        except IdentityError as exc:
            return str(exc)
        if diff:
            return f"{ckpt.name} does not match the base model: " + "; ".join(diff[:3])
    return None
