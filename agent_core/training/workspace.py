"""The agent's workspace, as the trusted side sees it: every path the agent names is resolved
beneath the workspace without following a symlink (agent_core/oversight/safe_fs.py), and what training,
evaluation and rewards read is a FROZEN copy the daemon made and hashed, never a live path the
agent can still change.

    ws = Workspace(run.workspace, run.path / "frozen")
    ws.datasets()                 # {"train": "data/train.jsonl", ...}: regular files only
    ws.dataset_rel("train")       # "data/train.jsonl" or None
    path, sha = ws.freeze("data/train.jsonl")   # <run>/frozen/<sha>.jsonl, read-only
    manifest = ws.bundle_manifest()             # what a GRPO reward would see, hashed
    manifest = ws.freeze_bundle(dest)           # ... copied read-only into dest

A reward bundle is every regular file of the workspace except its datasets (data/, frozen per
job on their own) and NOTES.md, files over BUNDLE_FILE_BYTES and anything past
BUNDLE_TOTAL_BYTES (listed as skipped in the manifest).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from agent_core.oversight import safe_fs

BUNDLE_FILE_BYTES = 16 << 20
BUNDLE_TOTAL_BYTES = 256 << 20


def _not_in_bundle(rel: str) -> bool:
    return rel == "NOTES.md" or rel.startswith("data/")


class Workspace:
    def __init__(self, root: Path, frozen_dir: Path, task: str = ""):
        self.root = Path(root)
        self.frozen_dir = Path(frozen_dir)
        self.task = task  # a dataset may be named with the task's prefix ("arithmetic/train")
        # (device, inode, size, mtime, ctime) of a file already frozen -> (copy, sha256): the gate
        # and the tool freeze the same file; ctime changes with every write (and every utime),
        # so a file changed behind a restored mtime is copied again
        self._frozen: dict[tuple, tuple[Path, str]] = {}

    # -- datasets ---------------------------------------------------------------
    def datasets(self) -> dict[str, str]:
        """{name: relative path} of the jsonl files in data/ (symlinks are not datasets)."""
        if not safe_fs.is_dir(self.root, "data"):
            return {}
        found = {}
        for rel in sorted(safe_fs.walk_files(self.root, "data")):
            if rel.count("/") == 1 and rel.endswith(".jsonl"):
                found[Path(rel).stem] = rel
        return found

    def dataset_paths(self) -> dict[str, Path]:
        """{name: absolute path} of the datasets."""
        return {name: self.root / rel for name, rel in self.datasets().items()}

    def dataset_path(self, name: str) -> Path | None:
        rel = self.dataset_rel(name)
        return None if rel is None else self.root / rel

    def frozen_dataset(self, name: str) -> tuple[Path, str] | None:
        """(read-only copy, sha256) of a dataset, made now: what jobs, evaluations and checks read."""
        rel = self.dataset_rel(name)
        return None if rel is None else self.freeze(rel)

    def dataset_rel(self, name: str, task: str | None = None) -> str | None:
        """A dataset by name ("train"), task-prefixed name, or a workspace .jsonl path."""
        task = self.task if task is None else task
        name = str(name).strip()
        known = self.datasets()
        for key in (
            name,
            name.removeprefix(f"{task}/") if task else None,
            Path(name).stem if name.endswith(".jsonl") else None,
        ):
            if key and key in known and (not name.endswith(".jsonl") or known[key] == name.lstrip("./")):
                return known[key]
        if name.endswith(".jsonl"):
            try:
                if safe_fs.is_regular(self.root, name):
                    return os.path.normpath(name)
            except safe_fs.UnsafePath:
                return None
        return None

    def freeze(self, rel: str) -> tuple[Path, str]:
        """A read-only, content-addressed copy of a workspace file: (path, sha256)."""
        self.frozen_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        src = safe_fs.open_beneath(self.root, rel)
        st = os.fstat(src)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._frozen.get(key)
        if known is not None and known[0].exists():
            os.close(src)
            return known
        fd, tmp = tempfile.mkstemp(dir=self.frozen_dir, suffix=".part")
        os.close(fd)
        try:
            sha = safe_fs.copy_fd(src, tmp)
            dest = self.frozen_dir / f"{sha}{Path(rel).suffix}"
            if dest.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o444)
                os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._frozen[key] = (dest, sha)
        return dest, sha

    # -- reward bundles -----------------------------------------------------------
    def bundle_manifest(self) -> dict:
        """{"files": {rel: sha256}, "skipped": [[rel, why]], "sha256": ...} of the reward bundle
        the workspace would give now (nothing is copied)."""
        return safe_fs.tree_manifest(
            self.root, max_file_bytes=BUNDLE_FILE_BYTES, max_total_bytes=BUNDLE_TOTAL_BYTES, exclude=_not_in_bundle
        )

    def freeze_bundle(self, dest: Path) -> dict:
        """Copy the reward bundle into `dest` (read-only files) and return its manifest."""
        return safe_fs.copy_tree_out(
            self.root,
            dest,
            max_file_bytes=BUNDLE_FILE_BYTES,
            max_total_bytes=BUNDLE_TOTAL_BYTES,
            exclude=_not_in_bundle,
        )
