"""The trusted side opens the agent's files without following its symlinks and without a
check-then-open race (agent_core/oversight/safe_fs.py): a symlink to the hidden split, swapped in at any
moment, is never read through and never written through."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent_core.oversight import safe_fs
from agent_core.oversight.safe_fs import UnsafePath

SECRET = '{"prompt": "hidden", "completion": "test item"}\n'


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "test.jsonl").write_text(SECRET)
    ws = tmp_path / "workspace"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "train.jsonl").write_text('{"prompt": "1+1=", "completion": "2"}\n')
    return ws


def test_symlinks_dotdot_and_absolute_paths_are_refused(ws):
    os.symlink("../../hidden/test.jsonl", ws / "data" / "evil.jsonl")
    os.symlink("..", ws / "up")
    os.symlink("data", ws / "alias")  # even one that stays inside
    for rel, why in (
        ("data/evil.jsonl", "symlink"),
        ("up/hidden/test.jsonl", "symlink"),
        ("alias/train.jsonl", "symlink"),
        ("../hidden/test.jsonl", "'..'"),
        (str(ws.parent / "hidden" / "test.jsonl"), "absolute"),
        ("data", "not a regular file"),
    ):
        with pytest.raises(UnsafePath, match=why):
            safe_fs.read_text(ws, rel)
        assert not safe_fs.is_regular(ws, rel)
    with pytest.raises(UnsafePath, match="symlink"):
        safe_fs.write_text(ws, "up/hidden/test.jsonl", "{}")
    assert (ws.parent / "hidden" / "test.jsonl").read_text() == SECRET
    assert safe_fs.read_text(ws, "./data//train.jsonl").startswith('{"prompt": "1+1="')


def test_a_fifo_is_refused_at_once(ws):
    os.mkfifo(ws / "data" / "pipe.jsonl")
    t0 = time.monotonic()
    with pytest.raises(UnsafePath, match="not a regular file"):
        safe_fs.read_bytes(ws, "data/pipe.jsonl")
    assert time.monotonic() - t0 < 10  # opening it for reading would block until a writer came


def test_writing_over_a_symlink_replaces_the_link_not_its_target(ws):
    os.symlink("../../hidden/test.jsonl", ws / "data" / "evil.jsonl")
    safe_fs.write_text(ws, "data/evil.jsonl", "mine\n")
    assert (ws.parent / "hidden" / "test.jsonl").read_text() == SECRET
    assert not (ws / "data" / "evil.jsonl").is_symlink() and safe_fs.read_text(ws, "data/evil.jsonl") == "mine\n"
    safe_fs.write_text(ws, "a/b/c.txt", "deep")  # parents are made
    assert (ws / "a" / "b" / "c.txt").read_text() == "deep"
    with pytest.raises(UnsafePath, match="directory"):
        safe_fs.write_text(ws, "a/b", "x")


def _swapper(ws: Path, stop: threading.Event) -> None:
    """Keep swapping data/x.jsonl between a regular file and a symlink to the hidden split."""
    link, regular = ws / "data" / ".link", ws / "data" / ".regular"
    while not stop.is_set():
        for src in (link, regular):
            if src is link:
                try:
                    os.symlink("../../hidden/test.jsonl", link)
                except FileExistsError:
                    pass
            else:
                regular.write_text("honest\n")
            os.replace(src, ws / "data" / "x.jsonl")


def test_a_symlink_swapped_in_a_tight_loop_is_never_read_or_written_through(ws):
    stop = threading.Event()
    t = threading.Thread(target=_swapper, args=(ws, stop), daemon=True)
    t.start()
    reads = refused = 0
    try:
        # Race until both sides were hit often (GIL scheduling under a loaded suite decides how
        # fast); the cap only bounds a broken swapper.
        deadline = time.monotonic() + 60
        while (reads <= 50 or refused <= 50) and time.monotonic() < deadline:
            try:
                assert safe_fs.read_text(ws, "data/x.jsonl") in ("honest\n", "overwrite\n")
                reads += 1
            except (UnsafePath, FileNotFoundError):
                refused += 1
            try:
                safe_fs.write_text(ws, "data/x.jsonl", "overwrite\n")
            except (UnsafePath, FileNotFoundError):
                pass
    finally:
        stop.set()
        t.join()
    assert reads > 50 and refused > 50  # both sides of the race were hit
    assert (ws.parent / "hidden" / "test.jsonl").read_text() == SECRET


def test_walk_skips_symlinks_and_bundles_are_frozen_read_only(ws):
    os.symlink("../..", ws / "up")
    os.symlink("../../hidden/test.jsonl", ws / "data" / "evil.jsonl")
    (ws / "reward.py").write_text("def reward(p, c, **f):\n    return 1.0\n")
    (ws / "big.bin").write_bytes(b"x" * 5000)
    assert safe_fs.walk_files(ws) == ["big.bin", "data/train.jsonl", "reward.py"]
    assert safe_fs.walk_files(ws, "data") == ["data/train.jsonl"]
    manifest = safe_fs.copy_tree_out(
        ws,
        ws.parent / "bundle",
        max_file_bytes=1000,
        max_total_bytes=10_000,
        exclude=lambda rel: rel.startswith("data/"),
    )
    assert list(manifest["files"]) == ["reward.py"] and manifest["skipped"][0][0] == "big.bin"
    copy = ws.parent / "bundle" / "reward.py"
    assert manifest["files"]["reward.py"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert copy.stat().st_mode & 0o777 == 0o444 and (ws.parent / "bundle").stat().st_mode & 0o777 == 0o555
    same = safe_fs.tree_manifest(
        ws, max_file_bytes=1000, max_total_bytes=10_000, exclude=lambda rel: rel.startswith("data/")
    )
    assert same["sha256"] == manifest["sha256"]
    (ws / "reward.py").write_text("def reward(p, c, **f):\n    return 2.0\n")
    assert (
        safe_fs.tree_manifest(
            ws, max_file_bytes=1000, max_total_bytes=10_000, exclude=lambda rel: rel.startswith("data/")
        )["sha256"]
        != manifest["sha256"]
    )
    dest = ws.parent / "frozen.jsonl"
    sha = safe_fs.copy_out(ws, "data/train.jsonl", dest)
    assert sha == hashlib.sha256(dest.read_bytes()).hexdigest() == safe_fs.digest(ws, "data/train.jsonl")


def test_a_frozen_copy_follows_the_content_even_behind_a_restored_mtime(ws, tmp_path):
    from agent_core.training.workspace import Workspace

    files = Workspace(ws, tmp_path / "frozen")
    first, sha = files.freeze("data/train.jsonl")
    assert files.freeze("data/train.jsonl") == (first, sha)  # unchanged: the same copy
    st = os.stat(ws / "data" / "train.jsonl")
    (ws / "data" / "train.jsonl").write_text('{"prompt": "hidden", "completion": "test item"}\n')
    os.utime(ws / "data" / "train.jsonl", ns=(st.st_atime_ns, st.st_mtime_ns))
    second, sha2 = files.freeze("data/train.jsonl")
    assert sha2 != sha and second.read_text() == '{"prompt": "hidden", "completion": "test item"}\n'
    assert first.read_text().startswith('{"prompt": "1+1="') and first.stat().st_mode & 0o777 == 0o444


def test_a_fifo_swapped_in_for_a_directory_never_hangs_a_walk(tmp_path):
    ws = tmp_path / "ws"
    (ws / "realdir").mkdir(parents=True)
    os.mkfifo(ws / "fifo")
    for i in range(200):
        (ws / "realdir" / f"f{i}").write_text("")
    stop = threading.Event()

    def swap():
        a, b = ws / ".a", ws / ".b"
        while not stop.is_set():
            for src, target in ((a, "realdir"), (b, "fifo")):
                try:
                    os.symlink(target, src)
                except FileExistsError:
                    pass
                os.replace(src, ws / "zz")

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    n, t0 = 0, time.monotonic()
    try:
        while n <= 50 and time.monotonic() - t0 < 60:  # until the swaps were met often
            assert all(not p.startswith("zz") for p in safe_fs.walk_files(ws))
            n += 1
    finally:
        stop.set()
        t.join()
    assert n > 50


def test_a_very_deep_tree_is_walked_without_failing(tmp_path):
    deep = tmp_path / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    (deep / "top.txt").write_text("x")
    try:
        assert safe_fs.walk_files(deep) == ["top.txt"]
    finally:  # rm -r: pytest's own clean-up recurses
        subprocess.run(["rm", "-rf", str(deep)], check=True)


def test_a_file_growing_after_its_size_check_is_skipped_not_copied_whole(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reward.py").write_bytes(b"x" * 100)
    real = safe_fs._copy_fd

    def racing(fd, dest, limit=None):
        with open(ws / "reward.py", "ab") as f:
            f.write(b"y" * 5_000_000)
        return real(fd, dest, limit)

    monkeypatch.setattr(safe_fs, "_copy_fd", racing)
    m = safe_fs.copy_tree_out(ws, tmp_path / "b", max_file_bytes=1000, max_total_bytes=2000)
    assert m["files"] == {} and m["skipped"][0][0] == "reward.py" and not (tmp_path / "b" / "reward.py").exists()


def test_a_backslash_name_is_its_own_file_and_no_way_around_an_exclude(tmp_path):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "train.jsonl").write_text("TRAIN\n")
    (ws / "data\\train.jsonl").write_text("decoy\n")
    m = safe_fs.copy_tree_out(
        ws, tmp_path / "b", max_file_bytes=10**6, max_total_bytes=10**6, exclude=lambda rel: rel.startswith("data/")
    )
    assert (tmp_path / "b" / "data\\train.jsonl").read_text() == "decoy\n" and "data/train.jsonl" not in m["files"]


def test_a_fifo_opened_for_writing_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "p")
    with pytest.raises(UnsafePath, match="not a regular file"):
        safe_fs.open_beneath(tmp_path, "p", os.O_WRONLY)
