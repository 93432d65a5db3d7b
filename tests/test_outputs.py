"""What the model wrote reaches the log: a worker's `completions` and evaluation `progress` lines
become `completions` and `eval_progress` events through the real JobManager (a stand-in worker
script prints the lines; nothing is trained), capped in size, with a progress bar that is closed
when the worker dies before the end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent_core.record.events import EventLog, read_events
from agent_core.record.summary import summarize
from agent_core.training.jobs import JobManager, WorkerError
from agent_core.training.outputs import JOB_BUDGET, MAX_COMPLETION, MAX_GRPO_ITEMS, MAX_ITEMS, OutputsRecorder

STAND_IN = """
import json, sys
spec = json.load(open(sys.argv[-1]))
def say(obj):
    print(json.dumps(obj), flush=True)
for obj in spec["lines"]:
    say(obj)
if spec.get("die"):
    sys.exit(3)
say({"event": "result", "score": 0.5})
"""


def _run_once(run: Path, lines: list[dict], die: bool = False) -> tuple[dict | Exception, list[dict]]:
    run.mkdir(parents=True, exist_ok=True)
    (run / "stand_in_worker.py").write_text(STAND_IN)  # the worker runs in the run folder
    log = EventLog(run / "events.jsonl")

    async def go():
        jobs = JobManager(run, log)
        try:
            return await jobs.run_once(
                {"mode": "evaluate", "lines": lines, "die": die}, "eval-7", module="stand_in_worker"
            )
        except WorkerError as exc:
            return exc

    out = asyncio.run(go())
    log.close()
    return out, read_events(run / "events.jsonl")


def _items(n: int, text: str = "7", **extra) -> list[dict]:
    return [
        {"prompt": f"{i}+{i}=", "completion": text, "expected": str(2 * i), "score": 1.0, **extra} for i in range(n)
    ]


def test_evaluate_completions_and_progress_become_events(tmp_path):
    long = "x" * (MAX_COMPLETION + 500)
    lines = [
        {"event": "progress", "what": "evaluate", "done": 0, "total": 40},
        *({"event": "progress", "what": "evaluate", "done": d, "total": 40} for d in range(1, 40)),
        {"event": "progress", "what": "evaluate", "done": 40, "total": 40},
        {"event": "completions", "source": "evaluate", "items": _items(20, long)},
    ]
    result, events = _run_once(tmp_path / "run", lines)
    assert result["score"] == 0.5
    progress = [e for e in events if e["type"] == "eval_progress"]
    # throttled: the first and the last line always, the ones in between at most every 0.5 s
    assert progress[0]["done"] == 0 and progress[-1]["done"] == 40 and len(progress) < 10
    assert all(p["id"] == "eval-7" and p["total"] == 40 and p["what"] == "evaluate" for p in progress)
    [comp] = [e for e in events if e["type"] == "completions"]
    assert comp["eval"] == "eval-7" and comp["source"] == "evaluate" and comp["of"] == 20
    assert len(comp["items"]) == MAX_ITEMS
    first = comp["items"][0]
    assert first["prompt"] == "0+0=" and first["expected"] == "0" and first["score"] == 1.0
    assert len(first["completion"]) == MAX_COMPLETION and first["cut"] == {"completion": 500}
    # the one log reducer keeps the latest completions and progress (live and replay read it)
    summary = summarize(events)
    assert summary.last_completions["items"][0]["prompt"] == "0+0="
    assert summary.eval_progress["done"] == 40


def test_a_worker_that_dies_mid_evaluation_closes_its_progress_bar(tmp_path):
    lines = [{"event": "progress", "what": "evaluate", "done": 3, "total": 40}]
    result, events = _run_once(tmp_path / "run", lines, die=True)
    assert isinstance(result, WorkerError)
    progress = [e for e in events if e["type"] == "eval_progress"]
    assert [(p["done"], p.get("ended")) for p in progress] == [(3, None), (3, True)]
    assert progress[-1]["ok"] is False


def test_recorder_caps_grpo_items_and_thins_a_long_run():
    logged: list[dict] = []
    rec = OutputsRecorder(lambda type_, **f: logged.append({"type": type_, **f}) or logged[-1], {"job": "job1"})
    chat = [{"role": "user", "content": "2+2?"}]
    rec.completions(
        {"event": "completions", "source": "grpo", "step": 1, "items": _items(12, rewards={"fmt": 1.0}) + [7, {}]}
    )
    assert len(logged[0]["items"]) == MAX_GRPO_ITEMS and logged[0]["step"] == 1 and logged[0]["job"] == "job1"
    rec.completions(
        {"event": "completions", "source": "grpo", "step": 2, "items": [{"prompt": chat, "completion": "4"}]}
    )
    assert logged[1]["items"][0]["prompt"] == "user: 2+2?"
    # past the job's budget only every 10th line is kept
    big = [{"prompt": "p", "completion": "y" * MAX_COMPLETION, "rewards": {"fmt": 0.0}}] * MAX_GRPO_ITEMS
    n = 0
    while rec.chars < JOB_BUDGET:
        rec.completions({"event": "completions", "source": "grpo", "step": 3 + n, "items": big})
        n += 1
    before = len(logged)
    for k in range(30):
        rec.completions({"event": "completions", "source": "grpo", "step": 1000 + k, "items": big})
    assert len(logged) - before == 3
    assert len(json.dumps(logged[-1])) < 20_000


@pytest.mark.parametrize("bad", [{"items": "x"}, {"items": []}, {"items": [None, 3]}])
def test_malformed_completions_lines_are_dropped(bad):
    logged: list = []
    rec = OutputsRecorder(lambda type_, **f: logged.append(f), {"eval": "e"})
    assert rec.completions({"event": "completions", **bad}) is None and logged == []
    assert rec.progress({"event": "progress", "done": "1", "total": 2}) is None
