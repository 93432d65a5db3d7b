"""Budgets: wall clock, GPU-hours, tokens and dollars; warnings at 50/80/95%, a hard stop after grace."""

from __future__ import annotations

import json

import pytest
from conftest import cli, events_of, last_state, wait_for, write_script

from agent_core.oversight.budget import Budget, BudgetError, cost_usd, load_prices, parse_count, price_for
from agent_core.daemon.launch import build_config
from agent_core.agents.providers import Usage
from agent_core.record.runs import RunDir


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_warnings_at_50_80_95_then_submit_then_stop_after_grace():
    clock = Clock()
    b = Budget.from_config({"budget_s": 100, "budget_grace_s": 5}, clock=clock)
    seen = []
    for t, want in ((40, []), (50, [0.5]), (79, []), (81, [0.8]), (96, [0.95]), (97, [])):
        clock.t = 1000 + t
        alerts, stop = b.check()
        assert [a["level"] for a in alerts] == want and stop is None
        seen += alerts
    assert [a["severity"] for a in seen] == ["info", "warning", "high"]
    assert "submit" in seen[-1]["message"]
    clock.t = 1100.5
    alerts, stop = b.check()
    assert [a["level"] for a in alerts] == [1.0] and "Submit your best checkpoint NOW" in alerts[0]["message"]
    assert stop is None  # the grace starts
    clock.t = 1104
    assert b.check() == ([], None)
    clock.t = 1106
    alerts, stop = b.check()
    assert alerts == [] and stop.startswith("budget spent") and "grace over" in stop


def test_grace_in_agent_steps_and_the_event_shape():
    clock = Clock()
    b = Budget.from_config({"budget_tokens": "1k", "budget_grace_steps": 2}, clock=clock)
    assert b.grace_s == 120  # no wall budget: two minutes
    b.set_usage(Usage(input_tokens=900, output_tokens=150, requests=3))
    ev = b.event()
    assert set(ev) == {"spent", "limits", "frac"}
    assert ev["spent"] == {"wall_s": 0.0, "gpu_h": 0.0, "tokens": 1050, "usd": 0.0}
    assert ev["limits"] == {"wall_s": None, "gpu_h": None, "tokens": 1000, "usd": None}
    assert ev["frac"] == 1.05
    alerts, stop = b.check(step=True)  # all four levels crossed at once, each said once
    assert [a["level"] for a in alerts] == [0.5, 0.8, 0.95, 1.0] and stop is None
    assert b.check(step=True)[1] is None
    assert "tokens" in b.check(step=True)[1]


def test_gpu_hours_count_each_jobs_gpus_times_its_time_and_device_hours_without_gpu():
    clock = Clock()
    b = Budget.from_config({"budget_gpu_h": 1.0}, clock=clock)
    b.job_started("job1")  # no GPU seen: one device
    clock.t += 1800
    b.job_ended("job1")
    b.gpu_count = 4  # the host sampler saw four GPUs
    b.job_started("job2", processes=4)  # a 4-process accelerate job: four GPUs
    b.job_started("job3")  # a single-process job: one GPU
    clock.t += 900
    spent = b.spent()
    assert spent["gpu_h"] == pytest.approx(0.5 + 4 * 0.25 + 0.25)
    assert b.fractions()["gpu_h"] == pytest.approx(1.75)


def test_prices_per_model_and_override_file(tmp_path):
    table = load_prices()
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000, requests=5)
    sonnet = price_for("claude-sonnet-4-6", table)  # longest prefix match
    assert sonnet == {"input": 3.0, "output": 15.0}
    assert cost_usd(usage, sonnet) == pytest.approx(3.0 + 1.5 + 2 * 0.3)
    assert price_for("my-local-llama", table) is None
    (tmp_path / "prices.toml").write_text(
        '[models."my-local-llama"]\ninput = 0.5\noutput = 1.0\n'
        '[models."claude-sonnet-4-6"]\ninput = 1.0\noutput = 2.0\n'
    )
    table = load_prices(tmp_path, override={"models": {"gpt-4.1": {"input": 9, "output": 9}}})
    assert price_for("my-local-llama", table)["input"] == 0.5
    assert price_for("claude-sonnet-4-6", table) == {"input": 1.0, "output": 2.0}
    assert price_for("gpt-4.1", table)["input"] == 9
    (tmp_path / "prices.toml").write_text('[models.x]\ninput = "cheap"\n')
    with pytest.raises(BudgetError, match="numeric input and output"):
        load_prices(tmp_path)


def test_cli_budget_options_land_in_the_config(tmp_path):
    cfg = build_config(budget="2h", gpu_hours="1.5", max_tokens="2M", max_usd="$20", budget_grace="5m", home=tmp_path)
    assert (cfg["budget_s"], cfg["budget_gpu_h"], cfg["budget_tokens"], cfg["budget_usd"], cfg["budget_grace_s"]) == (
        7200,
        1.5,
        2_000_000,
        20.0,
        300,
    )
    assert parse_count("500k") == 500_000
    for bad in ({"max_tokens": "lots"}, {"max_usd": "-3"}, {"gpu_hours": "0"}):
        with pytest.raises(ValueError):
            build_config(home=tmp_path, **bad)


@pytest.mark.e2e
def test_daemon_warns_the_agent_and_stops_the_run_after_the_grace(home, tmp_path):
    """An 8 s wall budget while the agent waits on a flagged call nobody answers: budget events,
    the 50/80/95/100% alerts, the agent reads them in its tool result, the run stops with the reason."""
    agent = write_script(
        tmp_path / "s.json",
        [
            {"say": "start"},
            {"tool": "list_datasets", "args": {}},
            {"tool": "load_dataset", "args": {"name": "hf:x/more"}},
            {"say": "never said"},
        ],
    )
    out = cli(home, "run", "--agent", agent, "--budget", "8s", "--budget-grace", "1s", "--detach").stdout
    run = RunDir(home / "runs" / out.split()[1])
    wait_for(lambda: last_state(run.path) in ("finished", "failed", "crashed"), 60, what="the run's end")
    events = events_of(run.path)
    states = [e for e in events if e["type"] == "run_state"]
    assert states[-1]["state"] == "finished" and states[-1]["reason"].startswith("budget spent")
    budget = [e for e in events if e["type"] == "budget"]
    assert len(budget) >= 3 and budget[-1]["frac"] >= 1.0
    assert budget[-1]["limits"]["wall_s"] == 8.0 and budget[-1]["spent"]["wall_s"] >= 8.0
    warns = [e for e in events if e["type"] == "alert" and e["rule"] == "budget_overrun" and "level" in e]
    assert [w["level"] for w in warns] == [0.5, 0.8, 0.95, 1.0]
    assert [w["severity"] for w in warns] == ["info", "warning", "high", "high"]
    # the warnings reached the agent in the flagged call's result
    flagged = [e for e in events if e["type"] == "tool_result"][-1]
    assert "budget_overrun (high)" in flagged["summary"] and "Submit" in flagged["summary"]
    assert not any(e.get("text") == "never said" for e in events)
    assert json.loads(json.dumps(budget[-1]))  # plain JSON for the UI
