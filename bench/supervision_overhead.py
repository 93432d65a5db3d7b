"""Supervision overhead: train-step time with and without what the project adds to a training
job, in one training run, in interleaved blocks of steps (A B A B ...), so load on the machine
hits both arms alike.

    .venv/bin/python bench/supervision_overhead.py [--blocks 16] [--block-steps 10]

Arm "off": a plain TRL SFTTrainer step (no per-step logging).
Arm "on" : the same step plus everything a supervised job adds:
  - per-step logging (TRL's logging_steps=1: the loss is read back every step),
  - the worker's metric callback (agent_core.ml.callbacks.ProtocolCallback: metric, progress
    and stop checks) writing JSON lines into a pipe,
  - a reader thread standing in for the daemon: it parses each line and writes it to an
    agent_core.record.events.EventLog (flushed per event, as in a run),
  - the host sampler (agent_core.daemon.host.HostSampler) every HOST_SAMPLE_S seconds, logged as
    host_sample events.
The daemon's reader and sampler really live in another process; here they are threads of the
training process, which only adds contention (the figure is an upper bound).

Step time = the time between consecutive on_step_end calls (so it includes the logging of the
step before). Overhead = median(on) / median(off) - 1 (and the same with means). The first block
is warm-up and not counted. Target: <= 1%. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=30, help="blocks in all (half per arm), plus one warm-up")
    ap.add_argument("--block-steps", type=int, default=5)
    ap.add_argument("--shape", default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from agent_core.daemon.supervisor import HOST_SAMPLE_S
    from agent_core.record.events import EventLog
    from agent_core.daemon.host import HostSampler
    from agent_core.ml.callbacks import ProtocolCallback
    from train_throughput import build_model, write_data

    import transformers

    transformers.utils.logging.set_verbosity_error()
    gpu = torch.cuda.is_available()
    shape = args.shape or ("qwen3-1.7b" if gpu else "tiny")
    seq = args.seq or (2048 if gpu else 128)
    batch = args.batch or (4 if gpu else 8)
    if not gpu:
        torch.set_num_threads(1)  # as the worker does for small models; steadier on a shared host
    total_blocks = args.blocks + 1
    steps = total_blocks * args.block_steps

    with tempfile.TemporaryDirectory(prefix="bench-supervision-") as tmp:
        tmp = Path(tmp)
        params = build_model(tmp / "model", shape)
        data, _ = write_data(tmp, seq, batch * (steps + 2))
        rows = [json.loads(x) for x in open(data)]
        tok = AutoTokenizer.from_pretrained(tmp / "model")
        model = AutoModelForCausalLM.from_pretrained(tmp / "model", dtype=torch.bfloat16 if gpu else torch.float32)

        # -- the supervision pieces ------------------------------------------------------
        log = EventLog(tmp / "events.jsonl")
        rfd, wfd = os.pipe()
        pipe_out = os.fdopen(wfd, "w", buffering=1)
        on = threading.Event()
        done = threading.Event()

        def emit(obj: dict) -> None:  # the worker's emit: one JSON line, flushed
            pipe_out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            pipe_out.flush()

        def daemon_reader() -> None:  # the daemon's pump: parse, log with the job id
            with os.fdopen(rfd, "r") as fh:
                for line in fh:
                    msg = json.loads(line)
                    if msg.get("event") == "metric":
                        log.emit("metric", job="job1", step=msg["step"], values=msg["values"])

        def sampler() -> None:  # the daemon's host sampler
            s = HostSampler()
            while not done.is_set():
                if on.is_set():
                    log.emit("host_sample", **s.sample())
                done.wait(HOST_SAMPLE_S)
            s.close()

        protocol = ProtocolCallback(
            emit=emit, should_stop=lambda: False, job_error=RuntimeError, flops_per_token=6.0 * params
        )

        times: dict[str, list[float]] = {"off": [], "on": []}
        blocks: list[tuple[str, list[float]]] = []  # (arm, step times) per block, in order
        state_box = {"last": None, "arm": "warmup"}

        class Switch(TrainerCallback):
            """Times every step and flips the arm every block (warm-up first, then off/on...)."""

            def on_step_end(self, a, state, control, **kw):
                now = time.perf_counter()
                if state_box["last"] is not None and state_box["arm"] in times:
                    times[state_box["arm"]].append(now - state_box["last"])
                    blocks[-1][1].append(now - state_box["last"])
                state_box["last"] = now
                if state.global_step % args.block_steps == 0:
                    block = state.global_step // args.block_steps  # blocks done
                    arm = "off" if block % 2 == 1 else "on"
                    state_box["arm"] = arm
                    # per-step logging only in the supervised arm
                    state.logging_steps = 1 if arm == "on" else 10**9
                    on.set() if arm == "on" else on.clear()
                    state_box["last"] = None  # do not time across an arm switch
                    blocks.append((arm, []))

        class Gate(TrainerCallback):
            """The project's callback, active in the 'on' arm (and in the warm-up)."""

            def on_train_begin(self, *a, **kw):
                return protocol.on_train_begin(*a, **kw)

            def on_log(self, *a, **kw):
                if state_box["arm"] != "off":
                    return protocol.on_log(*a, **kw)

            def on_step_end(self, *a, **kw):
                if state_box["arm"] != "off":
                    return protocol.on_step_end(*a, **kw)

        cfg = SFTConfig(
            output_dir=str(tmp / "out"),
            max_steps=steps,
            per_device_train_batch_size=batch,
            max_length=seq,
            logging_steps=1,
            report_to=[],
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=not gpu,
            bf16=gpu,
            gradient_checkpointing=False,
            learning_rate=1e-5,
            logging_first_step=False,
        )
        trainer = SFTTrainer(
            model=model,
            args=cfg,
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
            callbacks=[Gate(), Switch()],
        )
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        threads = [threading.Thread(target=daemon_reader, daemon=True), threading.Thread(target=sampler, daemon=True)]
        for t in threads:
            t.start()
        on.set()
        t0 = time.monotonic()
        trainer.train()
        wall = time.monotonic() - t0
        done.set()
        pipe_out.close()
        threads[0].join(timeout=5)
        kinds = [json.loads(line)["type"] for line in open(tmp / "events.jsonl")]
        n_metric, n_host = kinds.count("metric"), kinds.count("host_sample")

    off, on_ = times["off"], times["on"]
    med = statistics.median(on_) / statistics.median(off) - 1
    mean = statistics.mean(on_) / statistics.mean(off) - 1
    # paired: each "on" block against the mean of its neighbouring "off" blocks (drift cancels)
    meds = [(arm, statistics.median(xs)) for arm, xs in blocks if xs]
    paired = []
    for i, (arm, m) in enumerate(meds):
        if arm == "on":
            near = [meds[j][1] for j in (i - 1, i + 1) if 0 <= j < len(meds) and meds[j][0] == "off"]
            if near:
                paired.append(m / statistics.mean(near) - 1)
    pair = statistics.median(paired) if paired else float("nan")
    # noise floor (A/A): alternate "off" blocks against each other
    offs = [m for arm, m in meds if arm == "off"]
    noise = statistics.median(offs[0::2]) / statistics.median(offs[1::2]) - 1 if len(offs) >= 2 else float("nan")
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores)"
    print(
        f"model: random {shape} ({params / 1e6:.1f}M parameters) on {device}; seq {seq}, batch {batch}; "
        f"{args.blocks} blocks of {args.block_steps} steps, interleaved off/on, after one warm-up block; "
        f"{wall:.1f}s"
    )
    print(f"  arm   steps  median ms  mean ms   (events logged: {n_metric} metric, {n_host} host_sample)")
    for name, xs in (("off", off), ("on", on_)):
        print(f"  {name:4s} {len(xs):6d}  {statistics.median(xs) * 1e3:9.2f}  {statistics.mean(xs) * 1e3:7.2f}")
    print(f"  overhead: {med:+.2%} (median), {mean:+.2%} (mean), {pair:+.2%} (median of paired blocks); target <= 1%")
    print(f"  noise floor (off vs off blocks): {noise:+.2%}")
    print(
        json.dumps(
            {
                "bench": "supervision_overhead",
                "device": device,
                "shape": shape,
                "seq": seq,
                "batch": batch,
                "steps_off": len(off),
                "steps_on": len(on_),
                "median_step_ms_off": statistics.median(off) * 1e3,
                "median_step_ms_on": statistics.median(on_) * 1e3,
                "overhead_median": med,
                "overhead_mean": mean,
                "overhead_paired": pair,
                "noise_floor_off_vs_off": noise,
                "ratio_on_off_median": 1 + med,
                "metric_events": n_metric,
                "host_samples": n_host,
            }
        )
    )


if __name__ == "__main__":
    main()
