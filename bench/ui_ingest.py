#!/usr/bin/env python
"""Live ingestion benchmark: the run screen (headless, App.run_test) attached to a real
events.jsonl that a writer *process* appends to at a fixed rate (a realistic mix: metric
~70%, host_sample, tool_call/tool_result, agent_message, alert, job_state, checkpoint, notes
and nudges; no approval requests, which would each open a prompt). The screen's LiveFeed
follows the file as in production.

Measured per phase (each phase is a fresh app and a fresh log):
  ingest rate      events visible in RunView (view.count) / time from the first write
                   until the last event is visible; "steady": the slope of view.count over
                   the middle 60% of the writing period (least squares; sustained: the UI
                   keeps up iff it matches the write rate)
  latency          append -> visible in RunView, p50/p99 (10 ms sampling)
  loop lag         lateness of an asyncio timer that asks to wake every 10 ms (p50/p99/max)
  queue lag        wait of a callback posted to the run screen's message queue every 10 ms
                   (what a key press routed to the screen would wait), p50/p99/max
  cpu              process CPU seconds per 1k events (stable even on a shared machine), and
                   the UI (event loop) thread's share; cores = process CPU / wall time

Phases (default: all):
  low        5k events/s (the same mix): the baseline lag of an idle-ish UI
  target     50k events/s for --seconds (the target: >= 50k/s sustained, p99 loop lag <= 25 ms)
  unbatched  the same 50k/s stream, but the feed posts one EventsArrived per event (the
             per-event handling baseline); capped at --cap seconds
  flood      --flood events written as fast as possible: the ingest capacity

    .venv/bin/python bench/ui_ingest.py [--seconds 10] [--phases low,target,unbatched,flood]

Prints readable figures; the last line is one JSON object with all figures. The UI runs
headless: widgets still lay out and render lines, but nothing is written to a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

TARGET_RATE = 50_000
TARGET_P99_MS = 25.0


# -- the writer process ---------------------------------------------------------------------
def writer_main(path: str, rate: float, count: int, seed: int) -> None:
    """Pre-generates `count` lines, prints "ready", waits for a line on stdin, then appends
    them at `rate` events/s (0: as fast as possible) in 5 ms chunks, flushing each chunk.
    Prints {"marks": [[seq_end, t_monotonic], ...], "start": t, "end": t}."""
    from _synth import gen_lines

    # no approval requests: the live screen would open a prompt for each one
    lines = gen_lines(count, t0=time.time(), dt=1.0 / (rate or 100_000), seed=seed, approvals=False)
    print("ready", flush=True)
    sys.stdin.readline()
    marks = []
    written = 0
    start = time.monotonic()
    with open(path, "ab") as fh:
        while written < len(lines):
            now = time.monotonic()
            target = len(lines) if not rate else min(len(lines), int((now - start) * rate) + 1)
            if not rate:
                target = min(len(lines), written + 20_000)
            if target > written:
                fh.write(b"".join(lines[written:target]))
                fh.flush()
                written = target
                marks.append((written, time.monotonic()))
            if rate:
                time.sleep(0.005)
    print(json.dumps({"marks": marks, "start": start, "end": time.monotonic()}), flush=True)


# -- the UI side ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def make_app(home: Path, run, per_event: bool):
    from screens.feeds import EventsArrived, LiveFeed
    from screens.run_screen import RunScreen
    from tinker_tui.app import TinkerApp
    from textual.worker import get_current_worker

    class PerEventFeed(LiveFeed):
        """The unbatched baseline: one message per event."""

        def _loop(self, target) -> None:
            worker = get_current_worker()
            while not worker.is_cancelled:
                try:
                    events = self.reader.poll()
                except OSError:
                    events = []
                for ev in events:
                    target.post_message(EventsArrived([ev]))
                time.sleep(self.interval)

    class BenchApp(TinkerApp):
        def make_run_screen(self, run, mode, can_go_back=False):
            if not per_event:
                return super().make_run_screen(run, mode, can_go_back)
            return RunScreen(
                PerEventFeed(run, interval=self.live_interval), None, run=run, clock=self.clock, can_go_back=can_go_back
            )

    return BenchApp(home=home, run=run, mode="attach", live_interval=0.1)


async def run_phase(
    name: str,
    rate: float,
    seconds: float,
    per_event: bool = False,
    cap: float | None = None,
    count: int | None = None,
    seed: int = 1,
) -> dict:
    from agent_core.record.runs import RunDir
    from screens.run_screen import RunScreen

    tmp = Path(tempfile.mkdtemp(prefix=f"tinker-bench-{name}-"))
    try:
        run = RunDir(tmp / "runs" / "bench")
        run.path.mkdir(parents=True)
        run.write_config(
            {"id": "bench", "task": "gsm8k", "model": "Qwen3-0.6B", "agent": "playbook", "budget_s": 36000}
        )
        run.events_path.touch()
        n = count if count is not None else int(rate * seconds)
        writer = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(run.events_path), str(rate), str(n), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "ready"
        app = make_app(tmp, run, per_event)
        loop_lags: list[float] = []
        queue_lags: list[float] = []
        samples: list[tuple[float, int]] = []
        async with app.run_test(size=(160, 48)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, RunScreen) and app.screen.is_mounted:
                    break
                await pilot.pause(0.02)
            screen = app.screen
            await pilot.pause(0.3)  # let the first layout settle
            stop = False

            def queued(t_post: float) -> None:
                queue_lags.append(time.monotonic() - t_post)

            async def sampler() -> None:
                interval = 0.01
                due = time.monotonic() + interval
                while not stop:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    now = time.monotonic()
                    loop_lags.append(now - due)
                    samples.append((now, screen.view.count))
                    screen.call_later(queued, now)
                    due = now + interval

            task = asyncio.create_task(sampler())
            proc = psutil.Process()
            main_tid = threading.get_native_id()
            th0 = {t.id: t.user_time + t.system_time for t in proc.threads()}
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            writer.stdin.write("go\n")
            writer.stdin.flush()
            t_go = time.monotonic()
            deadline = t_go + (cap if cap is not None else seconds * 3 + 20)
            while screen.view.count < n and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            t_done = time.monotonic()
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            th1 = {t.id: t.user_time + t.system_time for t in proc.threads()}
            ui_cpu = th1.get(main_tid, 0.0) - th0.get(main_tid, 0.0)
            stop = True
            await task
            seen = screen.view.count
            transcript_entries = len(screen.query_one("#transcript").entries)
        out, _ = writer.communicate(timeout=120)
        info = json.loads(out.strip().splitlines()[-1])
        marks = info["marks"]
        t_start = info["start"]
        # latency: each write chunk -> first sample whose count covers it
        lat = []
        j = 0
        for seq_end, t_w in marks:
            while j < len(samples) and samples[j][1] < seq_end:
                j += 1
            if j == len(samples):
                break
            lat.append(max(0.0, samples[j][0] - t_w))
        t_last = next((t for t, c in samples if c >= seen), t_done) if seen else t_done
        # steady rate: least-squares slope of view.count over the middle 60% of the writing
        # period (the count grows in steps of a batch; a fit does not depend on where the
        # window's ends fall between steps)
        w0 = t_start + 0.2 * (info["end"] - t_start)
        w1 = t_start + 0.8 * (info["end"] - t_start)
        mid = [(t, c) for t, c in samples if w0 <= t <= w1]
        steady = None
        if len(mid) > 10:
            mt = sum(t for t, _ in mid) / len(mid)
            mc = sum(c for _, c in mid) / len(mid)
            var = sum((t - mt) ** 2 for t, _ in mid)
            if var > 0:
                steady = sum((t - mt) * (c - mc) for t, c in mid) / var
        span = max(t_last - t_start, 1e-6)
        write_s = max(info["end"] - t_start, 1e-6)
        cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        return {
            "phase": name,
            "per_event": per_event,
            "events": n,
            "seen": seen,
            "complete": seen >= n,
            "write_rate": round(n / write_s),
            "ingest_rate": round(seen / span),
            "steady_rate": round(steady) if steady is not None else None,
            "elapsed_s": round(t_done - t_go, 2),
            "latency_p50_ms": round(pct(lat, 50) * 1000, 1),
            "latency_p99_ms": round(pct(lat, 99) * 1000, 1),
            "loop_lag_p50_ms": round(pct(loop_lags, 50) * 1000, 2),
            "loop_lag_p99_ms": round(pct(loop_lags, 99) * 1000, 2),
            "loop_lag_max_ms": round(max(loop_lags, default=0) * 1000, 1),
            "queue_lag_p50_ms": round(pct(queue_lags, 50) * 1000, 2),
            "queue_lag_p99_ms": round(pct(queue_lags, 99) * 1000, 2),
            "queue_lag_max_ms": round(max(queue_lags, default=0) * 1000, 1),
            "cpu_s_per_1k": round(cpu / max(seen, 1) * 1000, 4),
            "ui_thread_cpu_s_per_1k": round(ui_cpu / max(seen, 1) * 1000, 4),
            "cpu_cores_used": round(cpu / max(t_done - t_go, 1e-6), 2),
            "transcript_entries": transcript_entries,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def show(r: dict) -> None:
    print(
        f"  {r['phase']:<10} {'per-event' if r['per_event'] else 'batched':<9} "
        f"events {r['seen']:>7}/{r['events']:<7} write {r['write_rate']:>7}/s  "
        f"ingest {r['ingest_rate']:>7}/s (steady {str(r['steady_rate'] or '-'):>7}/s)  latency p50/p99 {r['latency_p50_ms']:>6.1f}/"
        f"{r['latency_p99_ms']:>7.1f} ms  loop lag p50/p99/max {r['loop_lag_p50_ms']:>5.1f}/"
        f"{r['loop_lag_p99_ms']:>5.1f}/{r['loop_lag_max_ms']:>6.1f} ms  queue lag p99/max "
        f"{r['queue_lag_p99_ms']:>7.1f}/{r['queue_lag_max_ms']:>7.1f} ms  "
        f"cpu {r['cpu_s_per_1k'] * 1000:.1f} ms/1k (UI thread {r['ui_thread_cpu_s_per_1k'] * 1000:.1f}),"
        f" {r['cpu_cores_used']:.2f} cores",
        flush=True,
    )


async def main(args: argparse.Namespace) -> dict:
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    results: dict[str, dict] = {}
    print(
        f"ui_ingest: {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}, "
        f"target {TARGET_RATE}/s at p99 loop lag <= {TARGET_P99_MS:g} ms",
        flush=True,
    )
    for name in phases:
        if name == "low":
            r = await run_phase("low", 5000, min(args.seconds, 4))
        elif name == "target":
            r = await run_phase("target", args.rate, args.seconds)
        elif name == "unbatched":
            r = await run_phase("unbatched", args.rate, min(args.seconds, 2), per_event=True, cap=args.cap)
        elif name == "flood":
            r = await run_phase("flood", 0, 0, count=args.flood)
        else:
            raise SystemExit(f"unknown phase {name!r}")
        results[name] = r
        show(r)
    ratios = {}
    t = results.get("target")
    if t and "unbatched" in results:
        u = results["unbatched"]
        ratios["ingest_batched_over_unbatched"] = round(t["ingest_rate"] / max(u["ingest_rate"], 1), 2)
        ratios["cpu_unbatched_over_batched"] = round(u["cpu_s_per_1k"] / max(t["cpu_s_per_1k"], 1e-9), 2)
    if t and "low" in results:
        lo = results["low"]
        ratios["loop_p99_target_over_low"] = round(t["loop_lag_p99_ms"] / max(lo["loop_lag_p99_ms"], 1e-3), 2)
        ratios["cpu_per_event_target_over_low"] = round(t["cpu_s_per_1k"] / max(lo["cpu_s_per_1k"], 1e-9), 2)
    if t and "flood" in results:
        ratios["capacity_over_target_rate"] = round(results["flood"]["ingest_rate"] / TARGET_RATE, 2)
    met = None
    if t:
        met = bool(
            t["complete"] and (t["steady_rate"] or 0) >= TARGET_RATE * 0.98 and t["loop_lag_p99_ms"] <= TARGET_P99_MS
        )
        print(
            f"target: {t['steady_rate']}/s sustained ({t['ingest_rate']}/s first write to "
            f"last visible; write {t['write_rate']}/s), "
            f"p99 loop lag {t['loop_lag_p99_ms']} ms, p99 queue lag {t['queue_lag_p99_ms']} ms"
            f" -> {'MET' if met else 'NOT MET'}"
        )
    for k, v in ratios.items():
        print(f"ratio {k}: {v}")
    return {
        "bench": "ui_ingest",
        "cpus": os.cpu_count(),
        "load_avg": round(os.getloadavg()[0], 2),
        "phases": results,
        "ratios": ratios,
        "target_met": met,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=TARGET_RATE)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cap", type=float, default=8.0, help="time cap of the unbatched phase")
    ap.add_argument("--flood", type=int, default=300_000)
    ap.add_argument("--phases", default="low,target,unbatched,flood")
    result = asyncio.run(main(ap.parse_args()))
    print(json.dumps(result))
