"""Model-side worker: one job per process.

    python -m agent_core.ml.worker SPEC.json
    (also every rank of: accelerate launch --module agent_core.ml.worker SPEC.json)

SPEC.json is a JSON object whose "mode" is one of build_base | train | evaluate | sample. Its
fields, with their types, defaults and meanings, are the dataclasses of
agent_core.training.spec (TrainSpec for train, with "method" sft or grpo; EvaluateSpec,
SampleSpec, BuildBaseSpec); docs/JOBS.md shows them as tables. The stdout protocol (metric,
score, plan, progress, checkpoint, result and error lines; exit codes) is agent_core.ml.protocol.

Where the work is: agent_core.ml.models (loading, build_base, checkpoints), agent_core.ml.sft,
agent_core.ml.grpo (+ train_common, callbacks, reward_sandbox), agent_core.ml.generation
(evaluate, sample), agent_core.ml.diagnostics (oom / crash messages).

Train details: TRL SFTTrainer on a prompt/completion dataset (loss on completion tokens only;
TRL appends eos to each completion). LoRA (PEFT, all linear layers) when "lora" is true. Loss or
grad norm that is NaN/inf stops the job with an "nan" error naming the step, and nothing is
saved. SIGTERM stops training at the next step boundary, saves the checkpoint and reports
"stopped": true (exit 0). The output_dir is always a loadable full model folder
(AutoModelForCausalLM / AutoTokenizer.from_pretrained(output_dir)); for LoRA runs it holds the
merged model and the adapter itself is saved in output_dir/adapter/. lineage.json (written last;
its presence marks a complete checkpoint) holds base_model, parent, spec_hash, method, lora,
steps, stopped, final_loss, seconds, and the spec's "lineage" dict merged over them.
Intermediate checkpoints (only with "save_steps") go to output_dir/step-<N>/, same layout.
GRPO (agent_core.ml.grpo): TRL GRPOTrainer, same checkpoints (method "grpo"; lineage adds
reward_file and reward_functions), NaN and SIGTERM handling. Its dataset rows hold "prompt" (a
string or chat messages) and any other fields, passed to the reward as keyword arguments (a
"completion" field as `expected`). A reward file that does not
import or lacks a named function is bad_input before the model loads. A reward call that
raises, returns a non-number, kills its process or runs past reward_timeout_s scores 0 and is
counted (the sandbox process is restarted after a hang); the job goes on. The LR schedule
always spans the job's real step count (TRL derives it from max_steps / epochs; the worker
refuses to train if the scheduler was built for another horizon). Dev evaluation (SFT and
GRPO): with an eval_dataset, greedy completions of its first eval_limit rows are scored every
eval_steps steps (if > 0) and at the last step -> "score" lines.

Evaluate: greedy, batched generation with left padding; the text generated after the prompt,
cut at eos or newline, is scored with the spec's scorer (agent_core.training.tasks.make_scorer; exact
match when none is given).

Multi-process (launcher "accelerate", see agent_core.training.jobs): every rank runs this module; only
rank 0 (env RANK) writes protocol lines and checkpoints, the other ranks are silent on stdout.

Other behaviour: an output_dir that exists and is not empty is bad_input (nothing is
overwritten); the Trainer's scratch folder (.<output_dir name>.trainer next to it) is removed
at the end. bad_input covers an unreadable spec, missing/mistyped/out-of-range fields, a model folder
without config.json, and dataset lines that are not JSON objects with string prompt and
completion ("<file>:<line>: ..."). SIGTERM outside training ends the job at once with a
"crash" error ("terminated") and exit 130. CPU jobs on models under 20M parameters use one
thread unless "num_threads" says otherwise. Environment: HF offline mode, progress bars off.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

from agent_core.ml import protocol
from agent_core.ml.diagnostics import failure
from agent_core.ml.protocol import EXIT_CODES, JobError, bad
from agent_core.training.spec import SPECS, SpecError, TrainSpec, spec_hash


def _setup_env() -> None:
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "DISABLE_TQDM": "1",
        "TQDM_DISABLE": "1",
    }.items():
        os.environ.setdefault(key, value)


def run_train(spec: TrainSpec, raw: dict) -> dict:
    if spec.method == "grpo":
        from agent_core.ml.grpo import run_grpo

        return run_grpo(spec, spec_hash(raw))
    from agent_core.ml.sft import run_sft

    return run_sft(spec, spec_hash(raw))


def run_job(raw: dict) -> dict:
    """Run the job of the spec file's JSON object; its result line's fields."""
    mode = raw.get("mode")
    if mode not in SPECS:
        raise bad(f"spec: unknown mode {mode!r} (one of {', '.join(SPECS)})")
    try:
        spec = SPECS[mode].from_dict(raw)
    except SpecError as exc:
        raise bad(str(exc)) from None
    if mode == "train":
        return run_train(spec, raw)
    if mode == "build_base":
        from agent_core.ml.models import run_build_base

        return run_build_base(spec)
    from agent_core.ml.generation import run_evaluate, run_sample

    return run_evaluate(spec) if mode == "evaluate" else run_sample(spec)


def _read_spec(path: str) -> dict:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise bad(f"cannot read spec {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"spec {path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise bad("spec must be a JSON object")
    return spec


def _finish_distributed() -> bool:
    """Under a multi-process launcher: wait until rank 0 has saved, then tear the process group
    down on every rank together. True when a process group was torn down."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    protocol.setup_io()
    _setup_env()
    signal.signal(signal.SIGTERM, protocol.on_sigterm)
    spec: dict = {}
    try:
        if len(argv) != 1:
            raise bad("usage: python -m agent_core.ml.worker SPEC.json")
        spec = _read_spec(argv[0])
        if spec.get("mode") != "train":
            # outside training, SIGTERM ends the job at once
            signal.signal(signal.SIGTERM, _terminate)
        result = run_job(spec)
        distributed = _finish_distributed()
        protocol.emit({"event": "result", **result})
        if distributed:
            # Skip interpreter teardown: c10d/gloo threads still joinable at exit make a rank
            # abort ("terminate called without an active exception"), failing a finished job.
            protocol.flush()
            os._exit(0)
        return 0
    except JobError as exc:
        protocol.emit({"event": "error", "kind": exc.kind, "message": exc.message, "step": exc.step})
        return EXIT_CODES.get(exc.kind, 1)
    except KeyboardInterrupt:
        protocol.emit({"event": "error", "kind": "crash", "message": "terminated (SIGTERM or interrupt)", "step": None})
        return 130
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        kind, msg = failure(exc, spec)
        protocol.emit({"event": "error", "kind": kind, "message": msg, "step": protocol.last_step()})
        return EXIT_CODES[kind]


def _terminate(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
