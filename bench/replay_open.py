#!/usr/bin/env python
"""Replay benchmark: a synthetic 500k-event log (a 10-hour run's mix, with idle gaps) opened
in the replay screen (headless, App.run_test, 160x48).

Measured:
  first frame   from TinkerApp(...) (which builds the screen and its feed) to the first
                paint of the run screen's transcript
  indexed       until the feed knows the whole log (feed.loading false; 0 when it reads
                everything before the first frame)
  loop lag      p99/max of a 10 ms asyncio timer while the log is being indexed
  seek          feed.seek(i) to random positions, then `end`, `home`, `left` (step back)
                key presses (posted to the app as the terminal driver posts them) and a
                few repeated steps back from the middle: time until
                RunView shows exactly events[:i] (view.count == i), and until the frame
                after it has been rendered (screen update forced)
  memory        peak RSS of the process above its RSS before the app was created
                (psutil, sampled every 5 ms), and ru_maxrss

    .venv/bin/python bench/replay_open.py [--events 500000] [--seeks 10]

Targets: first frame < 1 s, seek < 50 ms, peak memory < 300 MB. The last line is one JSON
object with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

TARGET_OPEN_S = 1.0
TARGET_SEEK_MS = 50.0
TARGET_MEM_MB = 300.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class RssPeak:
    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            rss = self.proc.memory_info().rss
            if rss > self.peak:
                self.peak = rss

    def __enter__(self) -> "RssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


async def bench(args: argparse.Namespace) -> dict:
    from textual import events

    from agent_core.record.runs import RunDir
    from screens.run_screen import RunScreen
    from screens.widgets.transcript import Transcript
    from tinker_tui.app import TinkerApp

    tmp = Path(tempfile.mkdtemp(prefix="tinker-bench-replay-"))
    try:
        run = RunDir(tmp / "runs" / "long")
        run.path.mkdir(parents=True)
        run.write_config({"id": "long", "task": "gsm8k", "model": "Qwen3-0.6B", "agent": "claude", "budget_s": 36000})
        t = time.perf_counter()
        # generated in another process so that the generator's memory does not count
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, sys.argv[3]);"
                "from _synth import write_log;"
                "write_log(sys.argv[1], int(sys.argv[2]), dt=0.072, gaps=True, finish=True)",
                str(run.events_path),
                str(args.events),
                str(ROOT / "bench"),
            ],
            check=True,
        )
        size = run.events_path.stat().st_size
        print(
            f"replay_open: {args.events} events, {size / 1e6:.0f} MB log (generated in "
            f"{time.perf_counter() - t:.1f} s); {os.cpu_count()} CPUs, load avg "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )

        first_paint: list[float] = []
        orig_render_line = Transcript.render_line

        def render_line(self, y):
            if not first_paint:
                first_paint.append(time.perf_counter())
            return orig_render_line(self, y)

        Transcript.render_line = render_line
        import gc

        gc.collect()
        mem = RssPeak()
        with mem:
            t_open = time.perf_counter()
            app = TinkerApp(home=tmp, run=run, mode="replay", replay_autoplay=False)
            t_built = time.perf_counter()
            async with app.run_test(size=(160, 48)) as pilot:
                while not first_paint and time.perf_counter() - t_open < 120:
                    await asyncio.sleep(0.001)
                t_first = first_paint[0] if first_paint else float("nan")
                screen = app.screen
                assert isinstance(screen, RunScreen)
                feed = screen.feed
                # loop lag while the log is indexed in the background
                lags: list[float] = []
                due = time.perf_counter() + 0.01
                while getattr(feed, "loading", False) and time.perf_counter() - t_open < 300:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    now = time.perf_counter()
                    lags.append(now - due)
                    due = now + 0.01
                t_indexed = time.perf_counter()
                total = feed.total
                rss_indexed = mem.proc.memory_info().rss
                await pilot.pause(0.2)

                async def settle(target: int, limit: float = 60.0) -> tuple[float, float]:
                    t0 = time.perf_counter()
                    while screen.view.count != target and time.perf_counter() - t0 < limit:
                        await asyncio.sleep(0)
                    t_state = time.perf_counter()
                    app.screen._on_timer_update()  # render the frame now
                    return t_state, time.perf_counter()

                ops: list[dict] = []

                async def op(name: str, target: int, do) -> None:
                    await pilot.pause(0.05)
                    t0 = time.perf_counter()
                    await do()
                    t_state, t_frame = await settle(target)
                    ops.append(
                        {
                            "op": name,
                            "to": target,
                            "state_ms": round((t_state - t0) * 1000, 1),
                            "frame_ms": round((t_frame - t0) * 1000, 1),
                        }
                    )
                    o = ops[-1]
                    ok = "" if screen.view.count == target else f"  WRONG count {screen.view.count}"
                    print(
                        f"  {name:<12} -> {target:>7}: state {o['state_ms']:>7.1f} ms, "
                        f"frame {o['frame_ms']:>7.1f} ms{ok}",
                        flush=True,
                    )

                def seek(i: int):
                    async def do():
                        feed.seek(i)

                    return do

                def keys(*k: str):
                    # posted as the terminal driver does (pilot.press would also wait for
                    # the whole process to go idle, which is not what a person waits for)
                    async def do():
                        for key in k:
                            app.post_message(events.Key(key, None))

                    return do

                rng = random.Random(args.seed)
                for _ in range(args.seeks):
                    i = rng.randrange(total)
                    await op("seek", i, seek(i))
                await op("key end", total, keys("end"))
                await op("key left", total - 1, keys("left"))
                await op("key home", 0, keys("home"))
                await op("seek mid", total // 2, seek(total // 2))
                for k in range(5):
                    await op("key left", total // 2 - 1 - k, keys("left"))
                await op("key right", total // 2 - 4, keys("right"))
                await op("seek +1000", total // 2 - 4 + 1000, seek(total // 2 - 4 + 1000))
                transcript_entries = len(screen.query_one(Transcript).entries)
                state_ok = screen.view.count == total // 2 + 996
        Transcript.render_line = orig_render_line
        peak_mb = (mem.peak - mem.base) / 2**20
        frame = [o["frame_ms"] for o in ops]
        state = [o["state_ms"] for o in ops]
        res = {
            "bench": "replay_open",
            "events": args.events,
            "log_mb": round(size / 1e6, 1),
            "cpus": os.cpu_count(),
            "load_avg": round(os.getloadavg()[0], 2),
            "build_s": round(t_built - t_open, 3),
            "first_frame_s": round(t_first - t_open, 3),
            "indexed_s": round(t_indexed - t_open, 3),
            "index_loop_lag_p99_ms": round(pct(lags, 99) * 1000, 1) if lags else None,
            "index_loop_lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
            "seek_frame_ms_p50": round(pct(frame, 50), 1),
            "seek_frame_ms_max": round(max(frame), 1),
            "seek_state_ms_max": round(max(state), 1),
            "ops": ops,
            "peak_rss_delta_mb": round(peak_mb, 1),
            "rss_after_index_delta_mb": round((rss_indexed - mem.base) / 2**20, 1),
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "transcript_entries": transcript_entries,
            "final_state_ok": state_ok,
        }
        res["met"] = {
            "open": res["first_frame_s"] < TARGET_OPEN_S,
            "seek": res["seek_frame_ms_max"] < TARGET_SEEK_MS,
            "memory": res["peak_rss_delta_mb"] < TARGET_MEM_MB,
        }
        print(
            f"first frame {res['first_frame_s']:.3f} s (screen built in {res['build_s']:.3f} s), "
            f"log indexed at {res['indexed_s']:.2f} s (loop lag meanwhile p99 "
            f"{res['index_loop_lag_p99_ms']} ms, max {res['index_loop_lag_max_ms']} ms)"
        )
        print(
            f"seek: frame p50 {res['seek_frame_ms_p50']} ms, max {res['seek_frame_ms_max']} ms "
            f"(state max {res['seek_state_ms_max']} ms) over {len(ops)} seeks"
        )
        print(
            f"memory: peak RSS +{res['peak_rss_delta_mb']} MB (after indexing "
            f"+{res['rss_after_index_delta_mb']} MB), ru_maxrss {res['ru_maxrss_mb']} MB"
        )
        print("targets: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in res["met"].items()))
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--seeks", type=int, default=10)
    ap.add_argument("--seed", type=int, default=3)
    # import the UI before measuring: its modules are not part of the replay's memory
    import textual.app  # noqa: F401
    import tinker_tui.app  # noqa: F401
    import psutil  # noqa: F401

    result = asyncio.run(bench(ap.parse_args()))
    print(json.dumps(result))
