"""`tinker-tui check metrics|contamination`, run as a real subprocess (python -m
tinker_tui.check_cmd); exit codes: 0 clean, 1 found, 2 unreadable input."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tinker_tui import check_cmd
from traces import T0, Run, Stream, finish, iso

ROOT = Path(__file__).resolve().parent.parent


def check(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinker_tui.check_cmd", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        input=stdin,
        timeout=60,
    )


def write_events(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events if e["type"] != "tick"))
    return path


def alerts_of(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def healthy_events() -> list[dict]:
    st = Stream(ticks=False)
    st.job(Run(seed=3, method="grpo", T=120, sched="constant", warmup=0, peak_lr=1e-5))
    return finish(st.events)


@pytest.fixture(scope="module")
def failing_events() -> list[dict]:
    run = Run(seed=4, method="sft", T=120, sched="cosine", warmup=5)
    run.steps[59]["grad_norm"] *= 15
    run.steps[89]["loss"] = None
    st = Stream(ticks=False)
    st.job(run, stop_after=90, end="failed")
    return finish(st.events)


# ------------------------------------------------------------------------------ metrics
def test_metrics_healthy_stream_exits_0(tmp_path, healthy_events):
    proc = check("metrics", str(write_events(tmp_path / "events.jsonl", healthy_events)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "0 alerts" in proc.stderr


def test_metrics_failing_stream_prints_json_alerts_and_exits_1(tmp_path, failing_events):
    proc = check("metrics", str(write_events(tmp_path / "e.jsonl", failing_events)))
    assert proc.returncode == 1, proc.stderr
    alerts = alerts_of(proc)
    assert [(a["rule"], a["step"]) for a in alerts] == [("grad_spike", 60), ("nan", 90)]
    for a in alerts:
        assert {"rule", "severity", "message", "cause", "check", "job", "step", "line"} <= set(a)
        assert a["job"] == "job1"
    assert "2 alerts: grad_spike x1, nan x1" in proc.stderr


def test_metrics_skips_and_counts_corrupt_lines(tmp_path, failing_events):
    path = write_events(tmp_path / "e.jsonl", failing_events)
    lines = path.read_text().splitlines()
    lines.insert(10, "{not json")
    lines.insert(20, "[1, 2, 3]")
    lines.insert(30, '"just a string"')
    path.write_text("\n".join(lines) + "\n" + '{"type": "metric", "job": "job1", "st')  # torn tail
    proc = check("metrics", str(path))
    assert proc.returncode == 1
    assert [a["rule"] for a in alerts_of(proc)] == ["grad_spike", "nan"]
    assert "skipped 4 corrupt lines" in proc.stderr


def test_metrics_unreadable_input_exits_2(tmp_path):
    proc = check("metrics", str(tmp_path / "missing.jsonl"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr and proc.stdout == ""
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\x01\xff binary\nnot json either\n")
    proc = check("metrics", str(garbage))
    assert proc.returncode == 2 and "no readable events" in proc.stderr
    proc = check("metrics", str(tmp_path))  # a folder without events.jsonl
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = check("metrics", str(garbage), "--set", "bogus=1")
    assert proc.returncode == 2 and "KEY=VALUE" in proc.stderr


def test_metrics_reads_a_run_folder_and_stdin(tmp_path, failing_events):
    write_events(tmp_path / "events.jsonl", failing_events)
    assert check("metrics", str(tmp_path)).returncode == 1
    text = (tmp_path / "events.jsonl").read_text()
    proc = check("metrics", "-", stdin=text)
    assert proc.returncode == 1 and len(alerts_of(proc)) == 2


def test_metrics_accepts_worker_protocol_lines(tmp_path):
    lines = [{"event": "metric", "step": s, "values": {"loss": 2.0 - 0.01 * s, "grad_norm": 1.0}} for s in range(1, 6)]
    lines.append({"event": "progress", "step": 5, "total": 10})
    lines.append({"event": "metric", "step": 6, "values": {"loss": None, "grad_norm": 1.0}})
    path = tmp_path / "worker.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = check("metrics", str(path))
    assert proc.returncode == 1
    assert [(a["rule"], a["step"]) for a in alerts_of(proc)] == [("nan", 6)]


def test_metrics_plan_options_and_thresholds(tmp_path):
    # a healthy cosine run recorded without its plan: the schedule's tail looks like a dead LR
    events = [
        {
            "type": "metric",
            "job": "job1",
            "step": s,
            "ts": iso(T0 + 5 * s),
            "values": {"learning_rate": 1e-4 * 0.5 * (1 + math.cos(math.pi * s / 100)), "loss": 2 * 0.98**s},
        }
        for s in range(1, 101)
    ]
    path = write_events(tmp_path / "m.jsonl", events)
    assert [a["rule"] for a in alerts_of(check("metrics", str(path)))] == ["lr_near_zero"]
    proc = check("metrics", str(path), "--total-steps", "100", "--lr-scheduler-type", "cosine", "--warmup-steps", "0")
    assert proc.returncode == 0, proc.stdout
    # the plan says 400 steps: the 100-step cosine is a horizon problem
    proc = check("metrics", str(path), "--total-steps", "400", "--lr-scheduler-type", "cosine", "--warmup-steps", "0")
    assert "schedule_horizon" in [a["rule"] for a in alerts_of(proc)]
    # a recorded gap longer than the stall limit
    gap = [dict(e, ts=iso(T0 + 5 * e["step"] + (700 if e["step"] > 50 else 0))) for e in events]
    gpath = write_events(tmp_path / "gap.jsonl", gap)
    rules = [
        a["rule"]
        for a in alerts_of(
            check("metrics", str(gpath), "--total-steps", "100", "--lr-scheduler-type", "cosine", "--warmup-steps", "0")
        )
    ]
    assert rules == ["stall"]
    rules = [
        a["rule"]
        for a in alerts_of(
            check(
                "metrics",
                str(gpath),
                "--total-steps",
                "100",
                "--lr-scheduler-type",
                "cosine",
                "--warmup-steps",
                "0",
                "--set",
                "stall_timeout_s=900",
            )
        )
    ]
    assert rules == []


def test_metrics_ticks_a_recorded_full_log_for_stalls(tmp_path):
    st = Stream(ticks=False)
    st.job(Run(seed=5, method="sft", T=200, sched="constant", warmup=0), stop_after=40, end=None, hang_s=600)
    proc = check("metrics", str(write_events(tmp_path / "e.jsonl", finish(st.events))))
    assert proc.returncode == 1
    assert [(a["rule"], a["step"]) for a in alerts_of(proc)] == [("stall", 40)]


# ------------------------------------------------------------------------------ contamination
def _jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture()
def sets(tmp_path):
    train = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a in range(10, 60) for b in range(10, 30)]
    test = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a in range(60, 70) for b in range(10, 30)]
    dev = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a in range(70, 72) for b in range(10, 30)]
    return {
        "train": _jsonl(tmp_path / "train.jsonl", train),
        "leaky": _jsonl(
            tmp_path / "leaky.jsonl",
            train + test[:3] + [{"prompt": test[5]["prompt"].replace("+", " + "), "completion": test[5]["completion"]}],
        ),
        "test": _jsonl(tmp_path / "test.jsonl", test),
        "dev": _jsonl(tmp_path / "dev.jsonl", dev),
    }


def test_contamination_clean_exits_0(sets):
    proc = check("contamination", sets["train"], "--against", sets["test"], sets["dev"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("no overlap found") == 2
    assert "0 of 200 eval items overlap" in proc.stdout


def test_contamination_found_exits_1_with_report(sets):
    proc = check("contamination", sets["leaky"], "--against", sets["test"], sets["dev"])
    assert proc.returncode == 1, proc.stderr
    assert "4 of 200 eval items overlap the training set (2.00%): 3 verbatim, 1 reworded" in proc.stdout
    assert "60+10=" in proc.stdout
    proc = check("contamination", sets["leaky"], "--against", sets["test"], "--json", "--n", "6", "--threshold", "0.6")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["found"] is True and data["n"] == 6 and data["threshold"] == 0.6
    (report,) = data["reports"]
    assert report["contaminated"] == 4 and report["contaminated_indices"] == [0, 1, 2, 5]
    assert report["overlap_fraction"] == 0.02 and len(report["examples"]) == 4


def test_contamination_unreadable_exits_2(sets, tmp_path):
    proc = check("contamination", str(tmp_path / "nope.jsonl"), "--against", sets["test"])
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = check("contamination", sets["train"], "--against", str(tmp_path))
    assert proc.returncode == 2 and "folder" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    proc = check("contamination", sets["train"], "--against", str(bad))
    assert proc.returncode == 2 and "not JSON" in proc.stderr
    proc = check("contamination", sets["train"], "--against", sets["test"], "--threshold", "1.5")
    assert proc.returncode == 2 and "--threshold" in proc.stderr


def test_no_verb_exits_2():
    proc = check()
    assert proc.returncode == 2 and "metrics" in proc.stderr


# ------------------------------------------------------------------------------ wiring
def test_add_parser_and_run_in_process(tmp_path, failing_events, capsys):
    parser = argparse.ArgumentParser(prog="tinker-tui")
    sub = parser.add_subparsers(dest="verb")
    sub.add_parser("ls")
    check_cmd.add_parser(sub)
    path = write_events(tmp_path / "e.jsonl", failing_events)
    args = parser.parse_args(["check", "metrics", str(path)])
    assert args.verb == "check"
    assert check_cmd.run(args) == 1
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 2
    assert check_cmd.run(parser.parse_args(["check"])) == 2
