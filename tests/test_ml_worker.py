"""The model worker (`python -m agent_core.ml.worker SPEC.json`) run as a real subprocess on the
tiny offline model, plus the built-in arithmetic task.

Everything here runs on CPU in well under the time budget: a tiny model (a smaller size than the
demo's for the protocol tests) and a handful of optimizer steps per job. The demo recipe test
runs the real DEMO_TASK recipe end to end (build base, evaluate, train, evaluate).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from agent_core.training import tasks

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals

from workers import PY, ROOT, SMALL, error_of, parse_lines, result_of, run_worker, spec_file


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlw")


@pytest.fixture(scope="module")
def data(work) -> dict[str, Path]:
    task = tasks.arithmetic_task(2, seed=5, n_train=256, n_dev=32, n_test=64)
    return tasks.materialize(task, work / "data")


@pytest.fixture(scope="module")
def base(work) -> Path:
    out = work / "base"
    rc, events, err = run_worker(work, {"mode": "build_base", "out_dir": str(out), "seed": 0, "size": SMALL})
    assert rc == 0, err[-2000:]
    res = result_of(events)
    assert res["path"] == str(out)
    assert 10_000 < res["params"] < 2_000_000
    return out


def _train_spec(base: Path, data: dict, out: Path, **over) -> dict:
    spec = {
        "mode": "train",
        "method": "sft",
        "base_model": str(base),
        "dataset": str(data["train"]),
        "output_dir": str(out),
        "lora": False,
        "learning_rate": 3e-3,
        "max_steps": 6,
        "per_device_train_batch_size": 16,
        "seed": 0,
        "lineage": {"job": "t"},
    }
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def full_run(work, base, data):
    out = work / "ck-full"
    rc, events, err = run_worker(work, _train_spec(base, data, out))
    assert rc == 0, err[-2000:]
    return out, events


# ---------------------------------------------------------------- build_base


def test_build_base_is_loadable_and_deterministic(work, base):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (base / name).is_file(), name
    again = work / "base-again"
    probe = (
        "from transformers import AutoTokenizer, AutoModelForCausalLM;"
        "from agent_core.ml.tiny import build_tiny_model;"
        f"build_tiny_model({str(again)!r}, seed=0, **{SMALL!r});"
        f"t=AutoTokenizer.from_pretrained({str(base)!r});"
        f"m=AutoModelForCausalLM.from_pretrained({str(base)!r});"
        "ids=t('12+7=19')['input_ids'];assert ids[0]==t.bos_token_id and len(ids)==8, ids;"
        "assert t.decode(ids, skip_special_tokens=True)=='12+7=19';"
        "assert t.convert_ids_to_tokens(t('a b', add_special_tokens=False)['input_ids'])==['a',' ','b'];"
        "print('ok', m.config.model_type)"
    )
    out = subprocess.run([PY, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok llama" in out.stdout
    assert (again / "model.safetensors").read_bytes() == (base / "model.safetensors").read_bytes()


# ---------------------------------------------------------------- train


def test_full_sft_emits_metrics_and_checkpoint(full_run, base):
    out, events = full_run
    metrics = [e for e in events if e["event"] == "metric"]
    assert metrics, events[:3]
    steps = [m["step"] for m in metrics]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    for m in metrics:
        for key in ("loss", "learning_rate", "grad_norm", "epoch", "tokens_per_s"):
            assert key in m["values"], (key, m)
        assert isinstance(m["values"]["loss"], float)
    progress = [e for e in events if e["event"] == "progress"]
    assert [p["step"] for p in progress] == list(range(1, 7)) and progress[-1]["total"] == 6
    res = result_of(events)
    assert res["checkpoint"] == str(out) and res["steps"] == 6 and res["stopped"] is False
    assert isinstance(res["final_loss"], float) and res["seconds"] > 0
    assert [e for e in events if e["event"] == "checkpoint"][-1] == {"event": "checkpoint", "path": str(out), "step": 6}
    assert events[-1]["event"] == "result"
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["base_model"] == str(base) and lineage["parent"] is None
    assert lineage["method"] == "sft" and lineage["job"] == "t" and len(lineage["spec_hash"]) == 16
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not (out.parent / f".{out.name}.trainer").exists()


def test_lora_sft_saves_adapter_and_merged_model(work, base, data):
    out = work / "ck-lora"
    spec = _train_spec(
        base,
        data,
        out,
        lora=True,
        lora_r=4,
        max_steps=4,
        learning_rate=1e-2,
        save_steps=2,
        eval_dataset=str(data["dev"]),
        eval_steps=3,
        eval_limit=4,
    )
    rc, events, err = run_worker(work, spec)
    assert rc == 0, err[-2000:]
    assert [m["step"] for m in events if m["event"] == "metric"] == [1, 2, 3, 4]
    # periodic dev evaluation: every eval_steps and at the last step
    scores = [e for e in events if e["event"] == "score"]
    assert [(e["step"], e["split"]) for e in scores] == [(3, "dev"), (4, "dev")]
    assert all(0.0 <= e["value"] <= 1.0 for e in scores) and result_of(events)["dev_score"] == scores[-1]["value"]
    res = result_of(events)
    assert res["steps"] == 4 and not res["stopped"]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "config.json").is_file()  # merged full model: evaluate loads it by path
    # an intermediate checkpoint (save_steps) is a merged model folder with the same weights layout
    mid = out / "step-2"
    assert {"event": "checkpoint", "path": str(mid), "step": 2} in events
    assert (mid / "lineage.json").is_file() and (mid / "adapter" / "adapter_config.json").is_file()
    from safetensors import safe_open

    keys = []
    for folder in (mid, out):
        with safe_open(str(folder / "model.safetensors"), framework="np") as fh:
            keys.append(sorted(fh.keys()))
    assert keys[0] == keys[1] and not [k for k in keys[0] if "lora" in k]
    assert json.loads((out / "lineage.json").read_text())["lora"] is True
    rc, events, err = run_worker(work, {"mode": "evaluate", "model": str(out), "dataset": str(data["dev"]), "limit": 8})
    assert rc == 0, err[-2000:]
    assert result_of(events)["n"] == 8


def test_continue_from_checkpoint(work, base, data, full_run):
    parent, _ = full_run
    out = work / "ck-child"
    rc, events, err = run_worker(work, _train_spec(base, data, out, init_from=str(parent), max_steps=3))
    assert rc == 0, err[-2000:]
    res = result_of(events)
    assert res["steps"] == 3
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parent"] == str(parent) and lineage["base_model"] == str(base)
    # the child starts from the parent's weights, so its first loss is near the parent's last one
    parent_loss = json.loads((parent / "lineage.json").read_text())["final_loss"]
    first = [e for e in events if e["event"] == "metric"][0]["values"]["loss"]
    base_first = [e for e in full_run[1] if e["event"] == "metric"][0]["values"]["loss"]
    assert abs(first - parent_loss) < abs(first - base_first)


def test_output_dir_must_be_new(work, base, data, full_run):
    out, _ = full_run
    rc, events, _ = run_worker(work, _train_spec(base, data, out))
    assert rc != 0 and error_of(events)["kind"] == "bad_input"


def test_nan_loss_stops_with_step(work, base, data):
    out = work / "ck-nan"
    # lr 1e6 only saturates this model (loss stuck at log(vocab), gradients 0); 1e30 overflows
    spec = _train_spec(base, data, out, learning_rate=1e30, max_steps=50)
    rc, events, err = run_worker(work, spec)
    assert rc != 0, err[-2000:]
    e = error_of(events)
    assert e["kind"] == "nan" and isinstance(e["step"], int) and 1 <= e["step"] < 50
    assert not (out / "lineage.json").exists()


def test_sigterm_stops_and_saves(work, base, data):
    out = work / "ck-term"
    spec = _train_spec(base, data, out, max_steps=100_000)
    proc = subprocess.Popen(
        [PY, "-m", "agent_core.ml.worker", str(spec_file(work, spec))],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            obj = json.loads(line)
            if obj["event"] == "progress" and obj["step"] >= 3:
                proc.send_signal(signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = parse_lines("".join(lines) + rest)
    assert proc.returncode == 0
    res = result_of(events)
    assert res["stopped"] is True and 3 <= res["steps"] < 100_000
    assert res["checkpoint"] == str(out)
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["stopped"] is True
    assert (out / "model.safetensors").is_file()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad_line,needle",
    [
        ('{"prompt": "1+1=", "completion": ', "not valid JSON"),
        ('{"prompt": "1+1="}', "missing field 'completion'"),
    ],
)
def test_broken_dataset_is_bad_input(work, base, bad_line, needle):
    ds = work / f"broken-{len(bad_line)}.jsonl"
    ds.write_text('{"prompt": "1+2=", "completion": "3"}\n' + bad_line + "\n")
    rc, events, _ = run_worker(
        work,
        {
            "mode": "train",
            "base_model": str(base),
            "dataset": str(ds),
            "output_dir": str(work / f"ck-broken-{len(bad_line)}"),
            "max_steps": 2,
        },
    )
    assert rc != 0
    e = error_of(events)
    assert e["kind"] == "bad_input" and f"{ds}:2" in e["message"] and needle in e["message"]


def test_bad_specs(work, base, data):
    rc, events, _ = run_worker(work, {"mode": "dance"})
    assert rc != 0 and error_of(events)["kind"] == "bad_input"
    rc, events, _ = run_worker(work, {"mode": "evaluate", "model": str(work / "nope"), "dataset": str(data["dev"])})
    assert rc != 0 and error_of(events)["kind"] == "bad_input"
    bad = work / "notjson.json"
    bad.write_text("{nope")
    proc = subprocess.run(
        [PY, "-m", "agent_core.ml.worker", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and error_of(parse_lines(proc.stdout))["kind"] == "bad_input"


# ---------------------------------------------------------------- evaluate / sample


def test_evaluate_and_sample(work, data, full_run):
    ck, _ = full_run
    rc, events, err = run_worker(
        work, {"mode": "evaluate", "model": str(ck), "dataset": str(data["test"]), "limit": 20, "max_new_tokens": 6}
    )
    assert rc == 0, err[-2000:]
    res = result_of(events)
    assert 0.0 <= res["score"] <= 1.0 and res["n"] == 20 and res["correct"] == round(res["score"] * 20)
    assert len(res["examples"]) == 8
    assert set(res["examples"][0]) == {"prompt", "expected", "got", "correct"}
    rc, events, err = run_worker(
        work,
        {"mode": "sample", "model": str(ck), "prompts": ["1+2=", "30+4="], "max_new_tokens": 5, "temperature": 0.8},
    )
    assert rc == 0, err[-2000:]
    samples = result_of(events)["samples"]
    assert [s["prompt"] for s in samples] == ["1+2=", "30+4="]
    assert all(isinstance(s["completion"], str) and len(s["completion"]) <= 5 for s in samples)


# ---------------------------------------------------------------- tasks (pure Python)


def test_task_splits_disjoint_and_deterministic(tmp_path):
    for level in range(1, tasks.MAX_LEVEL + 1):
        task = tasks.get_task(f"arithmetic:{level}")
        if level > 1:
            task = tasks.arithmetic_task(level, n_train=300, n_dev=50, n_test=100)
        a = tasks.materialize(task, tmp_path / f"a{level}")
        b = tasks.materialize(task, tmp_path / f"b{level}")
        prompts = {}
        for split in ("train", "dev", "test"):
            assert a[split].read_bytes() == b[split].read_bytes()
            rows = [json.loads(l) for l in a[split].read_text().splitlines()]
            assert len(rows) == getattr(task, f"n_{split}")
            for r in rows:
                assert set(r) == {"prompt", "completion"} and r["prompt"].endswith("=")
                assert str(eval(r["prompt"][:-1])) == r["completion"]  # noqa: S307 - our own digits
            prompts[split] = {r["prompt"] for r in rows}
            assert len(prompts[split]) == len(rows)
        assert not prompts["test"] & prompts["train"]
        assert not prompts["test"] & prompts["dev"]
        assert not prompts["dev"] & prompts["train"]
    other = tasks.materialize(tasks.arithmetic_task(2, seed=99, n_train=300, n_dev=50, n_test=100), tmp_path / "c")
    assert other["test"].read_bytes() != (tmp_path / "a2" / "test.jsonl").read_bytes()


def test_get_task_and_scorer(tmp_path):
    assert tasks.get_task("arithmetic") == tasks.DEMO_TASK
    assert tasks.get_task("arithmetic:3").level == 3
    for bad in ("nope", "arithmetic:9", "arithmetic:x", str(tmp_path / "missing.toml")):
        with pytest.raises(ValueError):
            tasks.get_task(bad)
    toml = tmp_path / "t.toml"
    toml.write_text('name = "arithmetic"\nlevel = 3\nn_train = 100\nseed = 7\n')
    t = tasks.get_task(str(toml))
    assert (t.level, t.n_train, t.seed) == (3, 100, 7)
    with pytest.raises(ValueError):
        tasks.materialize(tasks.arithmetic_task(1, n_train=100), tmp_path / "too-many")
    assert tasks.score_exact(" 19\n", "19") and not tasks.score_exact("190", "19")
    recipe = tasks.sft_recipe(tasks.DEMO_TASK)
    assert recipe["learning_rate"] > 0 and ("num_train_epochs" in recipe or "max_steps" in recipe)


def test_tasks_module_does_not_import_torch():
    code = (
        "import sys, agent_core.training.tasks; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    proc = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_speed_defaults_follow_the_device_and_what_is_installed(monkeypatch):
    """CPU: plain settings. GPU: FlashAttention 2 and packed padding-free batches when flash_attn
    is installed, SDPA and no packing otherwise (packing without varlen attention would mix
    sequences), Liger when installed; the spec overrides each."""
    import importlib.util

    from agent_core.ml.train_common import speed_defaults

    installed: set[str] = set()
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (
            object() if name in installed else (None if name in ("flash_attn", "liger_kernel") else real(name, *a))
        ),
    )
    assert speed_defaults(on_gpu=False) == {
        "attn_implementation": None,
        "packing": False,
        "use_liger_kernel": False,
    }
    assert speed_defaults(on_gpu=True) == {
        "attn_implementation": "sdpa",
        "packing": False,
        "use_liger_kernel": False,
    }
    installed |= {"flash_attn", "liger_kernel"}
    assert speed_defaults(on_gpu=True) == {
        "attn_implementation": "flash_attention_2",
        "packing": True,
        "use_liger_kernel": True,
    }
    assert speed_defaults(on_gpu=False)["packing"] is False
    assert speed_defaults(on_gpu=True, packing=False, use_liger_kernel=False, attn_implementation="eager") == {
        "attn_implementation": "eager",
        "packing": False,
        "use_liger_kernel": False,
    }
