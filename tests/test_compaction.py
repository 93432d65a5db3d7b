"""Tool-output compaction: logs, metric rows and tool results made short and readable for the
model (agent_core/agents/compaction.py, used by the LLM agent and the run_python sandbox)."""

from __future__ import annotations

import math
import random

import pytest

from agent_core.agents.compaction import compact_text, metrics_table, render_result


# -- compact_text --------------------------------------------------------------------------------
def test_short_text_without_repeats_is_unchanged():
    text = "job1 finished, step 120/120, loss 0.31\ncheckpoint job1"
    assert compact_text(text, 4000) == text
    assert compact_text("", 100) == ""


def test_identical_runs_collapse_with_their_count():
    text = "\n".join(["start"] + ["Downloading shard 1/1"] * 500 + ["done"])
    out = compact_text(text, 4000)
    assert out.splitlines()[-3:] == ["start", "Downloading shard 1/1  [x500]", "done"]
    assert len(out) < 200


def test_repeated_lines_are_reported_once_with_counts_and_errors_survive_the_middle_cut():
    rng = random.Random(1)
    lines = []
    for i in range(5000):
        if i % 9 == 0:
            lines.append("UserWarning: pad_token is not set; using eos_token")
        lines.append(
            f"step {i} loss {2 * math.exp(-i / 900) + rng.random() / 100:.4f} tokens/s {rng.randint(900, 1100)}"
        )
        if i == 2600:
            lines.append("RuntimeError: CUDA error: an illegal memory access was encountered")
    lines += ["saving checkpoint to out/job3", "training finished"]
    text = "\n".join(lines)
    out = compact_text(text, 3000)
    assert len(out) <= 3000 < len(text) // 50
    assert out.count("UserWarning: pad_token is not set") == 1
    assert "[first of 556]" in out
    assert "RuntimeError: CUDA error" in out  # from the middle of the log
    assert out.startswith("[output compacted from 5,559 lines")
    assert "step 0 loss" in out and "step 4999 loss" in out  # head and tail
    assert "lines like these" in out  # the progress lines: a few evenly spaced ones
    assert out.rstrip().endswith("training finished")


def test_progress_redraws_keep_their_last_state():
    text = "epoch 1\r 10%|#         |\r 50%|#####     |\r100%|##########|\nok"
    out = compact_text("\n".join([text] * 3), 1000)
    assert "10%" not in out and "100%|##########|" in out


@pytest.mark.parametrize("max_chars", [60, 200, 1000, 5000])
def test_compact_text_never_exceeds_max_chars(max_chars):
    rng = random.Random(max_chars)
    for _ in range(12):
        n = rng.randint(1, 1500)
        text = "\n".join(
            rng.choice(["a", "WARNING x", f"line {rng.random()}", "y" * rng.randint(0, 3000), ""]) for _ in range(n)
        )
        assert len(compact_text(text, max_chars)) <= max_chars


# -- metrics_table -------------------------------------------------------------------------------
def test_metrics_table_is_small_fixed_width_and_keeps_first_last_and_the_first_nan():
    rows = [
        {
            "step": i,
            "loss": 2 * math.exp(-i / 300),
            "learning_rate": 1e-3,
            "grad_norm": 1 + i / 1000,
            "note": "text fields are left out",
        }
        for i in range(1, 1001)
    ]
    rows[733]["loss"] = float("nan")
    out = metrics_table(rows, max_rows=10)
    lines = out.splitlines()
    table = lines[: lines.index(next(x for x in lines if x.startswith("(")))]
    assert table[0].split() == ["step", "loss", "learning_rate", "grad_norm"]
    assert len({len(x) for x in table}) == 1  # fixed width
    assert len(table) == 1 + 10 + 1  # header, 10 evenly spaced rows, the NaN row
    assert table[1].split()[0] == "1" and table[-1].split()[0] == "1000"
    assert any(x.split()[:2] == ["734", "nan"] for x in table)
    assert "(1,000 rows, 11 shown, evenly spaced)" in out
    assert "loss: first 1.993, min" in out and "1 non-finite, first @step 734" in out
    assert "learning_rate: 0.001 throughout" in out
    assert len(out) < 1200


def test_metrics_table_takes_columns():
    out = metrics_table({"step": [1, 2, 3], "reward": [0.1, 0.5, 0.25]})
    assert out.splitlines()[0].split() == ["step", "reward"]
    assert "reward: first 0.1, min 0.1 @step 1, max 0.5 @step 2, last 0.25" in out


def test_render_result_small_is_the_plain_text_and_big_data_becomes_tables():
    small = render_result("dev: 50 rows", {"rows": 50, "head": [{"prompt": "1+1=", "completion": "2"}]})
    assert small == 'dev: 50 rows\ndata: {"rows": 50, "head": [{"prompt": "1+1=", "completion": "2"}]}'
    assert render_result("bad call: x", None, prefix="FAILED: ") == "FAILED: bad call: x"
    rows = [{"step": i, "loss": 1 / i, "grad_norm": 0.5} for i in range(1, 2001)]
    log = "\n".join(f"{i}/2000 loss={1 / i:.4f}" for i in range(1, 2001))
    out = render_result(
        "job2 finished, step 2000/2000",
        {"job": "job2", "state": "finished", "metrics": rows, "log": log, "examples": [{"ok": True}] * 300},
        max_chars=3000,
    )
    assert len(out) <= 3000
    assert out.startswith("job2 finished") and '"state": "finished"' in out
    assert "data.metrics (2,000 rows):" in out and "grad_norm: 0.5 throughout" in out
    assert "data.log (" in out and "data.examples: 300 items" in out and "ok: 300 of 300" in out
