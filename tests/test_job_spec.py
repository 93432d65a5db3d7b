"""The typed job spec (agent_core.training.spec): parsing and validation, and what is derived
from it (the start_training tool's schema, the field tables of docs/JOBS.md). No torch."""

from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from agent_core.training.spec import SPECS, LaunchSpec, SampleSpec, SpecError, TrainSpec, spec_hash
from agent_core.training.spec_docs import agent_schema, jobs_md_blocks, render_jobs_md

ROOT = Path(__file__).resolve().parents[1]
BASE = {"base_model": "/m", "dataset": "/d.jsonl", "output_dir": "/out"}


def test_jobs_md_tables_match_the_dataclasses():
    text = (ROOT / "docs" / "JOBS.md").read_text(encoding="utf-8")
    for mode in SPECS:
        assert f"<!-- spec:{mode} -->" in text and f"<!-- /spec:{mode} -->" in text, mode
    assert render_jobs_md(text) == text, "docs/JOBS.md is stale: python -m agent_core.training.spec_docs docs/JOBS.md"
    # every field of every spec has a row
    for mode, cls in SPECS.items():
        table = jobs_md_blocks()[mode]
        for f in fields(cls):
            assert f"| `{f.name}` |" in table and f.metadata["doc"], (mode, f.name)


def test_a_changed_field_makes_the_tables_disagree():
    text = (ROOT / "docs" / "JOBS.md").read_text(encoding="utf-8")
    stale = text.replace("| `lora_r` | int | `16` |", "| `lora_r` | int | `8` |")
    assert stale != text and render_jobs_md(stale) == text


def test_start_training_schema_is_the_agent_fields_of_the_train_spec():
    from agent_core.agents.tools import SCHEMAS, Toolbox

    schema = SCHEMAS["start_training"]
    assert schema["properties"] == agent_schema()["properties"] and schema["required"] == ["dataset"]
    assert schema["description"].startswith("Start a training job")
    # the tool takes exactly the arguments its schema offers
    params = set(inspect.signature(Toolbox.t_start_training).parameters) - {"self"}
    assert params == set(schema["properties"])
    props = schema["properties"]
    assert props["epochs"] == {"type": "number"} and props["base"] == {"type": "string"}
    assert props["batch_size"]["type"] == "integer" and "num_generations" in props["batch_size"]["description"]
    assert props["lora"] == {"type": "boolean"} and props["method"]["description"] == "sft (default) or grpo"
    assert not {"base_model", "output_dir", "reward_sha256", "sandbox", "lineage"} & set(props)


def test_defaults_follow_the_method():
    sft = TrainSpec.from_dict(BASE)
    assert (sft.method, sft.learning_rate, sft.per_device_train_batch_size) == ("sft", 1e-3, 16)
    assert sft.lora_alpha == 32 and sft.max_steps is None and sft.lineage == {} and sft.launcher == "local"
    grpo = TrainSpec.from_dict({**BASE, "method": "grpo", "reward_file": "r.py", "num_generations": 4, "lora_r": 4})
    assert (grpo.learning_rate, grpo.per_device_train_batch_size, grpo.lora_alpha) == (1e-5, 16, 8)
    assert grpo.reward_functions == ["reward"] and grpo.sandbox == "bwrap"
    # null means "the default"; an int where a float is due is a float; unknown keys are ignored
    spec = TrainSpec.from_dict({**BASE, "max_steps": None, "learning_rate": 1, "whatever": [1], "lora_r": None})
    assert spec.learning_rate == 1.0 and isinstance(spec.learning_rate, float) and spec.lora_r == 16
    # the daemon's own keys are fields too
    spec = TrainSpec.from_dict(
        {**BASE, "dataset_sha256": "ab", "reward_manifest": {"r.py": "cd"}, "resumed_from": {"job": "job1", "step": 3}}
    )
    assert spec.reward_manifest == {"r.py": "cd"} and spec.resumed_from["step"] == 3


