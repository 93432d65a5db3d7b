"""The model worker's job specs, typed: the one home of every field's type, default and meaning.

A job spec is the JSON object `python -m agent_core.ml.worker SPEC.json` runs; its "mode" picks
the dataclass: train (TrainSpec: SFT and GRPO, with the launcher fields of LaunchSpec),
evaluate (EvaluateSpec), sample (SampleSpec), build_base (BuildBaseSpec). Each field carries
its metadata: "doc" (one line), "group" (what it is for), optionally "agent" (the agent may set
it through the start_training tool; a string is the tool's argument name), "agent_doc" (the
tool argument's description), "default_doc" (a default that depends on other fields) and
bounds ("min", "above", "max", "choices").

From the dataclasses come
- parsing and validation: `TrainSpec.from_dict(d)` etc. A field that is absent or null takes its
  default; other keys are kept in the file but ignored. A missing, mistyped or out-of-range
  field raises SpecError naming it (the worker reports it as bad_input; the daemon refuses to
  start the job);
- in agent_core.training.spec_docs: the JSON schema of the start_training tool's arguments
  (agent_core.agents.tools.SCHEMAS) and the field tables of docs/JOBS.md
  (`python -m agent_core.training.spec_docs` prints them; tests/test_job_spec.py fails when
  they disagree).

Standard library only: the daemon imports this module (it never imports torch), so does the worker.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any

from agent_core.training.templates import TEMPLATE_NAMES

GROUPS = ("what", "model", "data", "reward (GRPO)", "hyperparameters", "speed", "output", "launcher")
TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", dict: "object", list: "list"}


class SpecError(ValueError):
    """A spec that cannot run: a missing, mistyped or out-of-range field (the message names it)."""


def spec_field(
    default: Any = MISSING,
    *,
    doc: str,
    group: str,
    factory: Any = MISSING,
    agent: bool | str = False,
    agent_doc: str | None = None,
    default_doc: str | None = None,
    min: float | None = None,  # noqa: A002 (the bound's name in the docs)
    above: float | None = None,
    max: float | None = None,  # noqa: A002
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its documentation and bounds (no default and no factory: required)."""
    assert group in GROUPS, group
    meta = {
        "doc": doc,
        "group": group,
        "agent": agent,
        "agent_doc": agent_doc,
        "default_doc": default_doc,
        "min": min,
        "above": above,
        "max": max,
        "choices": choices,
    }
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@functools.cache
def field_types(cls: type) -> dict[str, tuple[type, type | None, bool]]:
    """field name -> (type, list item type or None, null allowed), from the annotations."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        optional = False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional, hint = len(args) < len(typing.get_args(hint)), args[0]
        item = None
        if typing.get_origin(hint) is not None:
            item = (typing.get_args(hint) or (None,))[0] if typing.get_origin(hint) is list else None
            hint = typing.get_origin(hint)
        out[name] = (hint, item, optional)
    return out


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


def _parse(f: dataclasses.Field, kind: type, item: type | None, value: Any) -> Any:
    if value is None:
        if f.default_factory is not MISSING:
            return f.default_factory()
        if f.default is MISSING:
            raise SpecError(f"spec: missing field {f.name!r}")
        return f.default
    if kind is float and _is(value, int):
        value = float(value)
    if not _is(value, kind):
        raise SpecError(f"spec: field {f.name!r} has the wrong type ({type(value).__name__})")
    if item is not None and not all(_is(v, item) for v in value):
        raise SpecError(f"spec: field {f.name!r} must be a list of {TYPE_NAMES[item]} values")
    m = f.metadata
    if m["choices"] is not None and value not in m["choices"]:
        raise SpecError(f"spec: unknown {f.name} {value!r} (one of: {', '.join(m['choices'])})")
    if m["min"] is not None and value < m["min"]:
        raise SpecError(f"spec: {f.name} must be >= {m['min']:g}, got {value!r}")
    if m["above"] is not None and value <= m["above"]:
        raise SpecError(f"spec: {f.name} must be > {m['above']:g}, got {value!r}")
    if m["max"] is not None and value > m["max"]:
        raise SpecError(f"spec: {f.name} must be <= {m['max']:g}, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """What every job spec shares: parsing and validation from the JSON object."""

    @classmethod
    def from_dict(cls, d: Any):
        """The typed spec of the JSON object `d`; SpecError names the first field that is wrong."""
        if not isinstance(d, dict):
            raise SpecError("spec must be a JSON object")
        kinds = field_types(cls)
        values = {f.name: _parse(f, *kinds[f.name][:2], d.get(f.name)) for f in fields(cls)}
        cls._derive(values)
        spec = cls(**values)
        spec._check()
        return spec

    @classmethod
    def _derive(cls, values: dict[str, Any]) -> None:
        """Fill the defaults that depend on other fields (those left None)."""

    def _check(self) -> None:
        """Checks across fields; SpecError."""


def _threads() -> Any:
    return spec_field(
        None,
        group="speed",
        min=1,
        doc="CPU threads (default: OMP_NUM_THREADS if set, else 1 for models under 20M parameters, else all cores)",
    )


def _template(source: str) -> Any:
    doc = "how prompts are rendered (agent_core.training.templates)"
    return spec_field(None, group="data", choices=TEMPLATE_NAMES, default_doc=f"{source}, else auto", doc=doc)


def _stop(default: list[str], prefix: str = "") -> Any:
    doc = "cut each completion at the first of these strings (and the template's end of turn)"
    return spec_field(group="data", factory=lambda: list(default), doc=f"{prefix}{doc}")


def _temperature(default: float, prefix: str = "") -> Any:
    return spec_field(default, group="data", min=0, doc=f"{prefix}sampling temperature (0: greedy)")


def _top_p(prefix: str = "") -> Any:
    return spec_field(1.0, group="data", above=0, max=1, doc=f"{prefix}nucleus sampling")


@dataclass(frozen=True, kw_only=True)
class LaunchSpec(WorkerSpec):
    """How a training job runs: one process, or `accelerate launch` (agent_core.training.jobs)."""

    launcher: str = spec_field(
        "local",
        group="launcher",
        choices=("local", "accelerate"),
        agent=True,
        agent_doc="local (default) or accelerate (several processes/GPUs)",
        doc="local: one process; accelerate: `accelerate launch` on every rank",
    )
    num_processes: int | None = spec_field(
        None,
        group="launcher",
        min=1,
        agent=True,
        agent_doc="processes for launcher accelerate (one per GPU)",
        doc="processes in all, one per GPU (accelerate; default 1)",
    )
    accelerate_config: str | None = spec_field(
        None, group="launcher", doc="an accelerate YAML (DDP or DeepSpeed ZeRO-1/2); relative to the workspace"
    )
    num_machines: int | None = spec_field(None, group="launcher", min=1, doc="machines (multi-node; default 1)")
    machine_rank: int | None = spec_field(None, group="launcher", min=0, doc="this machine's rank (multi-node)")
    main_process_ip: str | None = spec_field(None, group="launcher", doc="the address of machine 0 (multi-node)")
    main_process_port: int | None = spec_field(
        None, group="launcher", min=1, doc="the rendezvous port (default: a free one; multi-node: required)"
    )

    def _check(self) -> None:
        super()._check()
        if self.launcher == "local":
            for key in ("num_processes", "accelerate_config", "num_machines", "machine_rank", "main_process_ip"):
                value = getattr(self, key)
                if value is not None and not (key == "num_processes" and value == 1):
                    raise SpecError(f'spec: {key} needs launcher "accelerate"')
        if self.accelerate_config == "":
            raise SpecError("spec: accelerate_config must be a path to an accelerate YAML file")
        machines = self.num_machines or 1
        if machines > 1:
            rank = self.machine_rank
            if rank is None or rank >= machines or not self.main_process_ip:
                raise SpecError(
                    "spec: num_machines > 1 needs machine_rank (0..num_machines-1) and "
                    "main_process_ip (the address of machine 0)"
                )
            if self.main_process_port is None:
                raise SpecError("spec: num_machines > 1 needs main_process_port (the same on every machine)")


@dataclass(frozen=True, kw_only=True)
class TrainSpec(LaunchSpec):
    """A training job: `{"mode": "train", "method": "sft" | "grpo", ...}` (agent_core.ml.sft, agent_core.ml.grpo)."""

    mode: str = spec_field("train", group="what", choices=("train",), doc="train")
    method: str = spec_field(
        "sft",
        group="what",
        choices=("sft", "grpo"),
        agent=True,
        agent_doc="sft (default) or grpo",
        doc="sft: TRL SFTTrainer on prompt/completion rows; grpo: TRL GRPOTrainer with a reward file",
    )
    # -- model
    base_model: str = spec_field(group="model", doc="the model folder (config.json) the job starts from")
    init_from: str | None = spec_field(
        None,
        group="model",
        agent="base",
        doc="a checkpoint to continue from (its weights; the optimizer state is not carried over)",
    )
    lora: bool = spec_field(False, group="model", agent=True, doc="LoRA (PEFT, all linear layers), merged on save")
    lora_r: int = spec_field(16, group="model", min=1, agent=True, doc="LoRA rank")
    lora_alpha: int | None = spec_field(None, group="model", min=1, default_doc="2 x lora_r", doc="LoRA alpha")
    lora_dropout: float = spec_field(0.0, group="model", min=0, max=1, doc="LoRA dropout")
    # -- data
    dataset: str = spec_field(
        group="data",
        agent=True,
        doc="jsonl: prompt/completion rows, strings or messages, or messages rows (SFT); prompt + fields "
        "(GRPO); the daemon's read-only copy in `<run>/frozen/`",
    )
    dataset_source: str | None = spec_field(None, group="data", doc="the workspace dataset it froze (daemon)")
    dataset_sha256: str | None = spec_field(None, group="data", doc="the frozen dataset's hash (daemon)")
    eval_dataset: str | None = spec_field(None, group="data", doc="jsonl (the SFT formats) scored during training")
    eval_steps: int = spec_field(
        0,
        group="data",
        min=0,
        agent=True,
        agent_doc="score the model on the dev split every N steps (and at the end)",
        doc="dev score every N steps (0: only at the last step, with an eval_dataset)",
    )
    eval_limit: int | None = spec_field(None, group="data", min=1, doc="score only the first N eval rows")
    eval_max_new_tokens: int = spec_field(16, group="data", min=1, doc="max new tokens of a dev completion")
    eval_scorer: dict | None = spec_field(
        None, group="data", default_doc="exact match", doc="scorer spec as in evaluate (agent_core.training.tasks)"
    )
    eval_stop: list[str] = _stop(["\n"], "dev: ")
    eval_temperature: float = _temperature(0.0, "dev: ")
    eval_top_p: float = _top_p("dev: ")
    template: str | None = _template("init_from's lineage.json")  # recorded in the checkpoint's lineage
    # -- reward (GRPO)
    reward_file: str | None = spec_field(
        None,
        group="reward (GRPO)",
        agent=True,
        agent_doc="grpo: workspace path of a Python file defining reward(prompt, completion, **fields) -> float; "
        "the dataset's other fields (its completion as expected) are passed as keywords. A crash or hang scores 0",
        doc="Python file defining `reward(prompt, completion, **fields) -> float` (grpo: required); in the job's bundle",
    )
    reward_functions: list[str] | None = spec_field(
        None,
        group="reward (GRPO)",
        default_doc='["reward"]',
        doc="function names in the reward file (several: summed; per-function means logged)",
    )
    reward_cwd: str | None = spec_field(
        None,
        group="reward (GRPO)",
        default_doc="the reward file's folder",
        doc="folder the reward runs in: the bundle `<run>/jobs/<job>.reward/`, read-only",
    )
    reward_timeout_s: float = spec_field(10.0, group="reward (GRPO)", above=0, doc="seconds per completion")
    reward_batch_timeout_s: float = spec_field(300.0, group="reward (GRPO)", above=0, doc="seconds per batch")
    reward_source: str | None = spec_field(
        None, group="reward (GRPO)", doc="the workspace file it was copied from (daemon)"
    )
    reward_sha256: str | None = spec_field(None, group="reward (GRPO)", doc="the frozen reward bundle's hash (daemon)")
    reward_manifest: dict | None = spec_field(
        None, group="reward (GRPO)", doc="the bundle's files {path: sha256} (daemon)"
    )
    sandbox: str = spec_field(
        "bwrap",
        group="reward (GRPO)",
        choices=("bwrap", "none"),
        doc="none: the reward runs unfenced (a run started with --unsafe-no-sandbox)",
    )
    num_generations: int = spec_field(
        8,
        group="reward (GRPO)",
        min=2,
        agent=True,
        agent_doc="grpo: completions per prompt (group size, default 8)",
        doc="completions per prompt (the group advantages compare)",
    )
    temperature: float = spec_field(
        1.0,
        group="reward (GRPO)",
        above=0,
        agent=True,
        agent_doc="grpo: sampling temperature (default 1.0)",
        doc="sampling temperature",
    )
    top_p: float = spec_field(1.0, group="reward (GRPO)", above=0, max=1, doc="nucleus sampling")
    max_completion_length: int = spec_field(
        128,
        group="reward (GRPO)",
        min=1,
        agent=True,
        agent_doc="grpo: max new tokens per completion (default 128)",
        doc="max new tokens per completion",
    )
    beta: float = spec_field(
        0.04,
        group="reward (GRPO)",
        min=0,
        agent=True,
        agent_doc="grpo: KL penalty to the starting weights (default 0.04; 0 = off)",
        doc="KL penalty to the initial weights (0: no reference model)",
    )
    loss_type: str | None = spec_field(None, group="reward (GRPO)", default_doc="TRL's", doc="TRL's loss_type")
    scale_rewards: str | None = spec_field(None, group="reward (GRPO)", default_doc="TRL's", doc="TRL's scale_rewards")
    use_vllm: bool | None = spec_field(
        None, group="reward (GRPO)", default_doc="on a GPU when importable", doc="generate with vLLM (colocate)"
    )
    # -- hyperparameters
    learning_rate: float | None = spec_field(
        None, group="hyperparameters", above=0, agent=True, default_doc="1e-3 (sft), 1e-5 (grpo)", doc="peak LR"
    )
    lr_scheduler_type: str = spec_field(
        "constant", group="hyperparameters", agent=True, doc="transformers' scheduler name (e.g. cosine, linear)"
    )
    warmup_steps: int = spec_field(0, group="hyperparameters", min=0, agent=True, doc="LR warmup steps")
    num_train_epochs: float = spec_field(
        1.0, group="hyperparameters", above=0, agent="epochs", doc="passes over the dataset"
    )
    max_steps: int | None = spec_field(
        None, group="hyperparameters", min=1, agent=True, doc="optimizer steps (wins over num_train_epochs)"
    )
    per_device_train_batch_size: int | None = spec_field(
        None,
        group="hyperparameters",
        min=1,
        agent="batch_size",
        agent_doc="sft: examples per step (default 16); grpo: prompts per step, each sampled num_generations times",
        default_doc="16 (sft), 4 x num_generations (grpo)",
        doc="rows per device per micro-step (grpo: completions; x accumulation x processes: whole groups)",
    )
    gradient_accumulation_steps: int = spec_field(1, group="hyperparameters", min=1, doc="micro-steps per step")
    weight_decay: float = spec_field(0.0, group="hyperparameters", min=0, agent=True, doc="AdamW weight decay")
    adam_beta2: float = spec_field(0.999, group="hyperparameters", above=0, max=1, agent=True, doc="AdamW beta2")
    max_grad_norm: float = spec_field(1.0, group="hyperparameters", min=0, doc="gradient clipping")
    max_length: int = spec_field(256, group="hyperparameters", min=1, doc="sft: tokens per row (longer: cut)")
    seed: int = spec_field(0, group="hyperparameters", doc="model init, data order and sampling seed")
    # -- speed
    num_threads: int | None = _threads()
    attn_implementation: str | None = spec_field(
        None,
        group="speed",
        default_doc="GPU: flash_attention_2 when installed, else sdpa",
        doc="transformers' attention kernel",
    )
    packing: bool | None = spec_field(
        None, group="speed", default_doc="with flash_attention_2", doc="sft: padding-free packed batches"
    )
    use_liger_kernel: bool | None = spec_field(
        None, group="speed", default_doc="GPU: when installed", doc="Liger kernels"
    )
    gradient_checkpointing: bool = spec_field(False, group="speed", doc="grpo: recompute activations")
    # -- output
    output_dir: str = spec_field(
        group="output", doc="the checkpoint folder to create, in `<run>/checkpoints/` (must not hold files)"
    )
    save_steps: int = spec_field(0, group="output", min=0, doc="intermediate checkpoints every N steps (`step-<N>/`)")
    logging_steps: int = spec_field(1, group="output", min=1, doc="a metric line every N steps")
    lineage: dict = spec_field(group="output", factory=dict, doc="merged into the checkpoint's lineage.json")
    resumed_from: dict | None = spec_field(None, group="output", doc="{job, step} of the job it continues (daemon)")

    @classmethod
    def _derive(cls, values: dict[str, Any]) -> None:
        grpo = values["method"] == "grpo"
        if values["learning_rate"] is None:
            values["learning_rate"] = 1e-5 if grpo else 1e-3
        if values["per_device_train_batch_size"] is None:
            values["per_device_train_batch_size"] = 4 * values["num_generations"] if grpo else 16
        if values["lora_alpha"] is None:
            values["lora_alpha"] = 2 * values["lora_r"]
        if not values["reward_functions"]:
            values["reward_functions"] = ["reward"]

    def _check(self) -> None:
        super()._check()
        if self.eval_steps and not self.eval_dataset:
            raise SpecError("spec: eval_steps needs an eval_dataset (a prompt/completion jsonl)")
        if self.method == "grpo":
            if self.reward_file is None:
                raise SpecError("spec: missing field 'reward_file' (method grpo)")
            if not all(n.isidentifier() for n in self.reward_functions):
                raise SpecError("spec: reward_functions must be a list of function names in the reward file")


@dataclass(frozen=True, kw_only=True)
class EvaluateSpec(WorkerSpec):
    """Score a model on a prompt/completion dataset (agent_core.ml.generation.run_evaluate)."""

    mode: str = spec_field("evaluate", group="what", choices=("evaluate",), doc="evaluate")
    model: str = spec_field(group="model", doc="the model folder (config.json)")
    dataset: str = spec_field(group="data", doc="jsonl: prompt/completion (strings or messages) or messages rows")
    limit: int | None = spec_field(None, group="data", min=1, doc="score only the first N rows")
    template: str | None = _template("the model's lineage.json")
    max_new_tokens: int = spec_field(16, group="data", min=1, doc="max new tokens per completion")
    stop: list[str] = _stop(["\n"])
    temperature: float = _temperature(0.0)
    top_p: float = _top_p()
    seed: int = spec_field(0, group="data", doc="sampling seed")
    batch_size: int = spec_field(128, group="speed", min=1, doc="prompts per generate call")
    scorer: dict | None = spec_field(
        None,
        group="data",
        default_doc="exact match",
        doc='{"kind": "exact"} | {"kind": "regex", "pattern"} | {"kind": "python", "file"} (agent_core.training.tasks)',
    )
    num_threads: int | None = _threads()


@dataclass(frozen=True, kw_only=True)
class SampleSpec(WorkerSpec):
    """Completions of a model for some prompts (agent_core.ml.generation.run_sample)."""

    mode: str = spec_field("sample", group="what", choices=("sample",), doc="sample")
    model: str = spec_field(group="model", doc="the model folder (config.json)")
    prompts: list[str] = spec_field(group="data", doc="the prompts (a non-empty list)")
    template: str | None = _template("the model's lineage.json")
    max_new_tokens: int = spec_field(32, group="data", min=1, doc="max new tokens per completion")
    stop: list[str] = _stop([])
    temperature: float = _temperature(0.0)
    top_p: float = _top_p()
    seed: int = spec_field(0, group="data", doc="sampling seed")
    num_threads: int | None = _threads()

    def _check(self) -> None:
        if not self.prompts:
            raise SpecError("spec: prompts must be a non-empty list of strings")


@dataclass(frozen=True, kw_only=True)
class BuildBaseSpec(WorkerSpec):
    """Make a base model folder (agent_core.ml.models.run_build_base): the tiny model, a GGUF file, a hub model."""

    mode: str = spec_field("build_base", group="what", choices=("build_base",), doc="build_base")
    out_dir: str = spec_field(group="output", doc="the model folder to write")
    seed: int = spec_field(0, group="model", doc="tiny: weight init seed")
    size: dict = spec_field(group="model", factory=dict, doc="tiny: build_tiny_model's size arguments")
    gguf: str | None = spec_field(None, group="model", doc="a GGUF file to dequantize into a float32 folder instead")
    hub_id: str | None = spec_field(None, group="model", doc="owner/name to download instead (after an approval)")


SPECS: dict[str, type[WorkerSpec]] = {
    "build_base": BuildBaseSpec,
    "train": TrainSpec,
    "evaluate": EvaluateSpec,
    "sample": SampleSpec,
}


def spec_hash(spec: dict) -> str:
    """A short hash of a spec's JSON object without its "lineage" (recorded in lineage.json)."""
    body = {k: v for k, v in spec.items() if k != "lineage"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
