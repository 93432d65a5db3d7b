"""Opening the agent's files from the trusted side: beneath a workspace directory descriptor,
one path component at a time, never following a symlink, with no check-then-open race.

Every function takes the workspace `root` and a path `rel` the agent named. `rel` may not be
absolute and may not contain `..`; each directory on the way is opened with
O_DIRECTORY|O_NOFOLLOW relative to the one before, and the last component with O_NOFOLLOW
(reads also with O_NONBLOCK, so a FIFO cannot hang the daemon, then fstat: regular files only).
A symlink anywhere on the path is refused, even one that points inside the workspace: swapping a
component for a symlink between a check and an open gains nothing, because there is no
separate check. Writes go to a new file (O_CREAT|O_EXCL|O_NOFOLLOW) in the final directory,
then `rename` over the name: a symlink at that name is replaced, its target never touched.

What it does not do: hard links. A hard link to an outside file would be followed; the fence
(agent_core/oversight/fence.py) is what makes that impossible, since the agent's code never sees an
outside file to link to.

    read_bytes(root, "data/train.jsonl")          # UnsafePath for a symlink, '..', a FIFO ...
    write_text(root, "notes/plan.md", text)       # parents made one by one, without following
    walk_files(root, "data")                      # regular files, relative to root; no symlinks
    copy_out(root, rel, dest) -> sha256           # a frozen copy for training / evaluation
    copy_tree_out(root, dest, ...) -> manifest    # a frozen reward bundle, read-only
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Callable

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
MAX_DEPTH = 64  # walk_files goes no deeper (a 3000-deep tree raised RecursionError)


class UnsafePath(ValueError):
    """A path the trusted side will not open; the message says why."""


def _parts(rel: str) -> list[str]:
    rel = str(rel)
    if not rel or "\0" in rel:
        raise UnsafePath(f"{rel!r}: not a path")
    if os.path.isabs(rel):
        raise UnsafePath(f"{rel!r}: an absolute path; paths are relative to the workspace")
    parts = [p for p in rel.split("/") if p not in ("", ".")]  # a backslash is a name character on POSIX
    if ".." in parts:
        raise UnsafePath(f"{rel!r}: '..' is not allowed; paths stay inside the workspace")
    return parts


def _open_dir(root: Path, parts: list[str], rel: str, create: bool = False) -> int:
    """An fd of the directory reached by `parts` beneath root (created when `create`)."""
    fd = os.open(root, _DIR)
    try:
        for i, name in enumerate(parts):
            try:
                nxt = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nxt = _open_component(name, fd, rel, i, parts)
            except (NotADirectoryError, OSError) as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                nxt = _open_component(name, fd, rel, i, parts)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_component(name: str, dfd: int, rel: str, i: int, parts: list[str]) -> int:
    try:
        return os.open(name, _DIR, dir_fd=dfd)
    except OSError:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            raise UnsafePath(f"{rel!r}: {'/'.join(parts[: i + 1])} cannot be opened ({exc.strerror})") from None
        what = "a symlink (symlinks are not followed)" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise UnsafePath(f"{rel!r}: {'/'.join(parts[: i + 1])} is {what}") from None


def open_beneath(root: str | os.PathLike[str], rel: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """An fd for `rel` beneath `root`: no symlink followed, no '..', regular files only for reads."""
    parts = _parts(rel)
    if not parts:
        raise UnsafePath(f"{rel!r}: names the workspace itself, not a file")
    dfd = _open_dir(Path(root), parts[:-1], rel, create=bool(flags & os.O_CREAT))
    try:
        try:  # O_NONBLOCK: a FIFO opened for reading or writing would block
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: FreeBSD's answer to O_NOFOLLOW
                raise UnsafePath(f"{rel!r} is a symlink (symlinks are not followed)") from None
            if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
                raise UnsafePath(f"{rel!r} is not a regular file") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafePath(f"{rel!r} is not a regular file")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        os.close(dfd)


def read_bytes(root, rel: str, limit: int | None = None) -> bytes:
    fd = open_beneath(root, rel)
    with os.fdopen(fd, "rb") as fh:
        return fh.read() if limit is None else fh.read(limit)


def read_text(root, rel: str, limit: int | None = None) -> str:
    return read_bytes(root, rel, limit).decode("utf-8", "replace")


def write_text(root, rel: str, text: str) -> None:
    """Write `text` to `rel` (parents made as needed): a new file renamed over the name, so a
    symlink there is replaced and its target never written."""
    parts = _parts(rel)
    if not parts:
        raise UnsafePath(f"{rel!r}: names the workspace itself, not a file")
    dfd = _open_dir(Path(root), parts[:-1], rel, create=True)
    try:
        try:
            st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{rel!r} is a directory")
        except FileNotFoundError:
            pass
        tmp = f".{parts[-1]}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.rename(tmp, parts[-1], src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dfd)


def is_regular(root, rel: str) -> bool:
    """True when `rel` is a regular file reachable without following a symlink."""
    try:
        os.close(open_beneath(root, rel))
        return True
    except (UnsafePath, OSError):
        return False


def is_dir(root, rel: str) -> bool:
    try:
        os.close(_open_dir(Path(root), _parts(rel), rel))
        return True
    except (UnsafePath, OSError):
        return False


def walk_files(root, rel: str = ".") -> list[str]:
    """Regular files under `rel`, as paths relative to `root`; symlinks are skipped and never
    descended into, nor is anything deeper than MAX_DEPTH. Not os.fwalk: it opens a subdirectory
    by name with plain O_RDONLY, so a FIFO swapped in for a directory symlink hangs it."""
    parts = _parts(rel) if rel not in ("", ".") else []
    out: list[str] = []

    def walk(dfd: int, prefix: str, depth: int) -> None:
        with os.scandir(dfd) as it:
            entries = list(it)
        for entry in entries:
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append(path)
            elif stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
                try:  # swapped for a symlink or a FIFO since: ELOOP / ENOTDIR, never opened
                    sub = os.open(entry.name, _DIR | os.O_NONBLOCK, dir_fd=dfd)
                except OSError:
                    continue
                try:
                    walk(sub, path, depth + 1)
                finally:
                    os.close(sub)

    dfd = _open_dir(Path(root), parts, rel)
    try:
        walk(dfd, "/".join(parts), 0)
    finally:
        os.close(dfd)
    return sorted(out)


def _copy_fd(fd: int, dest: str | os.PathLike[str], limit: int | None = None) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as src, open(dest, "wb") as out:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            n += len(chunk)
            if limit is not None and n > limit:
                raise UnsafePath(f"larger than {limit} bytes")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest(), n


def copy_out(root, rel: str, dest: str | os.PathLike[str]) -> str:
    """Copy a workspace file (opened safely) to a trusted `dest`; return its sha256."""
    return copy_fd(open_beneath(root, rel), dest)


def copy_fd(fd: int, dest: str | os.PathLike[str]) -> str:
    """Copy what an fd from open_beneath() holds to `dest` (the fd is closed); return its sha256."""
    return _copy_fd(fd, dest)[0]


def digest(root, rel: str) -> str:
    h = hashlib.sha256()
    with os.fdopen(open_beneath(root, rel), "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _bundle_hash(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def _tree(root, dest: Path | None, max_file_bytes: int, max_total_bytes: int, exclude: Callable[[str], bool]) -> dict:
    files: dict[str, str] = {}
    skipped: list[list[str]] = []
    total = 0
    for rel in walk_files(root):
        if exclude(rel):
            continue
        try:
            fd = open_beneath(root, rel)
        except (UnsafePath, OSError) as exc:
            skipped.append([rel, str(exc)])
            continue
        size = os.fstat(fd).st_size
        if size > max_file_bytes or total + size > max_total_bytes:
            os.close(fd)
            skipped.append([rel, f"{size} bytes: over the {'file' if size > max_file_bytes else 'bundle'} limit"])
            continue
        cap = min(max_file_bytes, max_total_bytes - total)  # it may grow after fstat
        target = os.devnull if dest is None else dest / rel
        if dest is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            files[rel], n = _copy_fd(fd, target, cap)
        except UnsafePath:
            if dest is not None:
                target.unlink(missing_ok=True)
            skipped.append([rel, f"grew past the limit of {cap} bytes while being copied"])
            continue
        if dest is not None:
            os.chmod(target, 0o444)
        total += n
    if dest is not None:
        for d in sorted({p for p in dest.rglob("*") if p.is_dir()} | {dest}, key=lambda p: -len(p.parts)):
            os.chmod(d, 0o555)
    return {"files": files, "skipped": skipped, "sha256": _bundle_hash(files)}


def tree_manifest(
    root, *, max_file_bytes: int, max_total_bytes: int, exclude: Callable[[str], bool] = lambda rel: False
) -> dict:
    """{"files": {rel: sha256}, "skipped": [[rel, why]], "sha256"} of the regular files under root."""
    return _tree(root, None, max_file_bytes, max_total_bytes, exclude)


def copy_tree_out(
    root,
    dest: str | os.PathLike[str],
    *,
    max_file_bytes: int,
    max_total_bytes: int,
    exclude: Callable[[str], bool] = lambda rel: False,
) -> dict:
    """Snapshot the regular files under root into a new `dest` (files 0444, folders 0555) and
    return the manifest (as tree_manifest)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    return _tree(root, dest, max_file_bytes, max_total_bytes, exclude)