@pytest.mark.parametrize(
    "over,message",
    [
        ({"output_dir": None}, "spec: missing field 'output_dir'"),
        ({"lora_r": "8"}, "spec: field 'lora_r' has the wrong type (str)"),
        ({"max_steps": True}, "spec: field 'max_steps' has the wrong type (bool)"),
        ({"lora": 1}, "spec: field 'lora' has the wrong type (int)"),
        ({"max_steps": 0}, "spec: max_steps must be >= 1, got 0"),
        ({"learning_rate": 0}, "spec: learning_rate must be > 0, got 0.0"),
        ({"top_p": 1.5}, "spec: top_p must be <= 1, got 1.5"),
        ({"method": "dpo"}, "spec: unknown method 'dpo' (one of: sft, grpo)"),
        ({"method": "grpo"}, "spec: missing field 'reward_file' (method grpo)"),
        ({"method": "grpo", "reward_file": "r.py", "reward_functions": ["a b"]}, "reward_functions must be a list"),
        ({"reward_functions": ["a", 2]}, "spec: field 'reward_functions' must be a list of str values"),
        ({"num_generations": 1}, "spec: num_generations must be >= 2, got 1"),
        ({"eval_steps": 5}, "spec: eval_steps needs an eval_dataset"),
        ({"launcher": "mpi"}, "spec: unknown launcher 'mpi' (one of: local, accelerate)"),
        ({"num_processes": 2}, 'spec: num_processes needs launcher "accelerate"'),
    ],
)
def test_bad_fields_are_named(over, message):
    with pytest.raises(SpecError) as err:
        TrainSpec.from_dict({**BASE, **over})
    assert str(err.value).startswith(message) or message in str(err.value), str(err.value)


def test_launch_fields_alone():
    # the daemon checks the launcher fields of a spec before it starts anything
    assert LaunchSpec.from_dict({}).launcher == "local"
    assert LaunchSpec.from_dict({"launcher": "local", "num_processes": 1}).num_processes == 1
    ok = LaunchSpec.from_dict(
        {
            "launcher": "accelerate",
            "num_machines": 2,
            "machine_rank": 1,
            "main_process_ip": "10.0.0.1",
            "main_process_port": 29500,
        }
    )
    assert ok.machine_rank == 1
    for bad, needle in [
        ({"launcher": "accelerate", "num_machines": 2, "machine_rank": 2, "main_process_ip": "x"}, "machine_rank"),
        ({"launcher": "accelerate", "num_machines": 2, "machine_rank": 0, "main_process_ip": "x"}, "main_process_port"),
        ({"launcher": "accelerate", "accelerate_config": ""}, "accelerate YAML"),
        ({"launcher": "accelerate", "num_processes": 0}, "num_processes must be >= 1"),
    ]:
        with pytest.raises(SpecError, match=needle):
            LaunchSpec.from_dict(bad)
    with pytest.raises(ValueError):  # callers that catch ValueError keep working
        LaunchSpec.from_dict("not an object")


def test_one_shot_specs():
    assert SPECS["evaluate"].from_dict({"model": "/m", "dataset": "/d"}).batch_size == 128
    assert SPECS["build_base"].from_dict({"out_dir": "/b"}).size == {}
    sample = SampleSpec.from_dict({"model": "/m", "prompts": ["1+1="], "temperature": 1})
    assert sample.temperature == 1.0 and sample.max_new_tokens == 32
    for bad in ({"model": "/m", "prompts": []}, {"model": "/m", "prompts": ["a", 3]}, {"model": "/m"}):
        with pytest.raises(SpecError, match="prompts"):
            SampleSpec.from_dict(bad)


def test_spec_hash_leaves_lineage_out():
    assert spec_hash({**BASE, "lineage": {"a": 1}}) == spec_hash(BASE) != spec_hash({**BASE, "seed": 1})


def test_spec_modules_are_standard_library_only():
    code = (
        "import sys, agent_core.training.spec, agent_core.training.spec_docs;"
        "heavy = {'torch', 'transformers', 'trl', 'peft', 'datasets', 'textual'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
