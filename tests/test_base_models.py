"""Where a base model comes from: tiny, a local folder, the smollm2 GGUF (optional extra), a hub
id from the local cache, and a hub id that is not cached (an outside_download to approve)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent_core.training import base_models
from agent_core.training.base_models import resolve
from conftest import ROOT, cli, events_of, write_script

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


def fake_hub_cache(cache, repo_id: str) -> None:
    """A Hugging Face cache holding `repo_id` as the tiny model (the layout huggingface_hub reads)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    code = (
        "from agent_core.ml.tiny import build_tiny_model;"
        f"build_tiny_model({str(snapshot)!r}, seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=1)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)


def test_resolve_names_each_source_and_refuses_what_cannot_be_used(tmp_path, monkeypatch):
    monkeypatch.delenv(base_models.MODELS_ENV)
    run = tmp_path / "run"
    assert resolve("tiny", run).kind == "tiny" and resolve("tiny", run).path == run / "base_model"
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        resolve(str(folder), run)
    (folder / "config.json").write_text("{}")
    assert resolve(str(folder), run).kind == "local" and resolve(str(folder), run).path == folder
    with pytest.raises(ValueError, match="not 'tiny'"):
        resolve("no such model", run)
    monkeypatch.setattr(base_models, "cached_hub_snapshot", lambda repo: None)
    src = resolve("someorg/some-model", run)
    assert (src.kind, src.built_here) == ("download", True)
    assert src.build_spec() == {
        "mode": "build_base",
        "out_dir": str(run / "base_model"),
        "seed": 0,
        "hub_id": "someorg/some-model",
    }
    monkeypatch.setattr(base_models, "smollm2_gguf", lambda: None)
    with pytest.raises(ValueError, match="make smollm2"):
        resolve("smollm2-135m", run)
    # the CLI refuses before it starts a daemon
    proc = cli(tmp_path / "home", "run", "--model", "no such model", "--headless", check=False)
    assert proc.returncode != 0 and "not 'tiny'" in proc.stderr + proc.stdout


def test_uncached_hub_model_waits_for_approval_and_a_veto_fails_the_run(home, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    agent = write_script(tmp_path / "s.json", [{"say": "never reached"}])
    proc = cli(
        home,
        "run",
        "--model",
        "someorg/instruct-model",
        "--agent",
        agent,
        "--headless",
        "--veto-flagged",
        check=False,
        timeout=120,
    )
    [run] = list((home / "runs").iterdir())
    events = events_of(run)
    [req] = [e for e in events if e["type"] == "approval_request"]
    assert req["rule"] == "outside_download" and req["details"]["source"] == "someorg/instruct-model"
    final = [e for e in events if e["type"] == "run_state"][-1]
    assert final["state"] == "failed" and "vetoed" in final["reason"], (final, proc.stdout[-800:])
    assert not any(e["type"] == "agent_message" for e in events), "the agent never started"


def test_cached_hub_model_is_used_offline(home, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "someorg/tiny-cached")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    agent = write_script(tmp_path / "s.json", [{"tool": "evaluate", "args": {"checkpoint": "base", "limit": 4}}])
    cli(home, "run", "--model", "someorg/tiny-cached", "--agent", agent, "--headless", timeout=180)
    [run] = list((home / "runs").iterdir())
    events = events_of(run)
    assert not any(e["type"] == "approval_request" for e in events)
    [result] = [e for e in events if e["type"] == "tool_result"]
    assert result["ok"], result["summary"]
    assert not (run / "base_model").exists(), "the cached snapshot is used in place"


def test_smollm2_is_converted_once_per_runs_home(tmp_path, monkeypatch):
    monkeypatch.delenv(base_models.MODELS_ENV)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(base_models, "smollm2_gguf", lambda: gguf)
    home = tmp_path / "home"
    first, second = (resolve("smollm2-135m", home / "runs" / run) for run in ("r1", "r2"))
    assert first.path == second.path == home / "models" / "smollm2-135m"
    # each run builds into its own staging folder, then renames it into place
    assert first.staging != second.staging and first.staging.parent == home / "models"
    assert first.build_spec()["out_dir"] == str(first.staging) and first.build_spec()["gguf"] == str(gguf)
    for source, text in ((first, "first"), (second, "second")):
        source.staging.mkdir(parents=True)
        (source.staging / "config.json").write_text(text)
    first.publish()
    second.publish()  # built at the same time: the first one stays, the second copy goes
    assert (first.path / "config.json").read_text() == "first"
    assert sorted(p.name for p in (home / "models").iterdir()) == ["smollm2-135m"]
    # a failed build leaves nothing behind; a run folder outside a runs home builds in place
    third = resolve("smollm2-135m", home / "runs" / "r3")
    third.staging.mkdir()
    third.discard()
    assert sorted(p.name for p in (home / "models").iterdir()) == ["smollm2-135m"]
    assert resolve("smollm2-135m", tmp_path / "loose").path == tmp_path / "loose" / "base_model"


def test_tiny_is_built_once_per_models_folder_which_several_homes_can_share(tmp_path, monkeypatch):
    monkeypatch.delenv(base_models.MODELS_ENV)
    home = tmp_path / "home"
    tiny = resolve("tiny", home / "runs" / "r1")
    assert tiny.path == home / "models" / "tiny" and tiny.staging.parent == home / "models"
    assert tiny.build_spec() == {"mode": "build_base", "out_dir": str(tiny.staging), "seed": 0}
    # $TINKER_TUI_MODELS: one folder for every runs home (and for a run folder outside one)
    monkeypatch.setenv(base_models.MODELS_ENV, str(tmp_path / "models"))
    for run in (home / "runs" / "r2", tmp_path / "other-home" / "runs" / "r1", tmp_path / "loose"):
        assert resolve("tiny", run).path == tmp_path / "models" / "tiny"


def test_a_second_tiny_run_uses_the_model_the_first_one_built(home, tmp_path, monkeypatch):
    monkeypatch.delenv(base_models.MODELS_ENV)
    agent = write_script(tmp_path / "s.json", [{"tool": "evaluate", "args": {"checkpoint": "base", "split": "dev"}}])
    for _ in range(2):
        cli(home, "run", "--agent", agent, "--headless", timeout=180)
    runs = sorted((home / "runs").iterdir())
    built = [run for run in runs if (run / "jobs" / "build-base.json").exists()]
    assert len(runs) == 2 and built == runs[:1], "the second run found the tiny model in <home>/models"
    assert (home / "models" / "tiny" / "config.json").is_file()
    assert not [p for p in (home / "models").iterdir() if p.name != "tiny"], "no staging folder is left"
