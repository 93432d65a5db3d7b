"""The import rules: statically (import-linter contracts in pyproject.toml, run by `make check`
and here), and at run time (what the UI process and the daemon really load).

    agent_core never imports Textual; the UI process (tinker_tui, screens, themes) and the
    daemon never import torch, trl, transformers, peft or datasets; what runs inside the
    sandbox (agent_core/fenced) is standard library only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest_ui import ROOT, make_run, sample_events

LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("agent_core", "tinker_tui", "screens", "themes")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_the_contracts_hold_and_a_broken_one_fails(tmp_path):
    ok = _lint(ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 broken" in ok.stdout
    # a copy of the project where a screen imports the model worker (and so torch) breaks one
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "screens" / "shortcut.py").write_text("from agent_core.ml.worker import main\n")
    bad = _lint(tmp_path)
    assert bad.returncode != 0
    assert "The UI process never imports torch" in bad.stdout and "BROKEN" in bad.stdout
    assert "screens.shortcut -> agent_core.ml.worker" in bad.stdout


def test_the_daemon_loads_no_ml_library():
    code = (
        "import sys, agent_core.daemon.supervisor, agent_core.agents.tools, agent_core.oversight.sandbox, agent_core.oversight.fence; "
        "bad = [m for m in ('torch', 'trl', 'transformers', 'peft', 'datasets', 'textual') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ui_never_imports_ml_libraries(tmp_path):
    run = make_run(tmp_path, "r1", sample_events())
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        FORBIDDEN = ("torch", "trl", "transformers", "peft", "datasets")
        attempted = []
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in FORBIDDEN:
                    attempted.append(name)
                    raise ImportError("blocked in the UI process: " + name)
                return None
        sys.meta_path.insert(0, Block())
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
        from pathlib import Path
        from agent_core.record.runs import RunDir
        import tinker_tui.app as appmod
        from conftest_ui import wait_for
        run = RunDir(Path({str(run.path)!r}))
        def shown(app, mode):  # the run in the table; its events on the run screen
            if mode == "home":
                tables = app.screen.query("DataTable")
                return bool(tables) and tables.first().row_count == 1
            view = getattr(app.screen, "view", None)
            return view is not None and view.count > 0 and (mode == "replay" or app.screen.daemon_alive is not None)
        async def main():
            for mode in ("home", "attach", "replay"):
                app = appmod.TinkerApp(home=Path({str(tmp_path)!r}), run=run, mode=mode)
                async with app.run_test() as pilot:
                    await wait_for(pilot, lambda: shown(app, mode), 20, what=mode)
        asyncio.run(main())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        print(json.dumps({{"attempted": attempted, "loaded": loaded}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"attempted": [], "loaded": []}
