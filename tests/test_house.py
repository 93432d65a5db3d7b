"""The house rules a newcomer relies on: every source file is placed in docs/ARCHITECTURE.md and
stays under 500 lines (tests and bench scripts too), and the packages import each other without cycles."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent_core", "tinker_tui", "screens", "themes")
MAX_LINES = 500


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_source_file_is_placed_in_the_architecture_page():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", doc))
    missing = [
        str(p.relative_to(ROOT)) for p in _sources() if p.stem not in ("__init__", "__main__") and p.stem not in words
    ]
    folders = {p.parent.relative_to(ROOT).as_posix() for p in _sources()} - set(PACKAGES)
    unnamed = [f for f in sorted(folders) if f.split("/")[-1] not in words and "fenced" not in f]
    assert not missing, f"files docs/ARCHITECTURE.md does not place: {missing}"
    assert not unnamed, f"folders docs/ARCHITECTURE.md does not name: {unnamed}"


def test_no_source_file_is_over_500_lines():
    files = _sources() + sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    big = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these by what they hold: {big}"


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)  # annotations only
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"
