"""Guards before training: data that overlaps the hidden test split waits for a person."""

from __future__ import annotations

import pytest
import json

from conftest import cli, events_of, file_task, last_state, wait_for, write_script

from agent_core.record.runs import list_runs

pytestmark = pytest.mark.e2e  # real daemons, workers, sandboxes or terminals


def test_training_on_test_items_waits_for_approval_and_shows_examples(home, tmp_path):
    task = file_task(tmp_path / "task")
    rows = [json.loads(x) for x in (task.parent / "test.jsonl").read_text().splitlines()[:13]]
    test_rows = rows[:10]  # verbatim, and three lightly reworded (spacing)
    reworded = [
        {"prompt": r["prompt"].replace("+", " + ").replace("=", " ="), "completion": r["completion"]} for r in rows[10:]
    ]
    leaked = "\n".join(json.dumps(r) for r in test_rows + reworded) + "\n"
    agent = write_script(
        tmp_path / "steps.json",
        [
            {"tool": "write_file", "args": {"path": "data/synthetic.jsonl", "content": leaked}},
            {"tool": "start_training", "args": {"dataset": "synthetic"}},
            {"say": "after the decision"},
        ],
    )
    cli(home, "run", "--agent", agent, "--task", str(task), "--detach")
    [run] = list_runs(home)
    wait_for(lambda: last_state(run.path) == "waiting_approval", 60, what="the contamination request")
    [req] = [e for e in events_of(run.path) if e["type"] == "approval_request"]
    assert req["rule"] == "contamination"
    assert "13 of 500 test items (10 verbatim, 3 reworded)" in req["summary"]
    assert req["details"]["examples"] and req["details"]["examples"][0]["split"] == "test"
    cli(home, "veto", "--reason", "generate fresh problems and check them against dev")
    wait_for(lambda: last_state(run.path) == "finished", 60, what="finished")
    events = events_of(run.path)
    assert not any(e["type"] == "job_state" for e in events), "vetoed training never started"
    [res] = [e for e in events if e["type"] == "tool_result" and e["id"] == req["details"]["call"]]
    assert "generate fresh problems" in res["summary"]
